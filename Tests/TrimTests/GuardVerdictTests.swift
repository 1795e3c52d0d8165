import BTF
import CORE
import Foundation
@testable import TestSupport
import Testing
@testable import Trim

/// Per-program verdicts (L loads, G guarded, X a poisoned instruction is reachable, F relocation
/// fails) checked against this machine's verifier: every program of every test object is loaded
/// with `btf_custom_path` set to a test kernel's BTF (tools/verifier-oracle.c) and the verifier's
/// answer must be the one the guard analysis predicts.
@Suite("Guard analysis: per-program verdicts agree with the verifier", .serialized)
struct GuardVerdictTests {
    /// Our verdicts for `objects` on one kernel, by program name per object.
    struct KernelVerdicts {
        /// The raw BTF, and the btfhub archive it came from (whose directory is its distro version).
        var path: String
        var archive = ""
        var verdicts: [String: GuardVerdict]
        var signature: String
    }

    static func verdicts(objects: [BPFObject], table: CoverageRelocationTable, kernel path: String,
                         cache: inout CoverageRelocationTable.VerdictCache) throws -> KernelVerdicts {
        let kernel = try BTF(contentsOf: path)
        let relocator = CORERelocator(target: kernel)
        let outcomes = table.classify(objects.map { relocator.resolveAll(in: $0) })
        let verdicts = table.verdicts(for: outcomes, cache: &cache)
        var byName: [String: GuardVerdict] = [:]
        for (program, verdict) in zip(table.programs, verdicts) { byName[program.objectName + " " + program.name] = verdict }
        // Kernels whose relocations come out the same way (codes) and whose verdicts are the same
        // are the same case for the verifier.
        let signature = String(outcomes.map(\.code)) + "/" + String(verdicts.map(\.code))
        return KernelVerdicts(path: path, verdicts: byName, signature: signature)
    }

    /// A sample of `kernels` for the (slow) verifier: one kernel per distinct signature, plus the
    /// first and last kernel of every distro version directory.
    static func sample(_ kernels: [KernelVerdicts]) -> [KernelVerdicts] {
        var chosen: [String: KernelVerdicts] = [:]
        var signatures = Set<String>()
        for kernel in kernels where signatures.insert(kernel.signature).inserted { chosen[kernel.path] = kernel }
        let byDirectory = Dictionary(grouping: kernels) { ($0.archive as NSString).deletingLastPathComponent }
        for (_, members) in byDirectory {
            for kernel in [members.first, members.last].compactMap({ $0 }) { chosen[kernel.path] = kernel }
        }
        return chosen.values.sorted { $0.path < $1.path }
    }

