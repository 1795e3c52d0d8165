import BTF
import CORE
import Foundation
@testable import TestSupport
import Testing
@testable import Trim

/// The coverage report (`btf-trim --report`): which relocation resolves on which kernel, checked
/// against libbpf on real btfhub kernels whose task_struct, kernfs_node and bpf_func_id differ.
@Suite("Coverage report: per-kernel relocation outcomes", .serialized)
struct CoverageReportTests {
    /// One kernel of each kind the issue names: CentOS 8 (4.18), Debian 10 (4.19 and a 5.10
    /// backport), Ubuntu 20.04 (5.4 and 5.11), and a 6.x fixture. Paths relative to their root.
    static let sharedKernels = [
        "centos/8/x86_64/4.18.0-80.el8.x86_64.btf.tar.xz",
        "debian/10/x86_64/4.19.0-17-amd64.btf.tar.xz",
        "debian/10/x86_64/5.10.0-0.deb10.17-cloud-amd64.btf.tar.xz",
        "ubuntu/20.04/x86_64/5.4.0-26-generic.btf.tar.xz",
        "ubuntu/20.04/x86_64/5.11.0-1028-gcp.btf.tar.xz",
    ]
    static let fixtureKernels = ["debian/12/x86_64/6.1.0-50-cloud-amd64.btf.tar.xz"]
    /// Objects with fields that appeared or vanished across these kernels.
    static let objectNames = ["report_fields.bpf.o", "flavors.bpf.o", "types_and_enums.bpf.o"]

