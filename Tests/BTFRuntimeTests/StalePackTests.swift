import Archive
import BTF
import BTFRuntime
import CORE
import Foundation
@testable import TestSupport
import Testing

/// A pack records what its kernels were trimmed for (docs/pack-format.md), and every front end
/// refuses a pack trimmed for other CO-RE relocations than the object it serves: two builds of one
/// program (the second reads one more field), and a program asking for a subset (accepted).
@Suite("Stale packs: the pack's record of what it was trimmed for against the object", .serialized)
struct StalePackTests {
    /// One source, three builds: `base` reads tgid and comm, `withFlags` (a field added to the
    /// event) also reads task->flags, `subset` reads tgid only.
    static let source = """
    #include "kernel_types.h"
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_core_read.h>
    struct stale_event {
    \tint pid;
    #ifdef WITH_FLAGS
    \tunsigned int flags;
    #endif
    \tchar comm[16];
    };
    struct {
    \t__uint(type, BPF_MAP_TYPE_RINGBUF);
    \t__uint(max_entries, 4096);
    } events SEC(".maps");
    SEC("tracepoint/syscalls/sys_enter_execve")
    int stale_execve(void *ctx)
    {
    \tstruct task_struct *task = (struct task_struct *)bpf_get_current_task();
    \tstruct stale_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    \tif (!event)
    \t\treturn 0;
    \tevent->pid = BPF_CORE_READ(task, tgid);
    #ifdef WITH_FLAGS
    \tevent->flags = BPF_CORE_READ(task, flags);
    #endif
    #ifndef SUBSET
    \tBPF_CORE_READ_STR_INTO(&event->comm, task, comm);
    #endif
    \tbpf_ringbuf_submit(event, 0);
    \treturn 0;
    }
    char LICENSE[] SEC("license") = "GPL";
    """

    struct Setup {
        var base: String, withFlags: String, subset: String
        /// btfhub-fixtures trimmed for `base` by btf-trim, and its pack.
        var tree: String, pack: String
    }

    static let setup = Result<Setup, any Error> {
        let directory = PackFixtures.temporaryPath("stale")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try source.write(toFile: directory + "/stale.bpf.c", atomically: true, encoding: .utf8)
        func compile(_ name: String, _ defines: [String]) throws -> String {
            let out = directory + "/\(name).bpf.o"
            let run = try TestSupport.run("clang", ["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I", TestSupport.packageRoot + "/bpf/include"]
                                          + defines + ["-c", directory + "/stale.bpf.c", "-o", out])
            guard run.status == 0 else { throw TestSupportError("clang failed for \(name): \(run.stderr)") }
            return out
        }
        let base = try compile("base", [])
        let tree = directory + "/trimmed"
        let trim = try TestSupport.run(try PackFixtures.product("btf-trim"), [base, TestSupport.fixtures + "/debian", "-o", tree])
        guard trim.status == 0 else { throw TestSupportError("btf-trim failed: \(trim.stderr)") }
        let pack = directory + "/base.tar.xz"
        let packed = try TestSupport.run(try PackFixtures.product("btf-pack"), [tree, "-o", pack])
        guard packed.status == 0 else { throw TestSupportError("btf-pack failed: \(packed.stderr)") }
        return Setup(base: base, withFlags: try compile("with-flags", ["-DWITH_FLAGS"]), subset: try compile("subset", ["-DSUBSET"]),
                     tree: tree, pack: pack)
    }

