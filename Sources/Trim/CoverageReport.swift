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
    /// One verdict per program of the report, in program order (a verdict's `site` is a relocation
    /// index); empty when `failure` is set.
    public var verdicts: [GuardVerdict]

    public init(name: String, identity: KernelIdentity?, outcomes: [CoverageOutcome], verdicts: [GuardVerdict] = [],
                failure: String? = nil) {
        self.name = name; self.identity = identity; self.outcomes = outcomes; self.verdicts = verdicts; self.failure = failure
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

/// How one program fares over all kernels.
public struct ProgramCoverage: Sendable {
    /// Index into the report's programs.
    public var programIndex: Int
    /// Kernels with verdicts, and how many got each code (L, G, X, F).
    public var kernelCount: Int
    public var counts: [Character: Int]
    /// Per group with at least one kernel where the program does not load (X or F): how many, of how many.
    public var byGroup: [(group: Int, count: Int, of: Int)]
    /// The relocations that stop it (the reachable poisoned one, or the failing one), most kernels first.
    public var blockers: [(relocation: Int, kernels: Int)]

    /// Kernels where it does not load (X or F).
    public var problemCount: Int { counts["X", default: 0] + counts["F", default: 0] }
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
    /// Every program of the objects; kernels' `verdicts` follow its order.
    public var programs: [CoverageProgram]
    /// Sorted by distro, version, architecture, release (numbers compared as numbers).
    public var kernels: [CoverageKernel]
    /// In kernel order.
    public var groups: [CoverageGroup]
    /// One per relocation, in relocation order.
    public var coverage: [RelocationCoverage]
    /// One per program, in program order.
    public var programCoverage: [ProgramCoverage]
    /// Per relocation: on how many kernels some program reaches it while it is poisoned (or it
    /// makes a program fail), from the verdicts.
    public var blockingKernelCounts: [Int]

    /// Builds the report; `kernels` may come in any order.
    public init(input: String, objects: [String], relocations: [CoverageRelocation], programs: [CoverageProgram] = [],
                kernels: [CoverageKernel]) {
        self.input = input
        self.objects = objects
        self.relocations = relocations
        self.programs = programs
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
            let tally = CoverageReport.tally(groups: groups, kernels: sorted) { kernel in
                r < kernel.outcomes.count ? (kernel.outcomes[r].code, kernel.outcomes[r].isProblem || kernel.outcomes[r] == .absent) : nil
            }
            // One example per distro version first, so the examples show the spread.
            return RelocationCoverage(relocationIndex: r, kernelCount: tally.kernelCount, counts: tally.counts, byGroup: tally.byGroup,
                                      examples: tally.firstMarked.prefix(3).map { sorted[$0].name })
        }
        programCoverage = programs.indices.map { p in
            let tally = CoverageReport.tally(groups: groups, kernels: sorted) { kernel in
                p < kernel.verdicts.count ? (kernel.verdicts[p].code, kernel.verdicts[p].site != nil) : nil
            }
            var blockers: [Int: Int] = [:]
            for kernel in sorted where p < kernel.verdicts.count { for site in kernel.verdicts[p].sites { blockers[site, default: 0] += 1 } }
            let ordered = blockers.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            return ProgramCoverage(programIndex: p, kernelCount: tally.kernelCount, counts: tally.counts, byGroup: tally.byGroup,
                                   blockers: ordered.map { ($0.key, $0.value) })
        }
        var blocking = [Int](repeating: 0, count: relocations.count)
        for kernel in sorted {
            for site in Set(kernel.verdicts.flatMap(\.sites)) where site < blocking.count { blocking[site] += 1 }
        }
        blockingKernelCounts = blocking
    }

    /// One relocation's outcomes or one program's verdicts over the groups: `entry` gives a kernel's
    /// code and whether it counts against it (`nil`: the kernel has none). Returns the kernels with
    /// an entry, the count per code, per group with a marked kernel how many of how many, and the
    /// first marked kernel of each such group.
    private static func tally(groups: [CoverageGroup], kernels: [CoverageKernel], entry: (CoverageKernel) -> (code: Character, marked: Bool)?)
        -> (kernelCount: Int, counts: [Character: Int], byGroup: [(group: Int, count: Int, of: Int)], firstMarked: [Int]) {
        var counts: [Character: Int] = [:]
        var byGroup: [(group: Int, count: Int, of: Int)] = []
        var firstMarked: [Int] = []
        var kernelCount = 0
        for (g, group) in groups.enumerated() {
            var marked = 0, of = 0
            for k in group.kernelIndices {
                guard let (code, bad) = entry(kernels[k]) else { continue }
                counts[code, default: 0] += 1
                of += 1
                if bad {
                    if marked == 0 { firstMarked.append(k) }
                    marked += 1
                }
            }
            kernelCount += of
            if marked > 0 { byGroup.append((g, marked, of)) }
        }
        return (kernelCount, counts, byGroup, firstMarked)
    }

    /// The report of a finished sweep (which must have been run with its coverage table).
    public init(sweep: SweepReport) {
        var cache = CoverageRelocationTable.VerdictCache()
        let table = sweep.relocationTable
        self.init(input: sweep.input, objects: sweep.objects.map(\.object.path),
                  relocations: table?.relocations ?? [], programs: table?.programs ?? [],
                  kernels: sweep.kernels.map { kernel in
                      CoverageKernel(name: kernel.name, identity: kernel.identity, outcomes: kernel.coverage,
                                     verdicts: kernel.succeeded ? table?.verdicts(for: kernel.coverage, cache: &cache) ?? [] : [],
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

    /// Whether the report has per-program verdicts (a sweep's report has; one built from outcomes
    /// alone has not, and then every poisoned relocation counts as a problem).
    public var hasVerdicts: Bool { !programs.isEmpty }

    /// Relocations that stop some program somewhere: poisoned where a program reaches them,
    /// ambiguous or failed. Without verdicts, every problem relocation. Worst first.
    public var blockingRelocations: [RelocationCoverage] {
        guard hasVerdicts else { return problemRelocations }
        return problemRelocations.filter { blockingKernelCounts[$0.relocationIndex] > 0 || $0.counts["M", default: 0] + $0.counts["F", default: 0] > 0 }
    }

    /// Relocations poisoned somewhere but reached by no program where they are: guarded by an
    /// existence check or another relocated constant (fine). Most kernels first.
    public var guardedRelocations: [RelocationCoverage] {
        guard hasVerdicts else { return [] }
        return problemRelocations.filter { blockingKernelCounts[$0.relocationIndex] == 0 && $0.counts["M", default: 0] + $0.counts["F", default: 0] == 0 }
    }

    /// Programs that do not load on some kernel (X or F), worst first.
    public var problemPrograms: [ProgramCoverage] {
        programCoverage.filter { $0.problemCount > 0 }.sorted { a, b in
            a.problemCount != b.problemCount ? a.problemCount > b.problemCount : a.programIndex < b.programIndex
        }
    }

    /// `opensnoop.bpf.o sys_enter_openat2: rejected on 60 of 85 kernels: open_how.flags (byte_off) not found: centos 8 all 7, ...`
    public func sentence(for item: ProgramCoverage) -> String {
        let program = programs[item.programIndex]
        let parts = [("X", "rejected"), ("F", "fails")]
            .compactMap { code, words in item.counts[Character(code), default: 0] > 0 ? "\(words) on \(item.counts[Character(code)]!)" : nil }
        let causes = item.blockers.prefix(3).map { entry in
            let relocation = relocations[entry.relocation]
            let what = coverage[entry.relocation].counts["P", default: 0] > 0 ? "not found" : "fails"
            return "\(relocation.name) (\(relocation.kind)) \(what)" + (item.blockers.count > 1 ? " on \(entry.kernels)" : "")
        } + (item.blockers.count > 3 ? ["\(item.blockers.count - 3) more"] : [])
        let places = item.byGroup.map { entry in
            let label = groups[entry.group].label
            return entry.count == entry.of ? "\(label) all \(entry.of)" : "\(label) \(entry.count) of \(entry.of)"
        }
        return "\(program.objectName) \(program.name): \(parts.joined(separator: ", ")) of \(kernelsText(item.kernelCount)): "
            + causes.joined(separator: ", ") + ": " + places.joined(separator: ", ")
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

    /// The end-of-run summary (`--report-summary`): programs first (those that do not load
    /// somewhere, worst first, with the relocation that stops them; then per object how many load
    /// everywhere), then the relocations that stop a program, the guarded poisoned reads (fine) and
    /// the existence checks that are 0 somewhere. Without verdicts, relocations only.
    public func terminalSummary() -> String {
        guard hasVerdicts else { return relocationSummary() }
        var lines: [String] = []
        let covered = coveredKernelCount
        let bad = problemPrograms
        lines.append("coverage: \(programs.count) \(programs.count == 1 ? "program" : "programs") in \(objects.count) "
                     + "\(objects.count == 1 ? "object" : "objects"), \(relocations.count) relocations, \(kernelsText(covered)): "
                     + "\(programs.count - bad.count) load everywhere, \(bad.count) do not load somewhere")
        if !bad.isEmpty {
            lines.append("programs that do not load everywhere (worst first):")
            for item in bad {
                lines.append("  " + sentence(for: item))
                if let first = item.blockers.first { lines.append("      at \(relocations[first.relocation].location)") }
            }
        }
        for (o, path) in objects.enumerated() {
            let mine = programCoverage.filter { programs[$0.programIndex].objectIndex == o }
            guard !mine.isEmpty else { continue }
            let good = mine.filter { $0.problemCount == 0 }.count
            let name = path.split(separator: "/").last.map(String.init) ?? path
            lines.append(good == mine.count
                ? "\(name): \(good) \(good == 1 ? "program loads" : "programs load") on \(covered) of \(kernelsText(covered))"
                : "\(name): \(good) of \(mine.count) programs load on every kernel, \(mine.count - good) \(mine.count - good == 1 ? "does" : "do") not (above)")
        }
        let blocking = blockingRelocations
        if !blocking.isEmpty {
            lines.append("relocations that stop a program (worst first):")
            for item in blocking {
                lines.append("  " + sentence(for: item))
                lines.append("      at \(relocations[item.relocationIndex].location); reached on \(kernelsText(blockingKernelCounts[item.relocationIndex])); "
                             + "e.g. \(item.examples.joined(separator: ", "))")
            }
        }
        let guarded = guardedRelocations
        if !guarded.isEmpty {
            lines.append("guarded (fine): poisoned where no program reaches them once the relocated constants are known:")
            lines += folded(guarded.map { sentence(for: $0) })
        }
        let absent = absentExistenceChecks
        if !absent.isEmpty {
            lines.append("existence checks that are 0 somewhere (fine, the program branches on them):")
            lines += folded(absent.map { sentence(for: $0) })
        }
        return lines.joined(separator: "\n")
    }

    /// The same access read at several instructions says the same thing: one line, `(N instructions)`.
    private func folded(_ sentences: [String]) -> [String] {
        var order: [String] = [], counts: [String: Int] = [:]
        for sentence in sentences {
            if counts[sentence] == nil { order.append(sentence) }
            counts[sentence, default: 0] += 1
        }
        return order.map { "  " + $0 + (counts[$0]! > 1 ? " (\(counts[$0]!) instructions)" : "") }
    }

    /// The relocation-only summary of a report without verdicts.
    func relocationSummary() -> String {
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

    /// What fails a sweep that must cover every kernel (btf-trim `--require-all`): the message
    /// naming every program that does not load somewhere (X or F), or `nil` when all load on every kernel (guarded poisoned reads and existence checks that
    /// are 0 are fine). Without verdicts, every relocation that does not resolve somewhere.
    public func requireAllFailure() -> String? {
        if hasVerdicts {
            let bad = problemPrograms
            guard !bad.isEmpty else { return nil }
            return (["\(bad.count) \(bad.count == 1 ? "program does" : "programs do") not load on every kernel:"]
                    + bad.map { "  " + sentence(for: $0) }).joined(separator: "\n")
        }
        let problems = problemRelocations
        guard !problems.isEmpty else { return nil }
        var lines = ["\(problems.count) \(problems.count == 1 ? "relocation does" : "relocations do") not resolve on every kernel:"]
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
