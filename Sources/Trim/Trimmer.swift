import BTF
import CORE

/// The result of trimming one kernel's BTF for a set of objects.
public struct TrimResult: Sendable {
    /// The minimized BTF, in the kernel BTF's byte order.
    public var minimized: BTF
    /// Per object (same order as the trimmer's objects), the relocation decisions against the full BTF.
    public var relocations: [[CORERelocationResult]]
}

/// Trims kernel BTF down to what a set of BPF objects' CO-RE relocations need
/// (`bpftool gen min_core_btf`, for many objects and many kernels).
public struct Trimmer: Sendable {
    public let objects: [BPFObject]

    public init(objects: [BPFObject]) {
        self.objects = objects
    }

    /// Trims one kernel BTF. Relocations libbpf itself would reject are kept reproducible, not refused.
    public func trim(kernel: BTF) throws(BTFError) -> TrimResult {
        // Placeholder: being written (issue 3).
        TrimResult(minimized: kernel, relocations: objects.map { _ in [] })
    }
}