    /// A btfhub-shaped tree holding copies of `sharedKernels` and `fixtureKernels`.
    static func makeTree() throws -> String {
        let root = NSTemporaryDirectory() + "coverage-tree-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        for (base, kernels) in [(TestSupport.sharedArchive, sharedKernels), (TestSupport.fixtures, fixtureKernels)] {
            for relative in kernels {
                let target = root + "/" + relative
                try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: base + "/" + relative, toPath: target)
            }
        }
        return root
    }

    static func objects() throws -> [String] {
        let all = try TestSupport.compiledBPFObjects()
        return try objectNames.map { name in
            guard let path = all.first(where: { $0.hasSuffix("/" + name) }) else { throw TestSupportError("\(name) not compiled") }
            return path
        }
    }

    /// Runs the sweep over the test tree and returns its coverage report.
    static func sweepReport(tree: String) async throws -> CoverageReport {
        let objects = try Sweep.loadObjects(try objects())
        let output = tree + "-out"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let report = try await Sweep(objects: objects, options: SweepOptions(jobs: 2)).run(input: tree, output: output)
        #expect(report.failures.isEmpty, "\(report.failures.map { "\($0.name): \($0.failure ?? "")" })")
        return CoverageReport(sweep: report)
    }

    /// A poisoning and an ambiguity, for reports built by hand.
    static let noMatch = COREFailure(.noMatchingTarget(candidateCount: 1))
    static let decisionAmbiguity = COREFailure(.ambiguity(COREAmbiguity(.decision, first: .init(typeID: TypeID(2), name: "task_struct", value: 2),
                                                                        other: .init(typeID: TypeID(7), name: "task_struct", value: 3))))

    @Test("classification: existence checks at 0 are absent, ambiguities are told from other failures")
    func classification() {
        typealias T = CoverageRelocationTable
        #expect(T.classify(.resolved(0), kind: .fieldExists) == .absent)
        #expect(T.classify(.resolved(0), kind: .typeMatches) == .absent)
        #expect(T.classify(.resolved(0), kind: .enumValueExists) == .absent)
        #expect(T.classify(.resolved(1), kind: .typeExists) == .resolved(1))
        // A byte offset of 0 is a real offset, not an absence.
        #expect(T.classify(.resolved(0), kind: .fieldByteOffset) == .resolved(0))
        let missing = COREFailure(.noMatchingTarget(candidateCount: 1))
        #expect(T.classify(.poisoned(missing), kind: .fieldByteOffset) == .poisoned(missing))
        let decision = COREFailure(.ambiguity(COREAmbiguity(.decision, first: .init(typeID: TypeID(2), name: "task", value: 2),
                                                             other: .init(typeID: TypeID(9), name: "task___2", value: 1))))
        #expect(T.classify(.ambiguous(decision), kind: .typeIDTarget) == .ambiguous(decision))
        #expect(T.classify(.ambiguous(decision), kind: .typeIDTarget).reason == "relocation decision ambiguity: 1 != 2")
        let offsets = COREFailure(.ambiguity(COREAmbiguity(.fieldOffset, first: .init(typeID: TypeID(2), name: "task", value: 16),
                                                            other: .init(typeID: TypeID(9), name: "task", value: 8))))
        #expect(T.classify(.ambiguous(offsets), kind: .fieldByteOffset).code == "M")
        #expect(T.classify(.ambiguous(offsets), kind: .fieldByteOffset).reason == "field offset ambiguity: 8 != 16")
        let invalid = COREFailure(.invalidAccessSpec(accessString: "0:x", position: nil, message: "malformed access string \"0:x\""),
                                  step: .parsingLocalSpec)
        #expect(T.classify(.failed(invalid), kind: .fieldByteOffset).code == "F")
        #expect(!CoverageOutcome.absent.isProblem && CoverageOutcome.poisoned(missing).isProblem)
    }

    @Test("relocation names: root type and member path from the local spec, types and enumerators by kind")
    func relocationNames() throws {
        let objects = try Self.objects().map { try BPFObject(contentsOf: $0) }
        let table = try CoverageRelocationTable(objects: objects)
        let names = Set(table.relocations.map { "\($0.name) \($0.kind)" })
        for expected in ["task_struct.__state byte_off", "task_struct.__state field_exists",
                         "task_struct___report_old.state byte_off", "kernfs_node___report.id byte_off",
                         "enum bpf_func_id::BPF_FUNC_user_ringbuf_drain enumval_value",
                         "struct mm_rss_stat___report type_exists",
                         // through an array element: rss_stat[MM_ANONPAGES].count
                         "mm_struct___post62.rss_stat[1].count byte_off"] {
            #expect(names.contains(expected), "missing \(expected) in \(names.sorted())")
        }
        // Every record of every object is in the table, in .BTF.ext order.
        let recordCount = objects.reduce(0) { $0 + ($1.ext?.coreRelocations.reduce(0) { $0 + $1.records.count } ?? 0) }
        #expect(table.relocations.count == recordCount)
    }

    @Test("kernel order: distro, version, then release with numbers compared as numbers")
    func naturalOrder() {
        #expect(CoverageReport.naturalLess("5.4.0-26-generic", "5.11.0-1028-gcp"))
        #expect(CoverageReport.naturalLess("4.18.0-80.el8", "4.18.0-147.el8"))
        #expect(!CoverageReport.naturalLess("5.10", "5.4"))
        #expect(CoverageReport.naturalLess("18.04", "20.04"))
    }

    /// The report's classification of every relocation equals libbpf's decision on the full kernel
    /// BTF: poisoned ↔ invalid instruction substituted, resolved value ↔ patched value (an absent
    /// existence check ↔ patched 0), ambiguous/failed ↔ the load failing on that relocation.
    @Test("every outcome equals libbpf's on CentOS 8, Debian 10, Ubuntu 20.04 and 6.1 kernels", .requiresSharedArchive, .requiresRoot)
    func matchesLibbpf() async throws {
        try TestSupport.requireSharedArchive()
        try TestSupport.requireRoot()
        let tree = try Self.makeTree()
        defer { try? FileManager.default.removeItem(atPath: tree) }
        let report = try await Self.sweepReport(tree: tree)
        #expect(report.kernels.count == Self.sharedKernels.count + Self.fixtureKernels.count)

        let kernelFiles = Self.sharedKernels.map { TestSupport.sharedArchive + "/" + $0 }
            + Self.fixtureKernels.map { TestSupport.fixtures + "/" + $0 }
        var compared = 0, byCode: [Character: Int] = [:]
        for archive in kernelFiles {
            let release = ((archive as NSString).lastPathComponent as NSString).deletingPathExtension
                .replacingOccurrences(of: ".btf.tar", with: "").replacingOccurrences(of: ".btf", with: "")
            let kernel = try #require(report.kernels.first { $0.release == release }, "no kernel \(release) in the report")
            let btf = try TestSupport.extractedKernel(archive)
            for object in try Self.objects() {
                let oracle = try LibbpfOracle.outcomes(object: object, btf: btf)
                #expect(!oracle.isEmpty, "libbpf relocated nothing in \(object) on \(release)")
                for expected in oracle {
                    guard let r = report.relocations.firstIndex(where: {
                        $0.objectPath == object && $0.sectionName == expected.key.section
                            && $0.indexInSection == expected.key.relocationIndex
                    }) else {
                        Issue.record("\(release) \(object) \(expected.key): libbpf relocated it, the report has no such relocation")
                        continue
                    }
                    let got = kernel.outcomes[r]
                    let what = "\(release) \(report.relocations[r].name) (\(report.relocations[r].kind), \(report.relocations[r].location))"
                    compared += 1
                    byCode[got.code, default: 0] += 1
                    switch (expected.result, got) {
                    case let (.patched(v), .resolved(w)): #expect(v == w, "\(what): libbpf patched \(v), report says \(w)")
                    case (.patched(0), .absent): break
                    case (.poisoned, .poisoned): break
                    case (.failed, .ambiguous), (.failed, .failed): break
                    default: Issue.record("\(what): libbpf \(expected.result), report \(got)")
                    }
                }
            }
        }
        print("compared \(compared) relocation outcomes with libbpf: \(byCode.sorted { $0.key < $1.key })")
        // The kernels were chosen so that every class but `failed` occurs; a comparison that saw only
        // resolved relocations would prove little.
        for code in ["R", "A", "P", "M"] as [Character] { #expect(byCode[code, default: 0] > 0, "no \(code) outcome compared") }

        // task_struct.state became __state in 5.14: the report says so per kernel.
        let newState = try #require(report.relocations.firstIndex { $0.name == "task_struct.__state" && $0.kind == .fieldByteOffset && $0.objectPath.hasSuffix("report_fields.bpf.o") })
        let oldState = try #require(report.relocations.firstIndex { $0.name == "task_struct___report_old.state" && $0.kind == .fieldByteOffset })
        for kernel in report.kernels {
            let modern = kernel.release.hasPrefix("6.")
            #expect(kernel.outcomes[newState].isProblem == !modern, "\(kernel.name): __state \(kernel.outcomes[newState])")
            #expect(kernel.outcomes[oldState].isProblem == modern, "\(kernel.name): state \(kernel.outcomes[oldState])")
        }
        let summary = report.sentence(for: report.coverage[newState])
        #expect(summary.hasPrefix("task_struct.__state (byte_off, report_fields.bpf.o): poisoned (not found) on 5 of 6 kernels: "),
                "\(summary)")
        #expect(summary.contains("centos 8 all 1") && summary.contains("debian 10 all 2") && !summary.contains("debian 12"), "\(summary)")
    }

    @Test("JSON: compact tables, consistent with the outcomes, the same bytes whatever the kernel order", .requiresSharedArchive)
    func json() async throws {
        try TestSupport.requireSharedArchive()
        let tree = try Self.makeTree()
        defer { try? FileManager.default.removeItem(atPath: tree) }
        let report = try await Self.sweepReport(tree: tree)
        let bytes = report.json()
        let shuffled = CoverageReport(input: report.input, objects: report.objects, relocations: report.relocations,
                                      programs: report.programs, kernels: report.kernels.reversed())
        #expect(shuffled.json() == bytes, "kernel order changed the JSON")

        let path = tree + "-coverage.json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try report.writeJSON(to: path)
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        #expect(root["format"] as? String == "btfkit-coverage-report")
        let relocations = try #require(root["relocations"] as? [[String: Any]])
        let kernels = try #require(root["kernels"] as? [[String: Any]])
        let reasons = try #require(root["reasons"] as? [String])
        let groups = try #require(root["groups"] as? [[String: Any]])
        #expect(relocations.count == report.relocations.count)
        #expect(groups.map { $0["label"] as? String } == ["centos 8", "debian 10", "debian 12", "ubuntu 20.04"])
        // Kernels sorted, numbers as numbers: 5.4 before 5.11.
        let names = kernels.compactMap { $0["name"] as? String }
        #expect(names.firstIndex { $0.contains("5.4.0-26") }! < names.firstIndex { $0.contains("5.11.0") }!)
        for (k, kernel) in kernels.enumerated() {
            let outcomes = try #require(kernel["outcomes"] as? String)
            let values = try #require(kernel["values"] as? [Any])
            let pairs = try #require(kernel["reasons"] as? [[Int]])
            #expect(outcomes.count == relocations.count && values.count == relocations.count)
            #expect(String(report.kernels[k].outcomes.map(\.code)) == outcomes)
            for (r, code) in outcomes.enumerated() {
                #expect((values[r] is NSNull) == !"RA".contains(code), "\(names[k]) #\(r) \(code) value \(values[r])")
            }
            // A reason for exactly the outcomes that are not resolved, each pointing into the table.
            #expect(pairs.map { $0[0] } == outcomes.enumerated().filter { "PMF".contains($0.element) }.map(\.offset))
            #expect(pairs.allSatisfy { $0[1] >= 0 && $0[1] < reasons.count })
        }
        for (r, relocation) in relocations.enumerated() {
            let counts = try #require(relocation["counts"] as? [String: Int])
            #expect(counts.values.reduce(0, +) == kernels.count)
            #expect(counts["P"] == report.kernels.filter { $0.outcomes[r].code == "P" }.count)
        }
        // No temporary file left beside it (written atomically).
        let siblings = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
        #expect(!siblings.contains { $0.hasPrefix((path as NSString).lastPathComponent) && $0 != (path as NSString).lastPathComponent })
    }

    @Test("--require-all fails on poisoned, ambiguous or failed relocations, not on existence checks at 0")
    func requireAll() {
        let relocation = { (name: String, kind: CORERelocationKind) in
            CoverageRelocation(objectIndex: 0, objectPath: "p.bpf.o", sectionName: "kprobe/x", indexInSection: 0,
                               instructionOffset: 8, kind: kind, accessString: "0:0", name: name)
        }
        let kernel = { (release: String, outcomes: [CoverageOutcome]) in
            CoverageKernel(name: "ubuntu/20.04/x86_64/\(release)",
                           identity: .init(distro: "ubuntu", version: "20.04", arch: "x86_64", release: release), outcomes: outcomes)
        }
        let fine = CoverageReport(input: "in", objects: ["p.bpf.o"], relocations: [relocation("task_struct.__state", .fieldExists)],
                                  kernels: [kernel("5.4.0-26-generic", [.absent]), kernel("5.15.0-1-generic", [.resolved(1)])])
        #expect(fine.requireAllFailure() == nil)
        #expect(fine.terminalSummary().contains("every relocation resolves on every kernel"))

        let broken = CoverageReport(input: "in", objects: ["p.bpf.o"],
                                    relocations: [relocation("task_struct.__state", .fieldByteOffset), relocation("struct task_struct", .typeIDTarget)],
                                    kernels: [kernel("5.4.0-26-generic", [.poisoned(Self.noMatch), .ambiguous(Self.decisionAmbiguity)]),
                                              kernel("5.15.0-1-generic", [.resolved(24), .ambiguous(Self.decisionAmbiguity)])])
        let message = broken.requireAllFailure()
        #expect(message != nil)
        #expect(message?.contains("task_struct.__state (byte_off") == true && message?.contains("struct task_struct (target_type_id") == true)
        // Worst first: the ambiguity (2 kernels) before the missing field (1 kernel).
        let summary = broken.terminalSummary()
        let ambiguous = summary.range(of: "struct task_struct (target_type_id)"), missing = summary.range(of: "task_struct.__state (byte_off)")
        #expect(ambiguous != nil && missing != nil && ambiguous!.lowerBound < missing!.lowerBound, "\(summary)")
        #expect(summary.contains("poisoned (not found) on 1 of 2 kernels: ubuntu 20.04 1 of 2"), "\(summary)")
    }

    @Test("with verdicts, --require-all fails on X and F only: a guarded poisoned read is fine; JSON version 2 lists the programs")
    func requireAllWithVerdicts() throws {
        let relocation = CoverageRelocation(objectIndex: 0, objectPath: "p.bpf.o", sectionName: "kprobe/x", indexInSection: 0,
                                            instructionOffset: 8, kind: .fieldByteOffset, accessString: "0:0", name: "task_struct.__state")
        let programs = [CoverageProgram(objectIndex: 0, objectPath: "p.bpf.o", name: "guarded", sectionName: "kprobe/x"),
                        CoverageProgram(objectIndex: 0, objectPath: "p.bpf.o", name: "naked", sectionName: "kprobe/y")]
        let kernel = { (release: String, outcome: CoverageOutcome, verdicts: [GuardVerdict]) in
            CoverageKernel(name: "ubuntu/20.04/x86_64/\(release)", identity: .init(distro: "ubuntu", version: "20.04", arch: "x86_64", release: release),
                           outcomes: [outcome], verdicts: verdicts)
        }
        let guarded = CoverageReport(input: "in", objects: ["p.bpf.o"], relocations: [relocation], programs: [programs[0]],
                                     kernels: [kernel("5.4.0-26-generic", .poisoned(Self.noMatch), [.guarded]),
                                               kernel("5.15.0-1-generic", .resolved(24), [.loads])])
        #expect(guarded.requireAllFailure() == nil)
        #expect(guarded.guardedRelocations.map(\.relocationIndex) == [0] && guarded.blockingRelocations.isEmpty)
        #expect(guarded.terminalSummary().contains("guarded (fine)"), "\(guarded.terminalSummary())")
        #expect(guarded.terminalSummary().contains("p.bpf.o: 1 program loads on 2 of 2 kernels"), "\(guarded.terminalSummary())")

        let rejected = CoverageReport(input: "in", objects: ["p.bpf.o"], relocations: [relocation], programs: programs,
                                      kernels: [kernel("5.4.0-26-generic", .poisoned(Self.noMatch), [.guarded, .rejected(sites: [0])]),
                                                kernel("5.15.0-1-generic", .resolved(24), [.loads, .loads])])
        let message = try #require(rejected.requireAllFailure())
        #expect(message.contains("p.bpf.o naked: rejected on 1 of 2 kernels: task_struct.__state (byte_off) not found: ubuntu 20.04 1 of 2"),
                "\(message)")
        #expect(!message.contains("p.bpf.o guarded"), "\(message)")
        #expect(rejected.blockingRelocations.map(\.relocationIndex) == [0] && rejected.guardedRelocations.isEmpty)

        let root = try #require(try JSONSerialization.jsonObject(with: Data(rejected.json())) as? [String: Any])
        #expect(root["version"] as? Int == 2)
        let listed = try #require(root["programs"] as? [[String: Any]])
        #expect(listed.map { $0["name"] as? String } == ["guarded", "naked"])
        #expect(listed.map { $0["verdicts"] as? String } == ["GL", "XL"])
        #expect((listed[1]["rejectedAt"] as? [[Int]]) == [[0, 0]] && (listed[0]["rejectedAt"] as? [[Int]]) == [])
    }

    @Test("btf-trim --report --report-summary --require-all: exit 1 naming the relocations, files written", .requiresSharedArchive)
    func commandLine() throws {
        try TestSupport.requireSharedArchive()
        let tree = try Self.makeTree()
        let out = tree + "-out"
        defer { for path in [tree, out, tree + ".json", tree + ".html"] { try? FileManager.default.removeItem(atPath: path) } }
        let tool = try BTFTrimTool.path()
        let objects = try Self.objects()
        let strict = try TestSupport.run(tool, objects + [tree, "-o", out, "--report", tree + ".json", "--report-html", tree + ".html",
                                                          "--report-summary", "--require-all", "-j", "2"])
        #expect(strict.status == 1, "\(strict.stderr)")
        #expect(strict.stderr.contains("programs that do not load everywhere (worst first):"), "\(strict.stderr)")
        // The kprobe reads kernfs_node.id unguarded: rejected where it is poisoned.
        #expect(strict.stderr.contains("--require-all:") && strict.stderr.contains("report_fields.bpf.o report_fields_kernfs_get: rejected on")
                && strict.stderr.contains("kernfs_node___report.id (byte_off) not found"), "\(strict.stderr)")
        // flavors.bpf.o guards every poisoned read: it loads everywhere, its reads are listed as guarded.
        #expect(strict.stderr.contains("flavors.bpf.o: 1 program loads on 6 of 6 kernels"), "\(strict.stderr)")
        #expect(strict.stderr.contains("guarded (fine):"), "\(strict.stderr)")
        #expect(!strict.stderr.contains("flavors.bpf.o flavors_on_exec"), "\(strict.stderr)")
        #expect(FileManager.default.fileExists(atPath: tree + ".json") && FileManager.default.fileExists(atPath: tree + ".html"))
        // The same run without --require-all succeeds: a report alone does not fail the build.
        let lenient = try TestSupport.run(tool, objects + [tree, "-o", out, "--report", tree + ".json", "-j", "2"])
        #expect(lenient.status == 0, "\(lenient.stderr)")
    }
}
