import Archive
import BTF
import CORE

/// One kernel of a coverage report.
public struct CoverageKernel: Sendable {
    /// `distro/version/arch/release`, or the file name of a single kernel file.
    public var name: String
    /// The btfhub identity (`nil` for a single kernel file).
    public var identity: KernelIdentity?
    /// One outcome per relocation of the report, in relocation order; empty when `failure` is set.
    public var outcomes: [CoverageOutcome]
    /// Why the kernel could not be read or trimmed (then it has no outcomes).
    public var failure: String?

    public init(name: String, identity: KernelIdentity?, outcomes: [CoverageOutcome], failure: String? = nil) {
        self.name = name; self.identity = identity; self.outcomes = outcomes; self.failure = failure
    }

    /// The release (`uname -r`) for a btfhub kernel, else the name.
    public var release: String { identity?.release ?? name }

    /// Indices of the relocations that do not work on this kernel (poisoned, ambiguous, failed).
    public var problems: [Int] { outcomes.indices.filter { outcomes[$0].isProblem } }

    /// How many outcomes of each code (R, A, P, M, F).
    public var counts: [Character: Int] {
        var counts: [Character: Int] = [:]
        for outcome in outcomes { counts[outcome.code, default: 0] += 1 }
        return counts
    }
}

/// Kernels of one distro version (and architecture): `centos 8`, `ubuntu 20.04`.
public struct CoverageGroup: Sendable {
    /// `centos/8/x86_64`; the file name for a single kernel file.
    public var key: String
    /// `centos 8` (with the architecture when the report covers several).
    public var label: String
    /// Indices into the report's kernels, in kernel order (contiguous).
    public var kernelIndices: Range<Int>
}

/// Where one relocation does not resolve, over all kernels.
public struct RelocationCoverage: Sendable {
    /// Index into the report's relocations.
    public var relocationIndex: Int
    /// Kernels with outcomes (trimmed) and how many got each code (R, A, P, M, F).
    public var kernelCount: Int
    public var counts: [Character: Int]
    /// Per group with at least one such kernel: how many of the group's kernels do not resolve it
    /// (problems, or absent for an existence check), of how many.
    public var byGroup: [(group: Int, count: Int, of: Int)]
    /// Up to three kernels where it does not resolve, by name: the first of each distro version.
    public var examples: [String]

    /// Kernels where it is poisoned, ambiguous or failed.
    public var problemCount: Int { counts["P", default: 0] + counts["M", default: 0] + counts["F", default: 0] }
    /// Kernels where it is poisoned, ambiguous or failed, or an existence check is 0.
    public var unresolvedCount: Int { problemCount + counts["A", default: 0] }
}

/// Which kernels a set of BPF objects will not work on: every relocation's outcome on every kernel,
/// with summaries per relocation, per kernel and per distro version. Written as JSON
/// (`json()`), HTML (`html()`) or a terminal summary (`terminalSummary()`).
public struct CoverageReport: Sendable {
    /// The sweep's INPUT.
    public var input: String
    /// The objects' paths, in sweep order.
    public var objects: [String]
    public var relocations: [CoverageRelocation]
    /// Sorted by distro, version, architecture, release (numbers compared as numbers).
    public var kernels: [CoverageKernel]
    /// In kernel order.
    public var groups: [CoverageGroup]
    /// One per relocation, in relocation order.
    public var coverage: [RelocationCoverage]

    /// Builds the report; `kernels` may come in any order.
    public init(input: String, objects: [String], relocations: [CoverageRelocation], kernels: [CoverageKernel]) {
        self.input = input
        self.objects = objects
        self.relocations = relocations
        let sorted = kernels.sorted(by: CoverageReport.kernelOrder)
        self.kernels = sorted
        let arches = Set(sorted.compactMap { $0.identity?.arch })
        var groups: [CoverageGroup] = []
        for (index, kernel) in sorted.enumerated() {
            let key = kernel.identity.map { "\($0.distro)/\($0.version)/\($0.arch)" } ?? kernel.name
            if let last = groups.last, last.key == key {
                groups[groups.count - 1].kernelIndices = last.kernelIndices.lowerBound ..< index + 1
            } else {
                let label = kernel.identity.map { "\($0.distro) \($0.version)" + (arches.count > 1 ? " \($0.arch)" : "") } ?? kernel.name
                groups.append(CoverageGroup(key: key, label: label, kernelIndices: index ..< index + 1))
            }
        }
        self.groups = groups
        coverage = relocations.indices.map { r in
            var counts: [Character: Int] = [:]
            var byGroup: [(group: Int, count: Int, of: Int)] = []
            var examples: [String] = []
            var kernelCount = 0
            for (g, group) in groups.enumerated() {
                var unresolved = 0, of = 0
                for k in group.kernelIndices where r < sorted[k].outcomes.count {
                    let outcome = sorted[k].outcomes[r]
                    counts[outcome.code, default: 0] += 1
                    of += 1
                    if outcome.isProblem || outcome == .absent {
                        // One example per distro version first, so the examples show the spread.
                        if unresolved == 0 && examples.count < 3 { examples.append(sorted[k].name) }
                        unresolved += 1
                    }
                }
                kernelCount += of
                if unresolved > 0 { byGroup.append((g, unresolved, of)) }
            }
            return RelocationCoverage(relocationIndex: r, kernelCount: kernelCount, counts: counts,
                                      byGroup: byGroup, examples: examples)
        }
    }

    /// The report of a finished sweep (which must have been run with its coverage table).
    public init(sweep: SweepReport) {
        self.init(input: sweep.input, objects: sweep.objects.map(\.object.path),
                  relocations: sweep.relocationTable?.relocations ?? [],
                  kernels: sweep.kernels.map { kernel in
                      CoverageKernel(name: kernel.name, identity: kernel.identity, outcomes: kernel.coverage,
                                     failure: kernel.failure)
                  })
    }

