import BTF
import CORE
import Foundation
@testable import TestSupport
import Testing
import Trim

/// The proof against libbpf: for every project BPF object and every kernel, libbpf (tools/core-oracle,
/// loading the object with `btf_custom_path`) makes the same CO-RE relocation decisions from BTFKit's
/// trimmed BTF as from the full kernel BTF (type ids of `type_id_target` excepted: they are renumbered).
/// `bpftool gen min_core_btf` runs on the same inputs; its output's decisions and size are compared
/// and every difference is printed.
///
/// Needs root (libbpf creates maps before relocating): skipped otherwise, a failure under CI=true.
/// Kernels are processed in parallel, one per core.
@Suite(.serialized) struct TrimProofTests {
    @Test(.requiresRoot) func libbpfDecidesTheSameOnTrimmedAndFullBTF() async throws {
        try TestSupport.requireRoot()
        let started = Date()
        let objectPaths = try TestSupport.compiledBPFObjects()
        let objects = try objectPaths.map { try BPFObject(contentsOf: $0) }
        let kernels = try TestSupport.allKernels()
        #expect(!kernels.isEmpty)
        _ = try LibbpfOracle.executable.get()
        let context = ProofContext(objectPaths: objectPaths, objects: objects)

        var reports: [KernelProof] = []
        let parallelism = max(1, ProcessInfo.processInfo.activeProcessorCount)
        try await withThrowingTaskGroup(of: KernelProof.self) { group in
            var next = 0
            func launch() {
                guard next < kernels.count else { return }
                let kernel = kernels[next]
                next += 1
                group.addTask { try context.prove(kernel: kernel) }
            }
            for _ in 0 ..< parallelism { launch() }
            while let report = try await group.next() {
                reports.append(report)
                launch()
            }
        }
        reports.sort { $0.kernel < $1.kernel }
        let elapsed = Date().timeIntervalSince(started)

        print(KernelProof.table(reports))
        for report in reports {
            for mismatch in report.oursMismatches { Issue.record("\(report.kernel): \(mismatch)") }
            for note in report.notes { print("NOTE \(report.kernel): \(note)") }
        }
        let refused = reports.filter { $0.bpftoolError != nil || !$0.bpftoolRefused.isEmpty }
        let larger = reports.filter { $0.bpftoolSize != nil && $0.comparableOursSize > $0.bpftoolSize! }
        let bpftoolDiverging = reports.filter { !$0.bpftoolMismatches.isEmpty }
        let total = reports.reduce(0) { $0 + $1.relocationsCompared }
        print("""
            TrimProof: \(reports.count) kernels x \(objects.count) objects, \(total) relocation outcomes compared \
            in \(String(format: "%.1f", elapsed)) s (\(parallelism) in parallel); BTFKit trimming \
            \(String(format: "%.2f", reports.reduce(0) { $0 + $1.trimSeconds })) s in total, slowest \
            \(String(format: "%.3f", reports.map(\.trimSeconds).max() ?? 0)) s.
            bpftool refused \(refused.count) kernels (some or all objects); BTFKit larger than bpftool on \(larger.count); \
            bpftool's output changed libbpf's decisions on \(bpftoolDiverging.count); \
            `bpftool btf dump` identical for BTFKit's and bpftool's output on \(reports.filter(\.sameTypesAsBpftool).count) \
            of \(reports.filter { $0.bpftoolSize != nil }.count) kernels.
            """)
        for report in refused {
            print("bpftool refused \(report.kernel): " + (report.bpftoolRefused + [report.bpftoolError].compactMap { $0 }).joined(separator: "; "))
        }
        for report in larger {
            print("BTFKit larger on \(report.kernel): \(report.comparableOursSize) > \(report.bpftoolSize!) bytes: \(report.largerWhy)")
        }
        for report in bpftoolDiverging {
            for mismatch in report.bpftoolMismatches.prefix(5) { print("bpftool diverges on \(report.kernel): \(mismatch)") }
        }
    }
}

