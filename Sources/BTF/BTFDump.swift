extension BTF {
    /// Writes every type in the text format of `bpftool btf dump file FILE` (raw format).
    public func dump<Target: TextOutputStream>(to out: inout Target) {
        // Placeholder: being written (see issue 2).
        for id in typeIDs {
            let t = type(id)
            out.write("[\(id.rawValue)] \(t.kind) '\(string(t.nameOffset))'\n")
        }
    }
}
