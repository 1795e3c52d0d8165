import BTF

/// What libbpf would do with one CO-RE relocation against one target BTF.
public enum CORERelocationOutcome: Sendable, Equatable {
    /// Resolved: the value libbpf patches into the instruction (offset, size, 0/1 existence,
    /// shift amount, type id, type size, enumerator value ...).
    case resolved(UInt64)
    /// No candidate matched (or the field/enumerator is missing): libbpf poisons the instruction
    /// (existence relocations resolve to 0 instead, as `.resolved(0)`).
    case poisoned(reason: String)
    /// libbpf fails the load: ambiguous candidates that disagree, an invalid access spec, a
    /// bitfield too big to load ...
    case failed(reason: String)
}

/// The decision for one relocation, with the specs the minimizer needs.
public struct CORERelocationResult: Sendable {
    public var relocation: CORERelocation
    /// The program section the relocation belongs to (e.g. "tracepoint/syscalls/sys_enter_execve").
    public var sectionName: String
    /// The parsed local spec, `nil` if the access string itself is invalid.
    public var localSpec: CORESpec?
    /// One spec per target candidate that matched, in candidate order (several when libbpf had
    /// to check that all candidates agree). Empty when poisoned.
    public var targetSpecs: [CORESpec]
    public var outcome: CORERelocationOutcome
}

/// Candidate index and relocation resolution against one target (kernel) BTF.
/// Build once per kernel; reuse for every object and relocation.
public struct CORERelocator: Sendable {
    public let target: BTF

    public init(target: BTF) {
        self.target = target
        // Placeholder: being written (issue 3).
    }

    /// Resolves every CO-RE relocation of `object` against the target, in `.BTF.ext` order.
    public func resolveAll(in object: BPFObject) -> [CORERelocationResult] {
        // Placeholder: being written (issue 3).
        []
    }
}