extension TrimProofTests {
    /// The CO-RE unit cases of bpf/core-cases (flavors that agree or disagree, pruned candidates,
    /// bitfields, access limits, type and enum relocations) against their own target BTF: libbpf
    /// decides the same on the trimmed target, with both candidate retentions, failures included.
    @Test(.requiresRoot) func coreCasesDecideTheSameOnTrimmedTargets() throws {
        try TestSupport.requireRoot()
        let dir = TestSupport.packageRoot + "/bpf/core-cases"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".c") }
            .map { String($0.dropLast(2)) }.sorted()
        #expect(!names.isEmpty)
        var compared = 0, failures = 0
        for name in names {
            let fixture = try COREFixtures.caseFixture(name)
            let object = try BPFObject(contentsOf: fixture.object)
            let target = try BTF(contentsOf: fixture.targetBTF)
            let kinds = ProofTools.relocationKinds(object)
            let onFull = try ProofTools.decisions(object: fixture.object, btf: fixture.targetBTF, kinds: kinds)
            compared += onFull.outcomes.count
            failures += onFull.outcomes.values.filter { $0.contains(": failed") }.count
            let relocations = [CORERelocator(target: target).resolveAll(in: object)]
            // The targets are clang objects' .BTF, which the kernel refuses (a .bss DATASEC of size 0
            // before libbpf fixes it up); the trimmed BTF must load whenever it has nothing the kernel
            // refuses in the full one, i.e. unless the case is about nesting deeper than the kernel's 32.
            let kernelAcceptsTrimmed = name != "limits"
            for retention in [CandidateRetention.minimal, .allMatching] {
                let trimmed = try Trimmer(objects: [object], retention: retention).minimize(kernel: target, relocations: relocations)
                let path = TestSupport.cache + "/core-cases/\(name).trimmed-\(retention == .minimal ? "minimal" : "all").btf"
                try FileIO.writeAtomically(trimmed.minimized.serialized(), to: path)
                let decisions = try ProofTools.decisions(object: fixture.object, btf: path, kinds: kinds)
                for difference in ProofTools.differences(onFull, decisions) {
                    Issue.record("core case \(name), \(retention) retention: \(difference)")
                }
                let load = try TestSupport.run(try BTFCheckTool.path(), ["load", path])
                if kernelAcceptsTrimmed { #expect(load.status == 0, "the kernel rejects \(path): \(load.stderr)") }
            }
        }
        print("TrimProof core cases: \(names.count) cases, \(compared) relocation outcomes compared (\(failures) libbpf failures reproduced)")
    }
}

/// What one kernel's proof found.
struct KernelProof: Sendable {
    var kernel: String
    var fullSize: Int
    var oursSize: Int
    var oursAllMatchingSize: Int
    var bpftoolSize: Int?
    /// bpftool failed on every subset of the objects.
    var bpftoolError: String?
    /// Objects bpftool refused for this kernel, with its reason; its size is for the other objects.
    var bpftoolRefused: [String] = []
    /// BTFKit's size for the objects bpftool accepted, when it refused some.
    var oursOnBpftoolSubsetSize: Int?
    /// BTFKit's size for the same objects as bpftool's output.
    var comparableOursSize: Int { oursOnBpftoolSubsetSize ?? oursSize }
    var trimSeconds: Double
    var relocationsCompared = 0
    /// libbpf decided differently on BTFKit's output than on the full BTF: the test fails.
    var oursMismatches: [String] = []
    /// libbpf decided differently on bpftool's output than on the full BTF: reported.
    var bpftoolMismatches: [String] = []
    var largerWhy = ""
    /// `bpftool btf dump` prints the same for BTFKit's output as for bpftool's (same objects).
    var sameTypesAsBpftool = false
    var notes: [String] = []

    static func table(_ reports: [KernelProof]) -> String {
        var lines = ["kernel | full bytes | bpftool bytes | BTFKit bytes (same objects) | BTFKit bytes, all objects | all-candidates retention | trim s (debug build)"]
        for r in reports {
            var bpftool = r.bpftoolSize.map(String.init) ?? "refused"
            if r.bpftoolSize != nil, !r.bpftoolRefused.isEmpty { bpftool += " (without \(r.bpftoolRefused.count) refused)" }
            lines.append("\(r.kernel) | \(r.fullSize) | \(bpftool) | \(r.bpftoolSize == nil ? "-" : String(r.comparableOursSize)) | \(r.oursSize) | \(r.oursAllMatchingSize) | \(String(format: "%.3f", r.trimSeconds))")
        }
        return lines.joined(separator: "\n")
    }
}

/// The objects and tools shared by every kernel's proof.
struct ProofContext: Sendable {
    var objectPaths: [String]
    var objects: [BPFObject]

