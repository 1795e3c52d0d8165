/// Checks on a BPF object that libbpf 1.1 does not make and dies without: run before libbpf sees
/// the object (`btf-run`, `btf-pack runner`) and by `btf-trim`, which reports them.
///
/// - an access-string index that is negative or past `INT_MAX` (`0:-1`, `0:4294967295`): libbpf's
///   `bpf_core_parse_spec` reads it with `%d` and compares it as a signed int with the member
///   count, then indexes before the member array (SIGSEGV);
/// - a relocation's root type id or access-string offset outside the object's BTF;
/// - a reference cycle in the object's own BTF that does not pass through a pointer, which
///   libbpf's `skip_mods_and_typedefs` walks forever.
///
/// Record sizes, counts and relocation kinds are already checked by `BTFExt(parsing:)`.
extension BPFObject {
    /// What libbpf would crash or hang on, one message per problem (at most `limit`), each naming
    /// the object, the program section and the record; empty for a sound object.
    public func libbpfHazards(limit: Int = 20) -> [BTFError] {
        var problems: [BTFError] = []
        if let cycle = btf.pointerFreeCycle() {
            problems.append(BTFError("its BTF has a reference cycle that does not pass through a pointer (\(btf.describeCycle(cycle))); "
                                     + "libbpf would loop forever on it", file: path))
        }
        for section in ext?.coreRelocations ?? [] {
            let sectionName = escapedForTerminal(bytes: btf.nameBytes(section.sectionNameOffset))
            if Int(section.sectionNameOffset.rawValue) >= btf.strings.count {
                problems.append(BTFError(".BTF.ext: CO-RE relocation section name offset \(section.sectionNameOffset.rawValue) "
                                         + "is outside the \(btf.strings.count)-byte string table", file: path))
            }
            for (index, record) in section.records.enumerated() where problems.count < limit {
                let place = ".BTF.ext: CO-RE relocation #\(index) of section \(sectionName) (instruction offset \(record.instructionOffset))"
                if !btf.contains(record.typeID) {
                    problems.append(BTFError("\(place): root type id \(record.typeID.rawValue) is not a type of the object's BTF "
                                             + "(\(btf.typeCount - 1) types)", file: path))
                }
                if Int(record.accessStringOffset.rawValue) >= btf.strings.count {
                    problems.append(BTFError("\(place): access string offset \(record.accessStringOffset.rawValue) is outside the "
                                             + "\(btf.strings.count)-byte string table", file: path))
                    continue
                }
                let text = btf.nameBytes(record.accessStringOffset)
                if let bad = BPFObject.outOfRangeAccessIndex(text) {
                    problems.append(BTFError("\(place): access string \"\(escapedForTerminal(bytes: text))\" has index \(bad), "
                                             + "outside 0...\(Int32.max); libbpf 1.1 would read memory before the member array", file: path))
                }
            }
        }
        return Array(problems.prefix(limit))
    }

    /// Throws the first of `libbpfHazards()`, if any.
    public func checkForLibbpf() throws(BTFError) {
        if let first = libbpfHazards(limit: 1).first { throw first }
    }

    /// The first step of a `:`-separated access string that libbpf's `sscanf("%d")` would turn
    /// into a negative int: a minus sign, or digits past `INT_MAX` (its overflow is undefined;
    /// glibc wraps `4294967295` to -1). Malformed steps are left to libbpf, which refuses them cleanly.
    static func outOfRangeAccessIndex(_ text: ArraySlice<UInt8>) -> String? {
        for step in text.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false) {
            let trimmed = step.drop { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0d) }
            let negative = trimmed.first == UInt8(ascii: "-")
            let digits = trimmed.drop { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }.prefix { $0 >= 0x30 && $0 <= 0x39 }
            guard !digits.isEmpty else { continue }
            var value = 0
            var overflow = false
            for digit in digits {
                value = value * 10 + Int(digit - 0x30)
                if value > Int(Int32.max) { overflow = true; break }
            }
            if (negative && value > 0) || overflow {
                return String(decoding: trimmed.prefix(negative ? digits.count + 1 : digits.count), as: UTF8.self)
            }
        }
        return nil
    }
}
