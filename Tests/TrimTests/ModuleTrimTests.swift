import BTF
import CORE
import Foundation
@testable import TestSupport
import Testing
import Trim

/// `btf-trim OBJ KERNEL --module MOD -o OUT`: candidates as libbpf's `bpf_core_find_cands` finds
/// them on a running kernel with the module loaded (vmlinux first, the module only where vmlinux
/// has none), one standalone renumbered BTF out. The oracle is libbpf itself: loading the object
/// with `btf_custom_path` = OUT must give, relocation by relocation, what the engine computes on
/// vmlinux + module.
@Suite("trimming with kernel modules")
struct ModuleTrimTests {
    static func conntrackFixture() throws -> (object: String, moduleArchive: String, module: String, kernel: String) {
        let object = try #require(try TestSupport.compiledBPFObjects().first { $0.hasSuffix("/nf_conntrack.bpf.o") })
        let (moduleArchive, kernelArchive) = try #require(TestSupport.moduleArchives(under: TestSupport.fixtures)
            .first { $0.module.hasSuffix("/nf_conntrack.btf.tar.xz") })
        return (object, moduleArchive, try TestSupport.extractedKernel(moduleArchive), try TestSupport.extractedKernel(kernelArchive))
    }

    @Test("nf_conntrack.bpf.c trimmed against vmlinux + nf_conntrack: libbpf accepts the standalone file and decides as the engine does on both")
    func conntrackProgram() throws {
        let f = try Self.conntrackFixture()
        let base = try BTF(contentsOf: f.kernel)
        let combined = try BTF.combining(modules: [try BTF(contentsOf: f.module, base: base)])
        let object = try BPFObject(contentsOf: f.object)
        let results = CORERelocator(target: combined).resolveAll(in: object)
        let vmlinuxEnd = try #require(combined.split).typeCount
        let roots = results.flatMap { $0.targetSpecs.map(\.rootTypeID) }
        #expect(roots.contains { $0.index >= vmlinuxEnd }, "some relocation must resolve to a module type")
        #expect(roots.contains { $0.index < vmlinuxEnd }, "some relocation must resolve to a vmlinux type")
        // file_system_type is in vmlinux and duplicated in the module: only vmlinux's is a candidate.
        let fsType = results.filter { r in r.targetSpecs.contains { combined.name($0.rootTypeID) == "file_system_type" } }
        #expect(!fsType.isEmpty && fsType.allSatisfy { $0.candidateIDs.allSatisfy { $0.index < vmlinuxEnd } })
        #expect(combined.ownTypeIDs.contains { combined.name($0) == "file_system_type" }, "the module duplicates file_system_type")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("btfkit-modtrim-\(getpid())-\(UInt32.random(in: 0 ... .max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/vmlinux+nf_conntrack.btf"
        let tool = try DumpComparison.builtExecutable("btf-trim")
        let run = try TestSupport.run(tool, [f.object, f.kernel, "--module", f.moduleArchive, "-o", out])
        try #require(run.status == 0, "btf-trim --module: \(run.stderr)")
        let trimmed = try BTF(contentsOf: out)
        #expect(trimmed.split == nil, "one standalone file")
        #expect(trimmed.typeIDs.contains { trimmed.name($0) == "nf_conntrack_helper" && trimmed.kind($0) == .structure })
        #expect(trimmed.typeCount < 200, "trimmed to what the relocations need (\(trimmed.typeCount) types)")
        #expect(try Bpftool.dumpDifference(file: out, expected: trimmed.dumpText()) == nil, "bpftool reads the output")

        guard TestSupport.isRoot else { return TestSupport.skipPart("libbpf's own relocation decisions on the output need root") }
        let oracle = try LibbpfOracle.outcomes(object: f.object, btf: out)
        #expect(oracle.count == results.count, "libbpf reached every relocation (\(oracle.count) of \(results.count))")
        let report = try COREComparison.compare(engine: results, object: f.object, oracle: oracle,
                                                context: "nf_conntrack.bpf.o on vmlinux+nf_conntrack (trimmed)",
                                                targetIDsComparable: false, candidateIDsComparable: false)
        #expect(report.patched > 0)
        print("ModuleTrimTests: \(report.compared) relocations compared (\(report.summary)); \(trimmed.typeCount - 1) types kept")

        // Without the module, libbpf cannot resolve the module's types from vmlinux alone.
        let vmlinuxOnly = dir + "/vmlinux-only.btf"
        let plain = try TestSupport.run(tool, [f.object, f.kernel, "-o", vmlinuxOnly])
        try #require(plain.status == 0, "btf-trim: \(plain.stderr)")
        let without = try LibbpfOracle.outcomes(object: f.object, btf: vmlinuxOnly)
        #expect(without.filter { $0.result == .poisoned }.count > oracle.filter { $0.result == .poisoned }.count,
                "the module's types make a difference")
    }

    @Test("several modules combine into one id space; the first module's ids stay, the second's follow")
    func combiningModules() throws {
        let modules = TestSupport.moduleArchives(under: TestSupport.fixtures)
        let kernelArchive = try #require(modules.first).kernel
        let base = try BTF(contentsOf: try TestSupport.extractedKernel(kernelArchive))
        let split = try modules.filter { $0.kernel == kernelArchive }.map { try BTF(contentsOf: TestSupport.extractedKernel($0.module), base: base) }
        try #require(split.count >= 2)
        let combined = try BTF.combining(modules: split)
        #expect(combined.typeCount == base.typeCount + split.map { $0.typeCount - base.typeCount }.reduce(0, +))
        // Every module type reads the same through the combined ids: same kind, name and member names.
        var firstID = base.typeCount
        for module in split {
            for id in module.ownTypeIDs {
                let shifted = TypeID(UInt32(firstID + id.index - base.typeCount))
                #expect(combined.kind(shifted) == module.kind(id) && combined.name(shifted) == module.name(id))
                if module.type(id).kind.isComposite {
                    let a = module.members(of: module.type(id)), b = combined.members(of: combined.type(shifted))
                    #expect(a.map { module.name($0.type) } == b.map { combined.name($0.type) })
                }
            }
            firstID += module.typeCount - base.typeCount
        }
        #expect(throws: BTFError.self) { try BTF.combining(modules: [base]) }
    }

    @Test("--with-modules trims each kernel of a tree with the modules in <release>.modules/ beside it")
    func treeWithModules() throws {
        let f = try Self.conntrackFixture()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("btfkit-modtree-\(getpid())-\(UInt32.random(in: 0 ... .max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let arch = dir + "/in/debian/12/x86_64"
        try FileManager.default.createDirectory(atPath: arch + "/6.1.0-50-cloud-amd64.modules", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: f.kernel, toPath: arch + "/6.1.0-50-cloud-amd64.btf")
        try FileManager.default.copyItem(atPath: f.moduleArchive, toPath: arch + "/6.1.0-50-cloud-amd64.modules/nf_conntrack.btf.tar.xz")
        let tool = try DumpComparison.builtExecutable("btf-trim")
        for withModules in [true, false] {
            let out = dir + (withModules ? "/with" : "/without")
            let run = try TestSupport.run(tool, [f.object, dir + "/in", "-o", out] + (withModules ? ["--with-modules"] : []))
            try #require(run.status == 0, "btf-trim: \(run.stderr)")
            let trimmed = try BTF(contentsOf: out + "/debian/12/x86_64/6.1.0-50-cloud-amd64.btf")
            let hasHelper = trimmed.typeIDs.contains { trimmed.name($0) == "nf_conntrack_helper" && trimmed.kind($0) == .structure }
            #expect(hasHelper == withModules, "with modules: \(withModules)")
        }
        // The standalone single-kernel run gives the same bytes as the tree run with modules.
        let single = dir + "/single.btf"
        let run = try TestSupport.run(tool, [f.object, arch + "/6.1.0-50-cloud-amd64.btf", "--module",
                                             arch + "/6.1.0-50-cloud-amd64.modules/nf_conntrack.btf.tar.xz", "-o", single])
        try #require(run.status == 0, "btf-trim --module: \(run.stderr)")
        #expect(try FileIO.read(single) == FileIO.read(dir + "/with/debian/12/x86_64/6.1.0-50-cloud-amd64.btf"))
    }

    @Test("--module needs a single kernel file INPUT")
    func moduleNeedsSingleKernel() throws {
        let f = try Self.conntrackFixture()
        let tool = try DumpComparison.builtExecutable("btf-trim")
        let run = try TestSupport.run(tool, [f.object, TestSupport.fixtures + "/debian", "--module", f.moduleArchive, "-o", "/tmp/btfkit-never"])
        #expect(run.status == 2 && run.stderr.contains("--module applies to a single kernel file"), "\(run.stderr)")
    }
}