    func prove(kernel path: String) throws -> KernelProof {
        let name = ProofTools.kernelName(path)
        let dir = TestSupport.cache + "/trim-proof/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let full = try BTF(contentsOf: path)

        let clock = ContinuousClock()
        var trimmed: TrimResult!
        let duration = try clock.measure { trimmed = try Trimmer(objects: objects).trim(kernel: full) }
        let allMatching = try Trimmer(objects: objects, retention: .allMatching).minimize(kernel: full, relocations: trimmed.relocations)
        let oursPath = dir + "/btfkit.btf", allPath = dir + "/btfkit-all.btf", bpftoolPath = dir + "/bpftool.btf"
        let subsetPath = dir + "/btfkit-bpftool-objects.btf"
        let ours = trimmed.minimized.serialized()
        try FileIO.writeAtomically(ours, to: oursPath)
        try FileIO.writeAtomically(allMatching.minimized.serialized(), to: allPath)

        var report = KernelProof(kernel: name, fullSize: full.serialized().count, oursSize: ours.count,
                                 oursAllMatchingSize: allMatching.minimized.serialized().count,
                                 trimSeconds: Double(duration.components.attoseconds) / 1e18 + Double(duration.components.seconds))
        if trimmed.minimized.byteOrder != full.byteOrder { report.oursMismatches.append("output byte order differs from the input's") }

        // bpftool refuses a kernel when one relocation fails in libbpf; it names the object. Without
        // the objects it refuses, it still trims for the others: compare sizes on that subset.
        var bpftoolObjects = Array(objectPaths.indices)
        while !bpftoolObjects.isEmpty {
            try? FileManager.default.removeItem(atPath: bpftoolPath)
            let bpftool = try TestSupport.run("bpftool", ["gen", "min_core_btf", path, bpftoolPath] + bpftoolObjects.map { objectPaths[$0] })
            if bpftool.status == 0, let size = try? FileManager.default.attributesOfItem(atPath: bpftoolPath)[.size] as? Int {
                report.bpftoolSize = size
                break
            }
            let reason = bpftool.stderr.split(separator: "\n").filter { !$0.isEmpty }.suffix(2).joined(separator: " / ")
            guard let refused = bpftoolObjects.first(where: { bpftool.stderr.contains("relocations for \(objectPaths[$0]):") }) else {
                report.bpftoolError = reason
                break
            }
            report.bpftoolRefused.append("\((objectPaths[refused] as NSString).lastPathComponent) (\(reason))")
            bpftoolObjects.removeAll { $0 == refused }
        }
        var comparableOurs = trimmed.minimized
        if report.bpftoolSize != nil, bpftoolObjects.count < objects.count {
            comparableOurs = try Trimmer(objects: bpftoolObjects.map { objects[$0] })
                .minimize(kernel: full, relocations: bpftoolObjects.map { trimmed.relocations[$0] }).minimized
            let bytes = comparableOurs.serialized()
            report.oursOnBpftoolSubsetSize = bytes.count
            try FileIO.writeAtomically(bytes, to: subsetPath)
        }

        // The kernel running the tests accepts the output as BTF (big-endian inputs excepted: the
        // kernel only loads its own byte order).
        if full.byteOrder == .host {
            let load = try TestSupport.run(try BTFCheckTool.path(), ["load", oursPath])
            if load.status != 0 { report.oursMismatches.append("the kernel rejects the trimmed BTF: \(load.stderr)") }
        }

        for (index, object) in objects.enumerated() {
            let objectPath = objectPaths[index]
            let objectName = (objectPath as NSString).lastPathComponent
            let kinds = ProofTools.relocationKinds(object)
            let onFull = try ProofTools.decisions(object: objectPath, btf: path, kinds: kinds)
            for (label, candidate) in [("BTFKit", oursPath), ("BTFKit all-candidates", allPath)] {
                let decisions = try ProofTools.decisions(object: objectPath, btf: candidate, kinds: kinds)
                report.oursMismatches += ProofTools.differences(onFull, decisions).map { "\(objectName) on \(label) output: \($0)" }
            }
            report.relocationsCompared += onFull.outcomes.count
            if report.bpftoolSize != nil, bpftoolObjects.contains(index) {
                let decisions = try ProofTools.decisions(object: objectPath, btf: bpftoolPath, kinds: kinds)
                report.bpftoolMismatches += ProofTools.differences(onFull, decisions).map { "\(objectName): \($0)" }
            }
        }
        if report.bpftoolSize != nil {
            // Same types in the same order (the string tables may be laid out differently)?
            let oursDump = try TestSupport.run("bpftool", ["btf", "dump", "file", bpftoolObjects.count < objects.count ? subsetPath : oursPath])
            let theirsDump = try TestSupport.run("bpftool", ["btf", "dump", "file", bpftoolPath])
            report.sameTypesAsBpftool = oursDump.status == 0 && oursDump.stdout == theirsDump.stdout
        }
        if let bpftoolSize = report.bpftoolSize, report.comparableOursSize > bpftoolSize {
            report.largerWhy = try ProofTools.explainLarger(ours: comparableOurs, bpftool: BTF(contentsOf: bpftoolPath))
        }
        return report
    }
}