    @Test("btf-trim records the objects' relocations; the pack keeps the record as its first member, which tar lists and the selector ignores")
    func theRecordTravelsIntoThePack() throws {
        let s = try Self.setup.get()
        let expected = CORERelocationSet(objects: [try BPFObject(contentsOf: s.base)])
        #expect(expected.sorted == ["byte_off task_struct.comm", "byte_off task_struct.tgid"], "\(expected.sorted)")
        let inTree = try #require(try PackMetadata.read(treeAt: s.tree))
        #expect(inTree.trimmed && inTree.relocations == expected.sorted && inTree.digest == expected.digest)
        #expect(inTree.objects == ["base.bpf.o"])

        // GNU tar is the reference for "a tar.xz anyone can list".
        let listing = try TestSupport.run("tar", ["-tJf", s.pack])
        #expect(listing.status == 0, "\(listing.stderr)")
        let members = String(decoding: listing.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(members.first == PackMetadata.memberName, "\(members)")
        #expect(members.count == 4, "the record and the three fixture kernels: \(members)")
        let extracted = try TestSupport.run("tar", ["-xJOf", s.pack, PackMetadata.memberName])
        #expect(String(decoding: extracted.stdout, as: UTF8.self) == inTree.text)

        let pack = try BTFPack(contentsOf: s.pack)
        #expect(pack.metadata == inTree)
        #expect(pack.entries.count == 3, "the record is not a kernel")
        #expect(try BTFPack.metadata(inPack: try BTFPack.readFile(s.pack), source: s.pack) == inTree)
    }

    @Test("a second build reading one more field is refused by embed, which and the library, naming the relocation; a subset is served")
    func secondBuildIsRefusedSubsetServed() throws {
        let s = try Self.setup.get()
        let tool = try PackFixtures.product("btf-pack")
        let host = PackFixtures.temporaryPath("host")
        try FileManager.default.copyItem(atPath: "/bin/true", toPath: host)

        let stale = try TestSupport.run(tool, ["embed", s.pack, "--into", host, "-o", host + ".stale", "--object", s.withFlags])
        #expect(stale.status == 1)
        #expect(stale.stderr.contains("relocation `byte_off task_struct.flags` of \(s.withFlags)"), "\(stale.stderr)")
        #expect(stale.stderr.contains("stale pack: \(s.pack)"), "\(stale.stderr)")
        #expect(!FileManager.default.fileExists(atPath: host + ".stale"))

        for object in [s.base, s.subset] {
            let fresh = try TestSupport.run(tool, ["embed", s.pack, "--into", host, "-o", host + ".ok", "--object", object])
            #expect(fresh.status == 0, "\(object): \(fresh.stderr)")
            #expect(String(decoding: fresh.stdout, as: UTF8.self).contains("relocations are among them"))
        }
        let allowed = try PackFixtures.runWithEnvironment(tool, ["embed", s.pack, "--into", host, "-o", host + ".allowed", "--object", s.withFlags],
                                                          [PackFreshness.allowStaleVariable: "1"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(allowed.stderr.contains("warning: stale pack") && allowed.stderr.contains("task_struct.flags"), "\(allowed.stderr)")

        // btf-pack which --object: the comparison first, then the selection; exit 1 when stale.
        let release = try #require(try BTFPack(contentsOf: s.pack).identities.first)
        let whichArguments = ["which", s.pack, "--id", release.distro, "--version-id", release.version, "--arch", release.arch, "--release", release.release]
        let whichStale = try TestSupport.run(tool, whichArguments + ["--object", s.withFlags])
        #expect(whichStale.status == 1)
        #expect(whichStale.stderr.contains("relocation `byte_off task_struct.flags`"), "\(whichStale.stderr)")
        let whichSubset = try TestSupport.run(tool, whichArguments + ["--object", s.subset])
        let out = String(decoding: whichSubset.stdout, as: UTF8.self)
        #expect(whichSubset.status == 0, "\(whichSubset.stderr)")
        #expect(out.contains("pack record: trimmed for 2 CO-RE relocations of base.bpf.o") && out.contains("all 1 of \(s.subset)'s relocations"), "\(out)")

        // The library: the same verdicts, and packs of whole BTF or without a record are not refused.
        let metadata = try BTFPack(contentsOf: s.pack).metadata
        let verdict = try PackFreshness.check(metadata: metadata, pack: s.pack, object: .file(s.withFlags))
        #expect(verdict.verdict == .missing(["byte_off task_struct.flags"]))
        #expect(verdict.error?.kind == .stalePack && verdict.error?.errnoCode == ESTALE && verdict.error?.remedy == .repackForObject)
        #expect(try PackFreshness.check(metadata: metadata, pack: s.pack, object: .file(s.subset)).verdict == .covered(count: 1))
        #expect(try PackFreshness.check(metadata: .fullBTF, pack: "whole", object: .file(s.withFlags)).verdict == .wholeBTF)
        #expect(try PackFreshness.check(metadata: nil, pack: "old", object: .file(s.withFlags)).verdict == .unrecorded)

        // RuntimeBTF.ensure with the object: refused before the kernel's own BTF is considered.
        var options = RuntimeBTFOptions()
        options.pack = .file(s.pack)
        options.object = .file(s.withFlags)
        options.environment = [:]
        let refused = #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.ensure(options) }
        #expect(refused?.kind == .stalePack)
        #expect(refused?.message.contains("`byte_off task_struct.flags` of \(s.withFlags)") == true, "\(refused?.message ?? "")")
        options.environment = [PackFreshness.allowStaleVariable: "1", RuntimeBTFOptions.forceEmbeddedVariable: "1",
                               "BTFKIT_ENTRY": release.description]
        let used = try RuntimeBTF.ensure(options)
        defer { used.release() }
        #expect(used.selection.warnings.contains { $0.hasPrefix("stale pack:") && $0.contains("used anyway") }, "\(used.selection.warnings)")
    }

    @Test("btf-pack runner refuses a tree trimmed for another build; btf-run refuses an object its embedded pack was not trimmed for")
    func runnerAndBTFRunRefuseStalePacks() throws {
        let s = try Self.setup.get()
        let tool = try PackFixtures.product("btf-pack")
        let stale = PackFixtures.temporaryPath("stale-runner")
        let refused = try TestSupport.run(tool, ["runner", "--object", s.withFlags, "--btfhub", s.tree, "-o", stale])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("relocation `byte_off task_struct.flags` of \(s.withFlags)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("; trim and pack again for this object (btf-pack runner --object OBJ --btfhub DIR), or set BTFKIT_ALLOW_STALE=1 to use it anyway\n"),
                "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: stale), "a stale runner must not be written")

        let runner = PackFixtures.temporaryPath("base-runner")
        let built = try TestSupport.run(tool, ["runner", "--object", s.base, "--btfhub", s.tree, "-o", runner])
        #expect(built.status == 0, "\(built.stderr)")
        // The runner's own pack against another build given on its command line: refused before
        // anything is loaded (no root needed to see it), whatever BTF the kernel has.
        let run = try TestSupport.run(runner, [s.withFlags, "--duration", "1"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("btf-run: stale pack: section .btfkit.pack of") && run.stderr.contains("`byte_off task_struct.flags` of \(s.withFlags)"),
                "\(run.stderr)")
        #expect(run.stderr.contains("; trim and pack again for this object (btf-pack runner --object OBJ --btfhub DIR), or set BTFKIT_ALLOW_STALE=1 to use it anyway\n"),
                "\(run.stderr)")
        let subset = try TestSupport.run(runner, [s.subset, "--duration", "1"])
        #expect(!subset.stderr.contains("stale pack"), "\(subset.stderr)")
    }
}

extension StalePackTests {
    /// argv[1]: object_path, argv[2]: sz to declare ("full" or "old": the size before object_path).
    static let cSource = #"""
    #include <bpf/libbpf.h>
    #include <stdio.h>
    #include <string.h>
    #include "btfkit.h"
    int main(int argc, char **argv) {
        LIBBPF_OPTS(bpf_object_open_opts, opts);
        struct btfkit_ensure_opts eopts = { .sz = sizeof(eopts), .object_path = argv[1] };
        if (strcmp(argv[2], "old") == 0) eopts.sz = sizeof(size_t);  /* a caller built before object_path */
        int err = btfkit_ensure_core_btf_opts(&opts, &eopts);
        if (err) { fprintf(stderr, "btfkit_ensure_core_btf_opts: %d: %s\n", err, btfkit_last_error()); return 2; }
        printf("btf_custom_path=%s\n", opts.btf_custom_path ? opts.btf_custom_path : "(null)");
        btfkit_clean_core_btf(&opts);
        return 0;
    }
    """#

    @Test("C: btfkit_ensure_core_btf_opts with object_path refuses a stale pack (-ESTALE, the relocation named); a caller with the old sz is unaffected")
    func cABIRefusesStalePack() throws {
        let s = try Self.setup.get()
        let library = try PackFixtures.product("libbtfkit.so")
        let libraryDirectory = (library as NSString).deletingLastPathComponent
        let sourcePath = PackFixtures.temporaryPath("stale-c.c")
        try Self.cSource.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        let program = PackFixtures.temporaryPath("stale-c")
        let cc = try TestSupport.run("cc", [sourcePath, "-I", TestSupport.packageRoot + "/Sources/CBTFKit/include", "-L", libraryDirectory,
                                            "-lbtfkit", "-lbpf", "-Wl,-rpath," + libraryDirectory, "-o", program])
        #expect(cc.status == 0, "\(cc.stderr)")
        let embedded = program + "-packed"
        #expect(try TestSupport.run(try PackFixtures.product("btf-pack"), ["embed", s.pack, "--into", program, "-o", embedded]).status == 0)
        let entry = try #require(try BTFPack(contentsOf: s.pack).identities.first)
        let environment = ["BTFKIT_FORCE_EMBEDDED": "1", "BTFKIT_ENTRY": entry.description]

        let stale = try PackFixtures.runWithEnvironment(embedded, [s.withFlags, "full"], environment)
        #expect(stale.status == 2)
        #expect(stale.stderr.contains(": -\(ESTALE): stale pack:") && stale.stderr.contains("`byte_off task_struct.flags` of \(s.withFlags)"), "\(stale.stderr)")
        // The C ABI words the remedy for a C program's builder: trim again, embed the new pack.
        #expect(stale.stderr.contains("(`btf-pack embed PACK --into BINARY -o OUT --object OBJ`), or set BTFKIT_ALLOW_STALE=1 to use it anyway"), "\(stale.stderr)")
        let subset = try PackFixtures.runWithEnvironment(embedded, [s.subset, "full"], environment)
        #expect(subset.status == 0 && subset.stdout.contains("btf_custom_path=/proc/self/fd/"), "\(subset.stdout) \(subset.stderr)")
        let old = try PackFixtures.runWithEnvironment(embedded, [s.withFlags, "old"], environment)
        #expect(old.status == 0, "a caller that does not know object_path gets no check: \(old.stderr)")
        let allowed = try PackFixtures.runWithEnvironment(embedded, [s.withFlags, "full"], environment.merging([PackFreshness.allowStaleVariable: "1"]) { $1 })
        #expect(allowed.status == 0 && allowed.stderr.contains("btfkit: warning: stale pack:"), "\(allowed.stderr)")
    }
}
