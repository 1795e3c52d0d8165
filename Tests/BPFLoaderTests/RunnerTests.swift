import Archive
import BPFLoader
import BTF
import Foundation
@testable import TestSupport
import Testing

/// btf-run and `btf-pack runner` without root: event decoding from the object's BTF, what the
/// runner carries, and the errors a user meets before anything is loaded.
@Suite("btf-run and btf-pack runner")
struct RunnerTests {
    /// A fresh btfhub tree holding copies of these kernels of the shared archive (paths relative to it).
    static func treeOfSharedKernels(_ kernels: [String], named name: String) throws -> String {
        let root = PackFixtures.temporaryPath(name)
        for kernel in kernels {
            let target = root + "/" + kernel
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: TestSupport.sharedArchive + "/" + kernel, toPath: target)
        }
        return root
    }

    static func execsnoopBTF() throws -> BTF {
        try BPFObject(contentsOf: try PackFixtures.execsnoopObject()).btf
    }

    /// An execsnoop record as the program writes it: ppid, pid (little-endian int), comm[16].
    static func record(ppid: Int32, pid: Int32, comm: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for value in [ppid, pid] { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        var name = Array(comm.utf8.prefix(15))
        name += [UInt8](repeating: 0, count: 16 - name.count)
        return bytes + name
    }

    @Test("an execsnoop record decodes field by field from the object's BTF")
    func decodesExecsnoopEvent() throws {
        let decoder = try EventDecoder(btf: try Self.execsnoopBTF(), typeName: "execsnoop_event", objectName: "execsnoop.bpf.o")
        #expect(decoder.size == 24)
        let value = decoder.decode(Self.record(ppid: 1234, pid: -5, comm: "bash"))
        #expect(value == .fields([("ppid", .signed(1234)), ("pid", .signed(-5)), ("comm", .string("bash"))]))
        #expect(value.json == #"{"ppid":1234,"pid":-5,"comm":"bash"}"#)
        #expect(value.text == "{ppid=1234 pid=-5 comm=bash}")
    }

    @Test("nested structs, char and other arrays, bitfields, enums decode at the compiler's offsets")
    func decodesNestedShapes() throws {
        let source = """
        enum color { RED = 1, GREEN = 2 };
        struct shape_event {
        \tint a;
        \tstruct { short x; char name[4]; } inner;
        \tunsigned int flags : 3, mode : 5;
        \tenum color color;
        \tlong values[2];
        \tunsigned char raw[2];
        };
        struct shape_event *shape_event_type __attribute__((unused));
        """
        let directory = PackFixtures.temporaryPath("shapes")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try source.write(toFile: directory + "/shapes.bpf.c", atomically: true, encoding: .utf8)
        let compiled = try TestSupport.run("clang", ["-g", "-O2", "-target", "bpf", "-c", directory + "/shapes.bpf.c", "-o", directory + "/shapes.bpf.o"])
        try #require(compiled.status == 0, "\(compiled.stderr)")
        let decoder = try EventDecoder(btf: try BPFObject(contentsOf: directory + "/shapes.bpf.o").btf, typeName: "shape_event", objectName: "shapes.bpf.o")
        #expect(decoder.size == 40)
        // The layout clang gives (bpftool btf dump agrees): a@0, inner@4 {x@4, name@6}, flags bits 80-82,
        // mode bits 83-87, color@12, values@16, raw@32.
        var record = [UInt8](repeating: 0, count: 40)
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            withUnsafeBytes(of: value.littleEndian) { for (i, byte) in $0.enumerated() { record[offset + i] = byte } }
        }
        put(Int32(-3), at: 0)
        put(Int16(7), at: 4)
        record[6] = UInt8(ascii: "a"); record[7] = UInt8(ascii: "b")
        record[10] = 5 | 17 << 3
        put(UInt32(2), at: 12)
        put(Int64(100), at: 16)
        put(Int64(-1), at: 24)
        record[32] = 1; record[33] = 255
        let value = decoder.decode(record)
        #expect(value == .fields([
            ("a", .signed(-3)),
            ("inner", .fields([("x", .signed(7)), ("name", .string("ab"))])),
            ("flags", .unsigned(5)), ("mode", .unsigned(17)),
            ("color", .enumerator(name: "GREEN", value: 2)),
            ("values", .array([.signed(100), .signed(-1)])),
            ("raw", .array([.unsigned(1), .unsigned(255)])),
        ]), "\(value.json)")
        #expect(value.json == #"{"a":-3,"inner":{"x":7,"name":"ab"},"flags":5,"mode":17,"color":"GREEN","values":[100,-1],"raw":[1,255]}"#)
    }

    @Test("a short record keeps the fields it holds; a comm without NUL is cut at the array's end")
    func shortRecords() throws {
        let decoder = try EventDecoder(btf: try Self.execsnoopBTF(), typeName: "execsnoop_event", objectName: "execsnoop.bpf.o")
        let full = Self.record(ppid: 7, pid: 8, comm: "x")
        #expect(decoder.decode(Array(full.prefix(6))) == .fields([("ppid", .signed(7))]))
        var noNUL = full
        for i in 8 ..< 24 { noNUL[i] = UInt8(ascii: "a") }
        #expect(decoder.decode(noNUL) == .fields([("ppid", .signed(7)), ("pid", .signed(8)), ("comm", .string(String(repeating: "a", count: 16)))]))
    }

    @Test("an unknown event type is an error naming the object and the structs it has")
    func unknownEventType() throws {
        #expect {
            _ = try EventDecoder(btf: try Self.execsnoopBTF(), typeName: "no_such_event", objectName: "execsnoop.bpf.o")
        } throws: { error in
            let text = "\(error)"
            return text.contains("execsnoop.bpf.o") && text.contains("no_such_event") && text.contains("execsnoop_event")
        }
    }

    @Test("JSON strings escape quotes, backslashes and control characters")
    func jsonEscaping() {
        #expect(EventValue.string("a\"b\\c\n\u{1}").json == #""a\"b\\c\n\u0001""#)
        #expect(EventValue.array([.unsigned(1), .pointer(255)]).json == #"[1,"0xff"]"#)
        #expect(EventValue.bytes([0xde, 0xad]).json == #""dead""#)
    }

    @Test("btf-pack runner trims a full tree, embeds object and pack; a trimmed tree is packed as it is", .requiresSharedArchive)
    func runnerCarriesObjectAndTrimmedPack() throws {
        try TestSupport.requireSharedArchive()
        let object = try PackFixtures.execsnoopObject()
        let btfPack = try PackFixtures.product("btf-pack"), btfRun = try PackFixtures.product("btf-run")
        let kernels = ["debian/10/x86_64/4.19.0-21-cloud-amd64.btf.tar.xz", "ubuntu/20.04/x86_64/5.4.0-86-generic.btf.tar.xz"]
        let root = try Self.treeOfSharedKernels(kernels, named: "runner-tree")
        let tool = PackFixtures.temporaryPath("runner")
        let built = try TestSupport.run(btfPack, ["runner", "--object", object, "--btfhub", root, "-o", tool, "--runner", btfRun])
        #expect(built.status == 0, "\(built.stderr)")
        let report = String(decoding: built.stdout, as: UTF8.self)
        #expect(report.contains("trimming each"), "\(report)")

        // The object is embedded without its DWARF, every other section unchanged.
        let embeddedObject = try ELFSectionReader.contents(ofSection: EmbeddedObject.sectionName, inFile: tool)
        try RunnerWithoutDWARFTests.expectSameWithoutDWARF(embeddedObject, Array(try Data(contentsOf: URL(fileURLWithPath: object))))
        let pack = try BTFPack(bytes: try ELFSectionReader.contents(ofSection: ELFSectionEmbedder.packSectionName, inFile: tool), source: tool)
        #expect(pack.identities.map(\.btfRelativePath) == kernels.map { $0.replacingOccurrences(of: ".tar.xz", with: "") }.sorted())
        for identity in pack.identities {
            let btf = try #require(pack.btf(for: identity))
            #expect(btf.count < 4096, "\(identity): \(btf.count) bytes is not trimmed")
            let trimmed = try BTF(parsing: btf)
            #expect(trimmed.typeIDs.contains { trimmed.name($0) == "task_struct" })
        }
        #expect(FileManager.default.isExecutableFile(atPath: tool))

        // The pack's entries written out as a tree are detected as trimmed and packed unchanged.
        let trimmedRoot = PackFixtures.temporaryPath("trimmed-tree")
        for identity in pack.identities {
            let path = trimmedRoot + "/" + identity.btfRelativePath
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(try #require(pack.btf(for: identity))).write(to: URL(fileURLWithPath: path))
        }
        let again = PackFixtures.temporaryPath("runner-again")
        let rebuilt = try TestSupport.run(btfPack, ["runner", "--object", object, "--btfhub", trimmedRoot, "-o", again, "--runner", btfRun])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(String(decoding: rebuilt.stdout, as: UTF8.self).contains("already trimmed"))
        let repacked = try BTFPack(bytes: try ELFSectionReader.contents(ofSection: ELFSectionEmbedder.packSectionName, inFile: again), source: again)
        for identity in pack.identities { #expect(repacked.btf(for: identity) == pack.btf(for: identity)) }
    }

    @Test("btf-pack runner trims a full tree in parallel; one kernel that cannot be trimmed fails the runner, which is not written", .requiresSharedArchive)
    func runnerFailsOnAKernelItCannotTrim() throws {
        try TestSupport.requireSharedArchive()
        let object = try PackFixtures.execsnoopObject()
        let btfPack = try PackFixtures.product("btf-pack"), btfRun = try PackFixtures.product("btf-run")
        let good = "ubuntu/20.04/x86_64/5.4.0-86-generic.btf.tar.xz", bad = "centos/8/x86_64/4.18.0-80.el8.x86_64.btf.tar.xz"
        let root = try Self.treeOfSharedKernels([good, bad], named: "runner-bad-tree")
        // The first 4 KiB of a real archive: a truncated xz stream.
        let real = try Data(contentsOf: URL(fileURLWithPath: root + "/" + bad))
        try real.prefix(4096).write(to: URL(fileURLWithPath: root + "/" + bad))

        let tool = PackFixtures.temporaryPath("runner-from-bad-tree")
        let built = try TestSupport.run(btfPack, ["runner", "--object", object, "--btfhub", root, "-o", tool, "--runner", btfRun, "--jobs", "2"])
        #expect(built.status == 1, "\(built.stderr)")
        #expect(String(decoding: built.stdout, as: UTF8.self).contains("trimming each for \(object) (2 in parallel)"))
        #expect(built.stderr.contains("1 of 2 kernels could not be trimmed") && built.stderr.contains(bad), "\(built.stderr)")
        #expect(!FileManager.default.fileExists(atPath: tool))
    }

    @Test("a runner's default arguments: stored NUL-separated, damaged sections are errors")
    func embeddedArgumentsEncoding() throws {
        let arguments = ["--event-type", "execsnoop_event", "--json", "", "naïve"]
        let bytes = EmbeddedArguments.encode(arguments)
        #expect(bytes.filter { $0 == 0 }.count == arguments.count && bytes.last == 0)
        #expect(try EmbeddedArguments.decode(bytes, file: "tool") == arguments)
        #expect(try EmbeddedArguments.decode([], file: "tool") == [])
        #expect(throws: BPFLoaderError.self) { try EmbeddedArguments.decode(Array("--json".utf8), file: "tool") }
        #expect(throws: BPFLoaderError.self) { try EmbeddedArguments.decode([0xff, 0xfe, 0], file: "tool") }
        do {
            _ = try EmbeddedArguments.decode([0xc3, 0], file: "tool")
            Issue.record("a truncated UTF-8 sequence was accepted")
        } catch {
            #expect(error.message.contains("tool") && error.message.contains(EmbeddedArguments.sectionName), "\(error)")
        }
    }

    @Test("btf-pack runner -- ARGS: the runner starts with them, the command line adds to them, bad ones are refused before writing", .requiresSharedArchive)
    func runnerDefaultArguments() throws {
        try TestSupport.requireSharedArchive()
        let object = try PackFixtures.execsnoopObject()
        let btfPack = try PackFixtures.product("btf-pack"), btfRun = try PackFixtures.product("btf-run")
        let root = try Self.treeOfSharedKernels(["ubuntu/20.04/x86_64/5.4.0-86-generic.btf.tar.xz"], named: "defaults-tree")
        let build = { (output: String, defaults: [String]) in
            try TestSupport.run(btfPack, ["runner", "--object", object, "--btfhub", root, "-o", output, "--runner", btfRun, "--"] + defaults)
        }

        let tool = PackFixtures.temporaryPath("runner-with-defaults")
        let built = try build(tool, ["--event-type", "execsnoop_event", "--json"])
        #expect(built.status == 0, "\(built.stderr)")
        #expect(String(decoding: built.stdout, as: UTF8.self).contains("default arguments: --event-type execsnoop_event --json"))
        #expect(try EmbeddedArguments.load(executable: tool) == ["--event-type", "execsnoop_event", "--json"])
        // The runner checks its defaults against its own object; the command line comes after them.
        let checked = try PackFixtures.runWithEnvironment(tool, ["--check-arguments"], [:])
        #expect(checked.status == 0, "\(checked.stderr)")
        let overridden = try PackFixtures.runWithEnvironment(tool, ["--event-type", "nosuch", "--check-arguments"], [:])
        #expect(overridden.status == 1 && overridden.stderr.contains("no struct or union named 'nosuch'"), "\(overridden.stderr)")
        let noJSON = try PackFixtures.runWithEnvironment(tool, ["--no-json", "--check-arguments"], [:])
        #expect(noJSON.status == 0, "\(noJSON.stderr)")

        // Refused defaults: exit 2, the reason, and an existing output left as it was.
        let before = try Data(contentsOf: URL(fileURLWithPath: tool))
        for (defaults, reason) in [(["--event-type", "nosuch"], "no struct or union named 'nosuch'"), (["--bogus"], "Unknown option '--bogus'"),
                                   (["--attach", "nosuch=/bin/true:main"], "no program named 'nosuch'")] {
            let refused = try build(tool, defaults)
            #expect(refused.status == 2, "\(defaults): \(refused.stderr)")
            #expect(refused.stderr.contains("\(tool) not written") && refused.stderr.contains(reason), "\(refused.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: tool)) == before)
        let fresh = PackFixtures.temporaryPath("never-written")
        #expect(try build(fresh, ["--bogus"]).status == 2)
        #expect(!FileManager.default.fileExists(atPath: fresh))

        // A runner without defaults has no such section, and a damaged one names the problem.
        let plain = PackFixtures.temporaryPath("runner-plain")
        #expect(try TestSupport.run(btfPack, ["runner", "--object", object, "--btfhub", root, "-o", plain, "--runner", btfRun]).status == 0)
        #expect(try EmbeddedArguments.load(executable: plain) == [])
        let damaged = PackFixtures.temporaryPath("runner-damaged")
        let damagedBytes = try ELFSectionEmbedder.appendingSection(named: EmbeddedArguments.sectionName, data: Array("--json".utf8),
                                                                   to: Array(try Data(contentsOf: URL(fileURLWithPath: plain))), file: plain)
        try FileIO.writeAtomically(damagedBytes, to: damaged, mode: 0o755)
        let run = try PackFixtures.runWithEnvironment(damaged, ["--which"], [:])
        #expect(run.status == 1 && run.stderr.contains(EmbeddedArguments.sectionName) && run.stderr.contains("damaged"), "\(run.stderr)")
    }

    @Test("btf-pack runner whose runner rejects the arguments after -- exits 2 and leaves nothing in TMPDIR", .requiresSharedArchive)
    func rejectedArgumentsLeaveNoScratch() throws {
        try TestSupport.requireSharedArchive()
        let object = try PackFixtures.execsnoopObject()
        let btfPack = try PackFixtures.product("btf-pack"), btfRun = try PackFixtures.product("btf-run")
        // A full kernel: the trimmed tree's scratch directory is made (and removed) too.
        let root = try Self.treeOfSharedKernels(["ubuntu/20.04/x86_64/5.4.0-86-generic.btf.tar.xz"], named: "scratch-tree")
        let temporary = PackFixtures.temporaryPath("tmpdir")
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        let output = PackFixtures.temporaryPath("rejected-runner")
        let refused = try PackFixtures.runWithEnvironment(btfPack, ["runner", "--object", object, "--btfhub", root, "-o", output,
                                                                    "--runner", btfRun, "--", "--event-type", "nosuch"], ["TMPDIR": temporary])
        #expect(refused.status == 2, "\(refused.stderr)")
        // The runner's copy ran in TMPDIR (its message names the copy) and is gone, with its directory.
        #expect(refused.stderr.contains("\(output) not written") && refused.stderr.contains("no struct or union named 'nosuch'"), "\(refused.stderr)")
        #expect(refused.stderr.contains("the object embedded in \(temporary)/btf-pack-runner."), "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary) == [])
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test("--btfhub picks from the tree with the selection chain: unique release with a warning, a collision is an error")
    func btfhubTreeUsesTheSelectionChain() throws {
        let btfRun = try PackFixtures.product("btf-run")
        let release = String(decoding: try TestSupport.run("uname", ["-r"]).stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let machine = String(decoding: try TestSupport.run("uname", ["-m"]).stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let arch = machine == "aarch64" ? "arm64" : machine
        let root = PackFixtures.temporaryPath("selection-tree")
        func add(_ family: String) throws {
            let path = "\(root)/\(family)/\(arch)/\(release).btf"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data([0]).write(to: URL(fileURLWithPath: path))
        }
        // This machine claims to be distro "btfkitos" (no such entry); the tree has its release under one other distro.
        let osRelease = root + "-os-release"
        try "ID=btfkitos\nVERSION_ID=1\n".write(toFile: osRelease, atomically: true, encoding: .utf8)
        try add("fedora/39")
        let environment = ["BTFKIT_FORCE_EMBEDDED": "1", "BTFKIT_OS_RELEASE": osRelease]
        let unique = try PackFixtures.runWithEnvironment(btfRun, ["--which", "--btfhub", root], environment)
        #expect(unique.status == 0, "\(unique)")
        #expect(unique.stdout.contains("btfhub tree entry fedora/39/\(arch)/\(release).btf") && unique.stdout.contains("unique-release"), "\(unique.stdout)")
        #expect(unique.stdout.contains("warning: the distribution did not match") && unique.stdout.contains("in the tree once"), "\(unique.stdout)")

        // The same release under a second distro with nothing to decide between them: an error listing both.
        try add("amzn/2")
        let collision = try PackFixtures.runWithEnvironment(btfRun, ["--which", "--btfhub", root], environment)
        #expect(collision.status == 1, "\(collision)")
        let text = collision.stdout + collision.stderr
        #expect(text.contains("fedora/39/\(arch)/\(release)") && text.contains("amzn/2/\(arch)/\(release)") && text.contains("BTFKIT_BTF="), "\(text)")

        // A compressed entry reaches libbpf through a memfd, like a pack entry, not a file on disk.
        let compressedRoot = root + "-compressed"
        let directory = "\(compressedRoot)/fedora/39/\(arch)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data([0]).write(to: URL(fileURLWithPath: "\(root)/\(release).btf"))
        let packed = try TestSupport.run("tar", ["-cJf", "\(directory)/\(release).btf.tar.xz", "-C", root, "\(release).btf"])
        #expect(packed.status == 0, "\(packed.stderr)")
        let compressed = try PackFixtures.runWithEnvironment(btfRun, ["--which", "--btfhub", compressedRoot], environment)
        #expect(compressed.status == 0, "\(compressed)")
        #expect(compressed.stdout.contains("\(release).btf.tar.xz), given to libbpf as /proc/self/fd/"), "\(compressed.stdout)")
    }

    @Test("an unprivileged user is told that loading needs root, not libbpf's RLIMIT_MEMLOCK guess", .requiresRoot)
    func unprivilegedUserIsToldToUseRoot() throws {
        try TestSupport.requireRoot()
        // Copies nobody can read and run, wherever the checkout is.
        let directory = PackFixtures.temporaryPath("unprivileged")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var paths: [String] = []
        for source in [try PackFixtures.product("btf-run"), try PackFixtures.execsnoopObject(),
                       try #require(try TestSupport.compiledBPFObjects().first { $0.hasSuffix("/uprobe_calls.bpf.o") })] {
            let copy = directory + "/" + (source as NSString).lastPathComponent
            try FileManager.default.copyItem(atPath: source, toPath: copy)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy)
            paths.append(copy)
        }
        var parent = directory
        while parent != "/" {
            chmod(parent, (try FileManager.default.attributesOfItem(atPath: parent)[.posixPermissions] as? Int).map { mode_t($0) | 0o011 } ?? 0o755)
            parent = (parent as NSString).deletingLastPathComponent
        }
        let asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", paths[0]]
        // Each run in its own mount namespace, with tracefs (and debugfs, which holds it on older
        // setups) unmounted, then mounted: the message must not depend on the machine's mount state.
        let unshare = try TestSupport.which("unshare")
        let states = [
            "unmounted": "umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; test ! -e /sys/kernel/tracing/events",
            "mounted": "umount -l /sys/kernel/debug 2>/dev/null; mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing; test -e /sys/kernel/tracing/events",
        ]
        func asNobodyIn(_ state: String, _ arguments: [String]) throws -> (status: Int32, stdout: Data, stderr: String) {
            let script = "\(states[state]!) || { echo 'cannot set up tracefs \(state)' >&2; exit 99; }; exec \"$@\""
            return try TestSupport.run(unshare, ["-m", "--propagation", "private", "sh", "-c", script, "sh"] + asNobody + arguments)
        }
        for state in states.keys.sorted() {
            // A tracepoint object: tracefs absent (nobody may not mount it) or closed to nobody (mode 0700).
            let tracepoint = try asNobodyIn(state, [paths[1], "--duration", "1"])
            #expect(tracepoint.status == 1, "tracefs \(state): \(tracepoint)")
            #expect(tracepoint.stderr.contains("run it as root"), "tracefs \(state): \(tracepoint.stderr)")
            // A uprobe object needs no tracefs: the load itself is refused.
            let uprobe = try asNobodyIn(state, [paths[2], "--attach", "uprobe_calls_entry=/bin/true:main", "--duration", "1"])
            #expect(uprobe.status == 1, "tracefs \(state): \(uprobe)")
            #expect(uprobe.stderr.contains("loading BPF programs needs root") && uprobe.stderr.contains("Operation not permitted"),
                    "tracefs \(state): \(uprobe.stderr)")
        }
    }

    @Test("errors before loading: no object anywhere, a tree without this kernel, an unknown --btf file; --which")
    func usageErrors() throws {
        let btfRun = try PackFixtures.product("btf-run")
        let bare = try PackFixtures.runWithEnvironment(btfRun, [], [:])
        #expect(bare.status == 1)
        #expect(bare.stderr.contains("no OBJECT given") && bare.stderr.contains("btf-pack runner"), "\(bare.stderr)")

        let object = try PackFixtures.execsnoopObject()
        let emptyTree = PackFixtures.temporaryPath("empty-tree")
        let other = emptyTree + "/centos/8/x86_64/4.18.0-80.el8.x86_64.btf"
        try FileManager.default.createDirectory(atPath: (other as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data([0]).write(to: URL(fileURLWithPath: other))
        let missing = try PackFixtures.runWithEnvironment(btfRun, [object, "--btfhub", emptyTree], ["BTFKIT_FORCE_EMBEDDED": "1"])
        #expect(missing.status == 1)
        // The selection chain's error: this kernel's identity, what the tree holds, the override to use.
        #expect(missing.stderr.contains("btf-run: --btfhub \(emptyTree): no BTF for this kernel"), "\(missing.stderr)")
        #expect(missing.stderr.contains("no BTF for this kernel") && missing.stderr.contains("among its 1 kernels")
                && missing.stderr.contains("centos/8/x86_64") && missing.stderr.contains("BTFKIT_BTF="), "\(missing.stderr)")

        // --which: the dry run needs no object and loads nothing.
        let whichKernel = try PackFixtures.runWithEnvironment(btfRun, ["--which"], [:])
        if FileManager.default.isReadableFile(atPath: "/sys/kernel/btf/vmlinux") {
            #expect(whichKernel.status == 0 && whichKernel.stdout.contains("[kernel-btf]"), "\(whichKernel)")
        }
        let whichNoPack = try PackFixtures.runWithEnvironment(btfRun, ["--which"], ["BTFKIT_FORCE_EMBEDDED": "1"])
        #expect(whichNoPack.status == 1)
        #expect(whichNoPack.stdout.contains("no choice:") && whichNoPack.stdout.contains("has no section .btfkit.pack"), "\(whichNoPack)")
        #expect(whichNoPack.stdout.contains(": no pack is embedded; add one with `btf-pack embed PACK --into BINARY -o OUT` or link the output of `btf-pack emit-asm`\n"),
                "\(whichNoPack)")

        let noFile = try PackFixtures.runWithEnvironment(btfRun, [object, "--btf", "/nonexistent.btf"], [:])
        #expect(noFile.status == 1)
        #expect(noFile.stderr.contains("--btf /nonexistent.btf: cannot read it"), "\(noFile.stderr)")
    }
}
