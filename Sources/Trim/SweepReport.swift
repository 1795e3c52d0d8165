import Archive
import BTF
import CORE

/// The outcome for one kernel of a sweep.
public struct KernelSweepResult: Sendable {
    /// `distro/version/arch/release` for a tree kernel, the file name for a single file.
    public var name: String
    public var inputPath: String
    public var outputPath: String
    /// Why the kernel could not be trimmed (corrupt archive, bad BTF, trim error, write error);
    /// `nil` when its trimmed BTF was written.
    public var failure: String?
    /// Size of the input file as stored (compressed, for an archive).
    public var compressedBytes = 0
    /// Size of the kernel's raw BTF.
    public var inputBytes = 0
    /// Size of the trimmed BTF written.
    public var outputBytes = 0
    /// Relocation decisions against this kernel, over all objects.
    public var resolvedRelocations = 0
    public var poisonedRelocations = 0
    /// Relocations libbpf itself would reject on this kernel (kept reproducible in the trimmed BTF),
    /// one line each: object, section, relocation, reason.
    public var rejectedRelocations: [String] = []
    public var elapsed: Duration = .zero
    /// The btfhub identity of a tree kernel (`nil` for a single kernel file).
    public var identity: KernelIdentity?
    /// One outcome per relocation of the sweep's `relocationTable`, in its order (empty when the
    /// kernel failed).
    public var coverage: [CoverageOutcome] = []

    public init(name: String, inputPath: String, outputPath: String) {
        self.name = name
        self.inputPath = inputPath
        self.outputPath = outputPath
        self.failure = "not processed"
    }

    public var succeeded: Bool { failure == nil }

    /// The kernel's output could not be put in place after all: it failed, as if writing had.
    mutating func failOutput(_ reason: String) {
        failure = reason
        outputBytes = 0
        resolvedRelocations = 0
        poisonedRelocations = 0
        rejectedRelocations = []
        coverage = []
    }

    mutating func tally(_ relocations: [[CORERelocationResult]], objects: [BPFObject]) {
        for (objectIndex, results) in relocations.enumerated() {
            for result in results {
                switch result.outcome {
                case .resolved: resolvedRelocations += 1
                case .poisoned: poisonedRelocations += 1
                case .ambiguous(let failure), .failed(let failure):
                    let object = objectIndex < objects.count ? objects[objectIndex].path : "object \(objectIndex)"
                    rejectedRelocations.append("\(object): \(result.sectionName): \(result.relocation.kind) "
                                               + "relocation at insn offset \(result.relocation.instructionOffset): \(failure)")
                }
            }
        }
    }
}

/// Everything a sweep did, and its summary.
public struct SweepReport: Sendable {
    /// Whether INPUT was a btfhub tree or a single kernel file.
    public enum Mode: Sendable { case tree, singleFile }

    public var input: String
    public var output: String
    public var mode: Mode
    public var objects: [SweepObject]
    /// One result per kernel, in input order (sorted paths for a tree).
    public var kernels: [KernelSweepResult]
    public var warnings: [SweepWarning]
    /// Files of the input tree that are not kernels, relative to INPUT.
    public var skippedFiles: [String]
    /// Kernels left out by `--arch`.
    public var filteredOutCount: Int
    public var elapsed: Duration
    /// The objects' relocations, named; kernels' `coverage` follows its order.
    public var relocationTable: CoverageRelocationTable?
    /// What the kernel cache did (`--cache`), `nil` without one.
    public var cacheStatistics: KernelCache.Statistics?

    public var failures: [KernelSweepResult] { kernels.filter { !$0.succeeded } }
    public var trimmed: [KernelSweepResult] { kernels.filter(\.succeeded) }

    /// The end-of-run summary: kernels, objects, relocations, bytes in and out, time.
    public var summary: String {
        let ok = trimmed
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let relocationTotal = objects.reduce(0) { $0 + $1.relocationCount }
        var lines: [String] = []
        var kernelLine = "kernels: \(ok.count) trimmed, \(kernels.count - ok.count) failed"
        if mode == .tree {
            kernelLine += ", \(skippedFiles.count) other \(skippedFiles.count == 1 ? "file" : "files") skipped"
            if filteredOutCount > 0 { kernelLine += ", \(filteredOutCount) of other architectures left out" }
        }
        lines.append(kernelLine)
        lines.append("objects: \(objects.count) with \(relocationTotal) CO-RE relocations")
        let resolved = ok.reduce(0) { $0 + $1.resolvedRelocations }
        let poisoned = ok.reduce(0) { $0 + $1.poisonedRelocations }
        let rejected = ok.reduce(0) { $0 + $1.rejectedRelocations.count }
        lines.append("relocations: \(resolved) resolved, \(poisoned) poisoned, \(rejected) rejected as libbpf would (over all kernels)")
        let compressed = ok.reduce(0) { $0 + $1.compressedBytes }
        let raw = ok.reduce(0) { $0 + $1.inputBytes }
        let out = ok.reduce(0) { $0 + $1.outputBytes }
        lines.append("bytes: \(SweepReport.size(compressed)) read, \(SweepReport.size(raw)) of raw BTF in, \(SweepReport.size(out)) out")
        if let cache = cacheStatistics {
            var line = "cache: \(cache.hits) hits, \(cache.misses) misses, \(SweepReport.size(cache.bytesRead)) read, "
                + "\(SweepReport.size(cache.bytesWritten)) written, \(cache.evicted) evicted (\(SweepReport.size(cache.evictedBytes)))"
            if cache.dropped > 0 { line += ", \(cache.dropped) damaged \(cache.dropped == 1 ? "entry" : "entries") dropped and rebuilt" }
            if cache.writeFailures > 0 { line += ", \(cache.writeFailures) entries not written" }
            lines.append(line)
        }
        lines.append("time: \(String(format3: seconds)) s")
        return lines.joined(separator: "\n")
    }

    /// `1234567` as `1.2 MB (1234567 bytes)`.
    static func size(_ bytes: Int) -> String {
        let units = [(1_000_000_000, "GB"), (1_000_000, "MB"), (1_000, "kB")]
        for (scale, unit) in units where bytes >= scale {
            return "\(String(format1: Double(bytes) / Double(scale))) \(unit) (\(bytes) bytes)"
        }
        return "\(bytes) bytes"
    }
}

extension String {
    /// A decimal with one digit after the point, without Foundation.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(tenths % 10)"
    }

    /// A decimal with three digits after the point, without Foundation.
    init(format3 value: Double) {
        let thousandths = Int((value * 1000).rounded())
        let fraction = String(thousandths % 1000)
        self = "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
