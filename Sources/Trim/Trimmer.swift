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
    /// Which matching candidates are kept (see `CandidateRetention`).
    public var retention: CandidateRetention
    /// Relocations that ask the same of a kernel in several objects, matched once per kernel.
    private let shapes: SharedRelocationShapes

    public init(objects: [BPFObject]) {
        self.init(objects: objects, retention: .minimal)
    }

    /// A trimmer with a chosen candidate retention.
    public init(objects: [BPFObject], retention: CandidateRetention) {
        self.objects = objects
        self.retention = retention
        shapes = SharedRelocationShapes(objects: objects)
    }

    /// Trims one kernel BTF. Relocations libbpf itself would reject are kept reproducible, not refused.
    /// The CO-RE engine runs once per kernel: one candidate index, every object resolved against it,
    /// each relocation shape shared by several objects matched against the candidates once.
    public func trim(kernel: BTF) throws(BTFError) -> TrimResult {
        let relocator = CORERelocator(target: kernel, candidateNames: shapes.candidateNames, candidateKinds: shapes.candidateKinds)
        var shared = SharedMatches()
        let relocations = objects.indices.map { relocator.resolveAll(in: objects[$0], shapes: shapes.shapes[$0], shared: &shared) }
        return try minimize(kernel: kernel, relocations: relocations)
    }

    /// Builds the minimized BTF from relocation results already computed against `kernel`
    /// (one array per object, as `CORERelocator.resolveAll(in:)` returns them).
    public func minimize(kernel: BTF, relocations: [[CORERelocationResult]]) throws(BTFError) -> TrimResult {
        var minimizer = Minimizer(source: kernel)
        for (index, results) in relocations.enumerated() {
            do { try minimizer.record(results, retention: retention) } catch {
                var e = error
                let object = index < objects.count ? objects[index].path : "object #\(index)"
                e.problem = "recording the relocations of \(object): " + e.problem
                throw e
            }
        }
        let minimized = minimizer.build()
        // A relocation's path ran into a pointer-free cycle (`typedef pid_t pid_t`): written out, it
        // would hang libbpf in every runner carrying it, so this kernel fails instead.
        if let cycle = minimized.pointerFreeCycle() {
            throw BTFError("the kernel's BTF has a reference cycle that does not pass through a pointer, on a path the "
                           + "relocations need (\(minimized.describeCycle(cycle)), ids of the trimmed BTF); libbpf would "
                           + "loop forever on it, so no trimmed BTF is written for this kernel")
        }
        return TrimResult(minimized: minimized, relocations: relocations)
    }
}