/// libbpf's decisions for one object.
struct OracleDecisions: Equatable {
    /// "SECTION #INDEX" -> "PROGRAM: patched VALUE" | "PROGRAM: poisoned" | "PROGRAM: failed ERRNO MESSAGE"
    /// (type ids masked). A relocation libbpf did not reach has no entry.
    var outcomes: [String: String] = [:]
}

enum ProofTools {
    /// The kernel release and, for the fixtures' byte-swapped copy, its suffix (`4.18.0-147.el8.x86_64`).
    static func kernelName(_ path: String) -> String {
        let file = (path as NSString).lastPathComponent
        return file.hasSuffix(".btf") ? String(file.dropLast(4)) : file
    }

    /// The relocation kind of every "SECTION #INDEX", to know which values are target type ids.
    static func relocationKinds(_ object: BPFObject) -> [String: CORERelocationKind] {
        var kinds: [String: CORERelocationKind] = [:]
        for section in object.ext?.coreRelocations ?? [] {
            let name = object.btf.string(section.sectionNameOffset)
            for (index, record) in section.records.enumerated() { kinds["\(name) #\(index)"] = record.kind }
        }
        return kinds
    }

    /// libbpf's outcome per relocation (tools/core-oracle through `LibbpfOracle`), with the values
    /// that are type ids of the target masked.
    static func decisions(object: String, btf: String, kinds: [String: CORERelocationKind]) throws -> OracleDecisions {
        var decisions = OracleDecisions()
        for outcome in try LibbpfOracle.outcomes(object: object, btf: btf) {
            let key = "\(outcome.key.section) #\(outcome.key.relocationIndex)"
            let targetID = kinds[key] == .typeIDTarget
            let text: String
            switch outcome.result {
            case .patched(let value): text = "patched " + (targetID ? "<type id>" : String(value))
            case .poisoned: text = "poisoned"
            case .failed(let errno, let message): text = "failed \(errno) " + normalize(message, maskAllNumbers: targetID)
            }
            decisions.outcomes[key] = "\(outcome.program): \(text)"
        }
        return decisions
    }

    /// Type ids (`[123]`) and candidate numbers (`#4`) in libbpf's messages depend on the BTF's
    /// numbering; for `type_id_target` every number is an id.
    static func normalize(_ message: String, maskAllNumbers: Bool) -> String {
        var text = message.replacingOccurrences(of: #"\[\d+\]"#, with: "[id]", options: .regularExpression)
        text = text.replacingOccurrences(of: #"#\d+"#, with: "#n", options: .regularExpression)
        if maskAllNumbers { text = text.replacingOccurrences(of: #"\d+"#, with: "n", options: .regularExpression) }
        return text
    }

    static func differences(_ full: OracleDecisions, _ other: OracleDecisions) -> [String] {
        var out: [String] = []
        for key in Set(full.outcomes.keys).union(other.outcomes.keys).sorted() where full.outcomes[key] != other.outcomes[key] {
            out.append("\(key): full BTF gives \(full.outcomes[key] ?? "nothing"), trimmed gives \(other.outcomes[key] ?? "nothing")")
        }
        return out
    }

    /// Why BTFKit's output is bigger than bpftool's: the types and members only BTFKit keeps.
    static func explainLarger(ours: BTF, bpftool: BTF) throws -> String {
        func census(_ btf: BTF) -> [String: Int] {
            var counts: [String: Int] = [:]
            for id in btf.typeIDs {
                let t = btf.type(id)
                let members = t.kind.isComposite ? "{" + btf.members(of: t).map { btf.string($0.nameOffset) }.joined(separator: ",") + "}" : ""
                counts["\(t.kind) \(btf.name(id))\(members)", default: 0] += 1
            }
            return counts
        }
        let a = census(ours), b = census(bpftool)
        let extra = a.compactMap { key, count in count > (b[key] ?? 0) ? "\(key) x\(count - (b[key] ?? 0))" : nil }.sorted()
        return "\(ours.typeCount - 1) vs \(bpftool.typeCount - 1) types; only in BTFKit: " + extra.prefix(12).joined(separator: "; ")
    }
}