    @Test("every program of the test objects, on a sample of the 85 shared kernels and the fixtures: X exactly when the verifier hits a poisoned instruction", .requiresRoot)
    func agreesWithVerifier() throws {
        try TestSupport.requireRoot("it loads every program into this kernel's verifier")
        let paths = try TestSupport.compiledBPFObjects()
        let objects = try paths.map { try BPFObject(contentsOf: $0) }
        let table = try CoverageRelocationTable(objects: objects)
        var cache = CoverageRelocationTable.VerdictCache()
        var archives = TestSupport.kernelArchives(under: TestSupport.fixtures)
        if TestSupport.sharedArchiveAvailable() { archives += TestSupport.kernelArchives(under: TestSupport.sharedArchive) }
        let ours = try archives.map { archive in
            var kernel = try GuardVerdictTests.verdicts(objects: objects, table: table, kernel: try TestSupport.extractedKernel(archive), cache: &cache)
            kernel.archive = archive
            return kernel
        }
        let sampled = GuardVerdictTests.sample(ours)
        print("guard verdicts: \(table.programs.count) programs in \(objects.count) objects; \(ours.count) kernels analysed, "
              + "\(sampled.count) checked with the verifier (one per distinct outcome signature, first and last per distro version)")

        let oracle = try VerifierOracle.path()
        var compared = 0, guarded = 0, rejected = 0, skipped = 0
        var disagreements: [String] = []
        var codes = Set<Character>()
        for (path, object) in zip(paths, objects) {
            let name = (object.path as NSString).lastPathComponent
            let result = try TestSupport.run(oracle, [path] + sampled.map(\.path))
            #expect(result.status == 0, "verifier-oracle \(name): \(result.stderr)")
            for line in String(decoding: result.stdout, as: UTF8.self).split(separator: "\n") {
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                guard fields.count >= 3, let kernel = sampled.first(where: { $0.path == fields[0] }) else {
                    Issue.record("unexpected verifier-oracle line: \(line)"); continue
                }
                guard let verdict = kernel.verdicts[name + " " + fields[1]] else {
                    Issue.record("\(name): the verifier loaded program \(fields[1]), which the analysis does not list"); continue
                }
                let expected: String
                switch fields[2] {
                case "accepted": expected = "LG"
                case "poisoned": expected = "X"
                case "relo-failed": expected = "F"
                case "skipped": skipped += 1; continue
                case "rejected" where line.contains("cannot pass map_type"):
                    // A ring buffer turned into a perf event array (the BTF has no struct bpf_ringbuf)
                    // under a program that calls bpf_ringbuf_* unconditionally: not a CO-RE question.
                    skipped += 1; continue
                default:
                    // Rejected for another reason: the test objects must load on this kernel.
                    Issue.record("\(name) \(fields[1]) on \(fields[0]): the verifier rejects it for another reason: \(line)")
                    continue
                }
                compared += 1
                codes.insert(verdict.code)
                if verdict == .guarded { guarded += 1 }
                if case .rejected = verdict { rejected += 1 }
                if !expected.contains(verdict.code) {
                    disagreements.append("\(name) \(fields[1]) on \((fields[0] as NSString).lastPathComponent): "
                                         + "ours \(verdict.code), verifier \(fields[2])")
                }
            }
        }
        print("guard verdicts: \(compared) program x kernel pairs compared (\(guarded) G, \(rejected) X), \(skipped) skipped")
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements:\n\(disagreements.joined(separator: "\n"))")
        // The objects must exercise every verdict the verifier can check.
        #expect(codes.isSuperset(of: ["L", "G", "X"]), "verdicts seen: \(codes.sorted())")
    }

    @Test("const volatile .rodata values decide guards: a 0 pointer makes the read dead (G), a true flag live (X); .bss is not read")
    func readOnlyDataGuards() throws {
        let path = try #require(try TestSupport.compiledBPFObjects().first { $0.hasSuffix("/guards.bpf.o") })
        let image = try BPFProgramImage(elf: try ELFFile(contentsOf: path), path: path)
        // Two loads of .rodata globals (the pointer at 0, the flag at 8); guards_result lives in
        // .bss, which a program may write: its loads are not read-only pointers.
        #expect(image.readOnlyData.map(\.name) == [".rodata"])
        let pointers = image.readOnlyLoads.values.sorted { $0.offset < $1.offset }
        #expect(pointers.map(\.offset) == [0, 8], "\(pointers)")
        #expect(image.readOnlyValue(data: 0, offset: 0, size: 8) == 0 && image.readOnlyValue(data: 0, offset: 8, size: 1) == 1)
        #expect(image.readOnlyValue(data: 0, offset: 8, size: 2) == nil, "a read past the section's end is unknown")

        // A kernel since 5.14 has no task_struct.state: the old-layout reads are poisoned there.
        let object = try BPFObject(contentsOf: path)
        let table = try CoverageRelocationTable(objects: [object])
        var cache = CoverageRelocationTable.VerdictCache()
        let archive = TestSupport.fixtures + "/debian/12/x86_64/6.1.0-50-cloud-amd64.btf.tar.xz"
        let kernel = try GuardVerdictTests.verdicts(objects: [object], table: table, kernel: try TestSupport.extractedKernel(archive), cache: &cache)
        #expect(kernel.verdicts["guards.bpf.o guard_rodata_pointer"] == .guarded)
        #expect(kernel.verdicts["guards.bpf.o guard_rodata_flag"]?.code == "X")
    }
}

/// `tools/verifier-oracle.c`, compiled once per test process.
enum VerifierOracle {
    static func path() throws -> String { try built.get() }

    private static let built = Result<String, any Error> {
        try TestSupport.buildCHelper(TestSupport.packageRoot + "/tools/verifier-oracle.c", named: "verifier-oracle")
    }
}