    /// Kernels that were trimmed (have outcomes).
    public var coveredKernelCount: Int { kernels.filter { $0.failure == nil }.count }

    /// Relocations that do not work on some kernel (poisoned, ambiguous, failed), worst first.
    public var problemRelocations: [RelocationCoverage] {
        coverage.filter { $0.problemCount > 0 }.sorted { a, b in
            a.problemCount != b.problemCount ? a.problemCount > b.problemCount : a.relocationIndex < b.relocationIndex
        }
    }

    /// Existence checks that are 0 on some kernel (fine, for information), most kernels first.
    public var absentExistenceChecks: [RelocationCoverage] {
        coverage.filter { $0.counts["A", default: 0] > 0 }.sorted { a, b in
            let x = a.counts["A", default: 0], y = b.counts["A", default: 0]
            return x != y ? x > y : a.relocationIndex < b.relocationIndex
        }
    }

    /// `task_struct.__state: poisoned on 60 of 85 kernels: centos 8 all 7, debian 10 24 of 39`.
    public func sentence(for item: RelocationCoverage) -> String {
        let relocation = relocations[item.relocationIndex]
        let parts = [("P", "poisoned (not found)"), ("M", "ambiguous"), ("F", "failed"), ("A", "0 (existence check)")]
            .compactMap { code, words in item.counts[Character(code), default: 0] > 0 ? "\(words) on \(item.counts[Character(code)]!)" : nil }
        let places = item.byGroup.map { entry in
            let label = groups[entry.group].label
            return entry.count == entry.of ? "\(label) all \(entry.of)" : "\(label) \(entry.count) of \(entry.of)"
        }
        let object = objects.count > 1 ? ", \(relocation.objectName)" : ""
        return "\(relocation.name) (\(relocation.kind)\(object)): \(parts.joined(separator: ", ")) of \(kernelsText(item.kernelCount)): "
            + places.joined(separator: ", ")
    }

    /// The end-of-run summary (`--report-summary`): the relocations that do not work somewhere,
    /// worst first, with where and example kernels; then the existence checks that are 0 somewhere.
    public func terminalSummary() -> String {
        var lines: [String] = []
        let covered = coveredKernelCount
        let fullyCovered = kernels.filter { $0.failure == nil && $0.problems.isEmpty }.count
        lines.append("coverage: \(relocations.count) relocations in \(objects.count) \(objects.count == 1 ? "object" : "objects"), "
                     + "\(kernelsText(covered)): all relocations work on \(fullyCovered), some fail on \(covered - fullyCovered)")
        let problems = problemRelocations
        if problems.isEmpty {
            lines.append("every relocation resolves on every kernel")
        } else {
            lines.append("relocations that do not work everywhere (worst first):")
            for item in problems {
                lines.append("  " + sentence(for: item))
                lines.append("      at \(relocations[item.relocationIndex].location); e.g. \(item.examples.joined(separator: ", "))")
            }
        }
        let absent = absentExistenceChecks
        if !absent.isEmpty {
            lines.append("existence checks that are 0 somewhere (fine, the program branches on them):")
            for item in absent { lines.append("  " + sentence(for: item)) }
        }
        return lines.joined(separator: "\n")
    }

    /// For `--require-all`: the message naming every relocation that does not work somewhere, or
    /// `nil` when all work on every kernel (existence checks that are 0 are fine).
    public func requireAllFailure() -> String? {
        let problems = problemRelocations
        guard !problems.isEmpty else { return nil }
        var lines = ["--require-all: \(problems.count) \(problems.count == 1 ? "relocation does" : "relocations do") not resolve on every kernel:"]
        for item in problems {
            let relocation = relocations[item.relocationIndex]
            lines.append("  \(relocation.name) (\(relocation.kind), \(relocation.location)): on \(item.problemCount) of \(kernelsText(item.kernelCount))")
        }
        return lines.joined(separator: "\n")
    }

    /// `1 kernel`, `85 kernels`.
    private func kernelsText(_ count: Int) -> String { count == 1 ? "1 kernel" : "\(count) kernels" }

    /// Distro, version (as numbers), architecture, release (as numbers); single files by name.
    static func kernelOrder(_ a: CoverageKernel, _ b: CoverageKernel) -> Bool {
        switch (a.identity, b.identity) {
        case let (x?, y?):
            if x.distro != y.distro { return x.distro < y.distro }
            if x.version != y.version { return naturalLess(x.version, y.version) }
            if x.arch != y.arch { return x.arch < y.arch }
            return naturalLess(x.release, y.release)
        case (nil, _?): return false
        case (_?, nil): return true
        case (nil, nil): return naturalLess(a.name, b.name)
        }
    }

    /// `5.4.0-26` before `5.11.0`: runs of digits compare as numbers; ties broken by plain order.
    static func naturalLess(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var i = 0, j = 0
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        while i < x.count && j < y.count {
            if isDigit(x[i]) && isDigit(y[j]) {
                var i2 = i, j2 = j
                while i2 < x.count && isDigit(x[i2]) { i2 += 1 }
                while j2 < y.count && isDigit(y[j2]) { j2 += 1 }
                let m = x[i ..< i2].drop { $0 == 48 }, n = y[j ..< j2].drop { $0 == 48 }
                if m.count != n.count { return m.count < n.count }
                if !m.elementsEqual(n) { return m.lexicographicallyPrecedes(n) }
                i = i2; j = j2
            } else {
                if x[i] != y[j] { return x[i] < y[j] }
                i += 1; j += 1
            }
        }
        if x.count - i != y.count - j { return x.count - i < y.count - j }
        return a < b
    }
}
