import Archive
@testable import BTF
import BTFRuntime
import Foundation
@testable import TestSupport
import Testing
import Trim

/// Issue 13's twelve classes of hostile input, each through the built tools (under `timeout` and
/// `prlimit --as`) with inputs generated here: device nodes and FIFOs as outputs and inputs, an
/// output that is an input, an access string `0:-1`, `/dev/zero`, an amplification archive, a
/// self-looping typedef, `--jobs` of 2^63-1, names with `\xe9`, `ESC[2J`, 250 characters and paths
/// over 4096 bytes, symlinks out of the tree, and the exit-code convention.
@Suite("Hostile input, round 2: devices, outputs = inputs, libbpf crashes, endless inputs, cycles, names", .serialized)
struct HostileInputRound2Tests {
    // MARK: - Helpers

    /// A built tool beside btf-trim.
    static func tool(_ name: String) throws -> String {
        let path = URL(fileURLWithPath: try BTFTrimTool.path()).deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else { throw TestSupportError("\(name) is not built beside btf-trim") }
        return path
    }

    /// Exit status `timeout` gives a command it had to kill.
    static let timedOut: Int32 = 124

    /// Runs a built tool under `timeout` and `prlimit --as`, with extra environment variables.
    static func guarded(_ name: String, _ arguments: [String], environment: [String: String] = [:], seconds: Int = 60,
                        addressSpace: Int = 1 << 30) throws -> (status: Int32, stdout: String, stderr: String) {
        let path = try tool(name)
        let env = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let result = try TestSupport.run("/usr/bin/timeout", ["-k", "5", "\(seconds)", "/usr/bin/env"] + env
                                         + ["/usr/bin/prlimit", "--as=\(addressSpace)", path] + arguments)
        return (result.status, String(decoding: result.stdout, as: UTF8.self), result.stderr)
    }

    /// The small real kernel (Debian 12, trimmed for the project's objects) as raw BTF.
    static func kernelBytes() throws -> [UInt8] { try HostileInputTests.fixture.get().kernel.serialized() }

    static func object(_ name: String = "task_fields.bpf.o") throws -> String {
        try #require(try TestSupport.compiledBPFObjects().first { $0.hasSuffix("/" + name) })
    }

    static func fileType(_ path: String) -> mode_t? {
        var status = stat()
        return lstat(path, &status) == 0 ? status.st_mode & S_IFMT : nil
    }

    /// Bytes, inode and mtime of `path`, to prove it was left alone.
    static func fingerprint(_ path: String) throws -> ([UInt8], ino_t, Int) {
        var status = stat()
        guard stat(path, &status) == 0 else { throw TestSupportError("cannot stat \(path)") }
        return (try FileIO.read(path), status.st_ino, status.st_mtim.tv_sec * 1_000_000_000 + status.st_mtim.tv_nsec)
    }

    /// A pack holding the fixture kernel as ubuntu/20.04/x86_64/5.4.0-1-generic.
    static func writePack(_ path: String, btf: [UInt8]? = nil) throws -> KernelIdentity {
        let identity = KernelIdentity(distro: "ubuntu", version: "20.04", arch: "x86_64", release: "5.4.0-1-generic")
        try FileIO.writeAtomically(try PackWriter.pack([PackInput(identity: identity, btf: try btf ?? kernelBytes())]).bytes, to: path)
        return identity
    }

    /// A file at a path given as raw bytes (a name that is not UTF-8).
    static func createFile(rawPath: [UInt8], contents: [UInt8]) throws {
        let fd = (rawPath + [0]).withUnsafeBufferPointer {
            open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        }
        guard fd >= 0 else { throw TestSupportError("cannot create a file with a raw name: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        _ = contents.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// `object` with the first field access string of 4 or more characters replaced by `0:-1`.
    static func objectWithNegativeIndex(_ path: String) throws -> [UInt8] {
        var bytes = try FileIO.read(path)
        let object = try BPFObject(contentsOf: path)
        let records = (object.ext?.coreRelocations ?? []).flatMap(\.records).filter(\.kind.isFieldBased)
        let access = try #require(records.map { Array(object.btf.nameBytes($0.accessStringOffset)) }.first { $0.count >= 4 })
        let needle: [UInt8] = [0] + access + [0]
        let at = try #require((0 ..< bytes.count - needle.count).first { bytes[$0 ..< $0 + needle.count].elementsEqual(needle) })
        let replacement = Array("0:-1".utf8) + [UInt8](repeating: 0, count: access.count - 4)
        bytes.replaceSubrange(at + 1 ..< at + 1 + access.count, with: replacement)
        return bytes
    }

    // MARK: - 1. Devices and FIFOs as outputs

    @Test("1: a device or FIFO named as any output is refused and stays what it was; a directory symlink in OUT is not followed", .requiresRoot)
    func devicesAndFIFOsAreNeverReplaced() throws {
        try TestSupport.requireRoot("mknod")
        let dir = try TemporaryDirectory()
        let d = dir.path
        let null = d + "/null", fifo = d + "/fifo"
        #expect(try TestSupport.run("mknod", [null, "c", "1", "3"]).status == 0)
        #expect(mkfifo(fifo, 0o600) == 0)
        let kernel = d + "/kernel.btf"
        try FileIO.writeAtomically(try Self.kernelBytes(), to: kernel)
        try dir.write("tree/debian/12/x86_64/6.1.0-1.btf", try Self.kernelBytes())
        _ = try Self.writePack(d + "/pack.tar.xz")
        let object = try Self.object()
        for target in [null, fifo] {
            let runs: [(String, [String])] = [
                ("btf-trim", [object, kernel, "-o", target]),
                ("btf-trim", [object, kernel, "-o", d + "/o1.btf", "--report", target]),
                ("btf-trim", [object, kernel, "-o", d + "/o2.btf", "--report-html", target]),
                ("btf-dump", [kernel, "-o", target]),
                ("btf-pack", ["pack", d + "/tree", "-o", target]),
                ("btf-pack", ["embed", d + "/pack.tar.xz", "--into", "/bin/true", "-o", target]),
                ("btf-pack", ["emit-asm", d + "/pack.tar.xz", "-o", target]),
            ]
            for (tool, arguments) in runs {
                let result = try Self.guarded(tool, arguments, seconds: 30)
                let line = "\(tool) \(arguments.joined(separator: " "))"
                #expect(result.status == 2, "\(line): exit \(result.status): \(result.stderr)")
                #expect(result.stderr.contains(target) && result.stderr.contains(target == null ? "character device" : "FIFO"),
                        "\(line): \(result.stderr)")
                #expect(Self.fileType(target) == (target == null ? S_IFCHR : S_IFIFO), "\(line) replaced \(target)")
            }
            #expect(throws: BTFError.self) { try FileIO.writeAtomically([1, 2, 3], to: target) }
        }
        #expect(!FileManager.default.fileExists(atPath: d + "/o1.btf") && !FileManager.default.fileExists(atPath: d + "/o2.btf"),
                "an output was written although another output was refused")

        // OUT/debian is a symlink to a directory outside OUT: the kernel fails, nothing lands outside.
        let outside = d + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: d + "/out", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: d + "/out/debian", withDestinationPath: outside)
        let swept = try Self.guarded("btf-trim", [object, d + "/tree", "-o", d + "/out"])
        #expect(swept.status == 1, "exit \(swept.status): \(swept.stderr)")
        #expect(swept.stderr.contains("symbolic link inside the output directory"), "\(swept.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty, "btf-trim wrote through a symlink out of OUT")
    }

    // MARK: - 2. An output that is an input

    @Test("2: an output that is an input (also through hard and symbolic links) or another output is refused before reading")
    func outputThatIsAnInput() throws {
        let dir = try TemporaryDirectory()
        let d = dir.path
        let object = d + "/p.bpf.o"
        try FileIO.writeAtomically(try FileIO.read(try Self.object()), to: object)
        let kernel = d + "/k.btf"
        try FileIO.writeAtomically(try Self.kernelBytes(), to: kernel)
        #expect(link(object, d + "/hard.o") == 0)
        try FileManager.default.createSymbolicLink(atPath: d + "/soft.btf", withDestinationPath: kernel)
        _ = try Self.writePack(d + "/pack.tar.xz")
        let before = [object, kernel, d + "/pack.tar.xz"].map { try? Self.fingerprint($0) }
        let runs: [(String, [String], String)] = [
            ("btf-trim", [object, kernel, "-o", object], "same file as the input"),
            ("btf-trim", [object, kernel, "-o", d + "/hard.o"], "same file as the input"),
            ("btf-trim", [object, kernel, "-o", d + "/soft.btf"], "same file as the input"),
            ("btf-trim", [object, kernel, "-o", d + "/x.btf", "--report", d + "/x.btf"], "two outputs"),
            ("btf-trim", [object, kernel, "-o", d + "/y.btf", "--report", kernel], "same file as the input"),
            ("btf-trim", [object, kernel, "-o", d + "/z.btf", "--report", d + "/r", "--report-html", d + "/r"], "two outputs"),
            ("btf-dump", [kernel, "-o", d + "/soft.btf"], "same file as the input"),
            ("btf-pack", ["emit-asm", d + "/pack.tar.xz", "-o", d + "/pack.tar.xz"], "same file as the input"),
            ("btf-pack", ["embed", d + "/pack.tar.xz", "--into", "/bin/true", "-o", d + "/pack.tar.xz"], "same file as the input"),
        ]
        for (tool, arguments, message) in runs {
            let result = try Self.guarded(tool, arguments, seconds: 30)
            let line = "\(tool) \(arguments.joined(separator: " "))"
            #expect(result.status == 2, "\(line): exit \(result.status): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(line): \(result.stderr)")
        }
        let after = [object, kernel, d + "/pack.tar.xz"].map { try? Self.fingerprint($0) }
        for (b, a) in zip(before, after) { #expect(b?.0 == a?.0 && b?.1 == a?.1 && b?.2 == a?.2, "an input was changed") }
        for name in ["x.btf", "y.btf", "z.btf", "r"] { #expect(!FileManager.default.fileExists(atPath: d + "/" + name), "\(name) written") }
    }

    // MARK: - 3. Objects libbpf 1.1 crashes on

    @Test("3: access strings 0:-1 and 0:4294967295: btf-trim reports, btf-pack runner refuses, btf-run exits 1 before libbpf")
    func accessStringsLibbpfCrashesOn() throws {
        // No false alarm on the project's own objects.
        for path in try TestSupport.compiledBPFObjects() {
            let hazards = try BPFObject(contentsOf: path).libbpfHazards()
            #expect(hazards.isEmpty, "\(path): \(hazards)")
        }
        let dir = try TemporaryDirectory()
        let d = dir.path
        let bad = d + "/neg.bpf.o"
        try FileIO.writeAtomically(try Self.objectWithNegativeIndex(try Self.object()), to: bad)
        let hazards = try BPFObject(contentsOf: bad).libbpfHazards()
        #expect(hazards.count == 1 && hazards.first?.description.contains("\"0:-1\"") == true, "\(hazards)")

        // 0:4294967295 (glibc's %d wraps it to -1), and a root type id past the end, in the model.
        var object = try BPFObject(contentsOf: try Self.object())
        var section = try #require(object.ext?.coreRelocations.first)
        let wrapped = UInt32(object.btf.strings.count)
        object.btf.strings += Array("0:4294967295".utf8) + [0]
        section.records[0].accessStringOffset = StringOffset(wrapped)
        section.records[1].typeID = TypeID(UInt32(object.btf.typeCount + 7))
        object.ext?.coreRelocations[0] = section
        let problems = object.libbpfHazards().map(\.description)
        #expect(problems.contains { $0.contains("4294967295") } && problems.contains { $0.contains("root type id") }, "\(problems)")

        let kernel = d + "/k.btf"
        try FileIO.writeAtomically(try Self.kernelBytes(), to: kernel)
        let trimmed = try Self.guarded("btf-trim", [bad, kernel, "-o", d + "/out.btf"])
        #expect(trimmed.status == 0, "\(trimmed.stderr)")
        #expect(trimmed.stderr.contains("warning: \(bad)") && trimmed.stderr.contains("0:-1"), "\(trimmed.stderr)")

        let run = try Self.guarded("btf-run", [bad, "--btf", kernel, "--duration", "1"])
        #expect(run.status == 1, "btf-run: exit \(run.status) (139 is libbpf's SIGSEGV): \(run.stderr)")
        #expect(run.stderr.contains(bad) && run.stderr.contains("0:-1") && run.stderr.contains("before libbpf"), "\(run.stderr)")

        try dir.write("tree/debian/12/x86_64/6.1.0-1.btf", try Self.kernelBytes())
        let runner = try Self.guarded("btf-pack", ["runner", "--object", bad, "--btfhub", d + "/tree", "-o", d + "/runner"])
        #expect(runner.status == 1, "btf-pack runner: exit \(runner.status): \(runner.stderr)")
        #expect(runner.stderr.contains("0:-1") && runner.stderr.contains("no runner is built"), "\(runner.stderr)")
        #expect(!FileManager.default.fileExists(atPath: d + "/runner"))
    }

    // MARK: - 4. Endless inputs

    @Test("4: /dev/zero as object, kernel, FILE, pack and --into: refused at once as not a regular file")
    func endlessInputs() throws {
        let dir = try TemporaryDirectory()
        let d = dir.path
        let kernel = d + "/k.btf"
        try FileIO.writeAtomically(try Self.kernelBytes(), to: kernel)
        _ = try Self.writePack(d + "/pack.tar.xz")
        let object = try Self.object()
        let runs: [(String, [String], Int32)] = [
            ("btf-dump", ["/dev/zero"], 1),
            ("btf-trim", ["/dev/zero", kernel, "-o", d + "/o1.btf"], 2),
            ("btf-trim", [object, "/dev/zero", "-o", d + "/o2.btf"], 1),
            ("btf-run", ["/dev/zero", "--btf", kernel], 1),
            ("btf-pack", ["embed", "/dev/zero", "--into", "/bin/true", "-o", d + "/o3"], 1),
            ("btf-pack", ["embed", d + "/pack.tar.xz", "--into", "/dev/zero", "-o", d + "/o4"], 1),
        ]
        let clock = ContinuousClock()
        for (tool, arguments, status) in runs {
            let start = clock.now
            let result = try Self.guarded(tool, arguments, seconds: 30)
            let line = "\(tool) \(arguments.joined(separator: " "))"
            #expect(result.status == status, "\(line): exit \(result.status): \(result.stderr)")
            #expect(result.stderr.contains("/dev/zero") && result.stderr.contains("not a regular file"), "\(line): \(result.stderr)")
            #expect(clock.now - start < .seconds(20), "\(line) took \(clock.now - start)")
        }
        // A regular file over the read limit is refused from its size, before reading.
        try dir.write("big", [UInt8](repeating: 0, count: 4096))
        #expect(throws: BTFError.self) { _ = try FileIO.read(d + "/big", limit: 1024) }
    }

    // MARK: - 5. Amplification under the size cap

    @Test("5: an archive of 130 MiB of PTR records (a few KB compressed): those kernels fail alone on --max-type-section, the sweep goes on")
    func amplificationArchive() throws {
        let dir = try TemporaryDirectory()
        let d = dir.path
        let bomb = d + "/bomb.btf.tar.xz"
        // Header (24 bytes), 130 MiB of PTR -> void records, a one-byte string table.
        try HostileArchiveBuilder.build("""
            import struct
            count = (130 << 20) // 12
            types = struct.pack("<III", 0, 2 << 24, 0) * count
            blob = struct.pack("<HBBIIIII", 0xeb9f, 1, 0, 24, 0, len(types), len(types), 1) + types + b"\\0"
            with tarfile.open(out, "w:xz", preset=1) as tar: add(tar, "./bomb.btf", blob)
            """, at: bomb)
        #expect((try FileIO.read(bomb)).count < 1 << 20, "the archive should be small")
        let tree = d + "/tree/ubuntu/20.04/x86_64"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        for i in 1 ... 4 { #expect(link(bomb, "\(tree)/5.4.0-\(i)-bomb.btf.tar.xz") == 0) }
        try dir.write("tree/ubuntu/20.04/x86_64/5.4.0-9-good.btf", try Self.kernelBytes())
        let object = try Self.object()
        let result = try Self.guarded("btf-trim", [object, d + "/tree", "-o", d + "/out", "--jobs", "2"], seconds: 300,
                                      addressSpace: 2 << 30)
        #expect(result.status == 1, "exit \(result.status): \(result.stderr)")
        for i in 1 ... 4 {
            #expect(result.stderr.contains("5.4.0-\(i)-bomb.btf.tar.xz") , "bomb \(i) not named: \(result.stderr)")
        }
        #expect(result.stderr.contains("type section") && result.stderr.contains("--max-type-section"), "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: d + "/out/ubuntu/20.04/x86_64/5.4.0-9-good.btf"), "the good kernel was not trimmed")
        // The option raises the cap: the same kernel then parses and trims (to almost nothing).
        let raised = try Self.guarded("btf-trim", [object, "\(tree)/5.4.0-1-bomb.btf.tar.xz", "-o", d + "/one.btf",
                                                   "--max-type-section", "256"], seconds: 300, addressSpace: 3 << 30)
        #expect(raised.status == 0, "exit \(raised.status): \(raised.stderr)")
    }

    // MARK: - 6. Cycles

    @Test("6: a self-looping typedef: the kernel fails by name, no trimmed output keeps a cycle, the runtime refuses one")
    func cyclesNeverReachLibbpf() throws {
        let fixture = try HostileInputTests.fixture.get()
        // Whatever the cycle, a trim either fails or writes BTF without a pointer-free cycle.
        for cycle in HostileInputTests.Cycle.allCases {
            let kernel = try cycle.applied(to: fixture.kernel, name: cycle.rawValue)
            if let trimmed = try? Trimmer(objects: fixture.objects).trim(kernel: kernel) {
                #expect(trimmed.minimized.pointerFreeCycle() == nil, "\(cycle.rawValue): the trimmed BTF keeps a cycle")
            }
        }
        let looping = try HostileInputTests.Cycle.typedefToItself.applied(to: fixture.kernel, name: "typedef loop")
        let loop = try #require(looping.pointerFreeCycle())
        #expect(loop.count == 2 && loop[0] == loop[1] && looping.kind(loop[0]) == .typedef, "\(looping.describeCycle(loop))")
        #expect(fixture.kernel.pointerFreeCycle() == nil, "the intact kernel has a cycle")
        let error = #expect(throws: BTFError.self) { try Trimmer(objects: fixture.objects).trim(kernel: looping) }
        #expect(error?.problem.contains("reference cycle") == true, "\(String(describing: error))")

        let dir = try TemporaryDirectory()
        let d = dir.path
        let cyclic = d + "/cyclic.btf"
        try FileIO.writeAtomically(looping.serialized(), to: cyclic)
        let trimmed = try Self.guarded("btf-trim", try TestSupport.compiledBPFObjects() + [cyclic, "-o", d + "/out.btf"])
        #expect(trimmed.status == 1 && trimmed.stderr.contains(cyclic) && trimmed.stderr.contains("reference cycle"), "\(trimmed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: d + "/out.btf"))

        // The runtime: BTFKIT_BTF naming it, a pack entry holding it, btf-run --btf.
        #expect(throws: BTFRuntimeError.self) { try ChosenBTFCheck.check(looping.serialized(), source: "cyclic") }
        var options = RuntimeBTFOptions()
        options.environment = ["BTFKIT_BTF": cyclic]
        let override = #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.ensure(options) }
        #expect(override?.kind == .badOverride && override?.message.contains("reference cycle") == true, "\(String(describing: override))")
        let identity = try Self.writePack(d + "/pack.tar.xz", btf: looping.serialized())
        let packed = #expect(throws: BTFRuntimeError.self) {
            try RuntimeBTF.ensure(RuntimeTestSupport.forcedEmbeddedOptions(pack: try FileIO.read(d + "/pack.tar.xz"), identity: identity))
        }
        #expect(packed?.message.contains("reference cycle") == true, "\(String(describing: packed))")
        let run = try Self.guarded("btf-run", [try Self.object(), "--btf", cyclic, "--duration", "1"], seconds: 30)
        #expect(run.status == 1 && run.stderr.contains("reference cycle"), "btf-run: exit \(run.status) (124: hung): \(run.stderr)")
    }

    // MARK: - 7. FIFOs as inputs

    @Test("7: a FIFO as object, kernel, --btf, BTFKIT_BTF, pack and --into: refused at once, nothing blocks")
    func fifoInputs() throws {
        let dir = try TemporaryDirectory()
        let d = dir.path
        let fifo = d + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let kernel = d + "/k.btf"
        try FileIO.writeAtomically(try Self.kernelBytes(), to: kernel)
        _ = try Self.writePack(d + "/pack.tar.xz")
        let object = try Self.object()
        let runs: [(String, [String], [String: String], Int32)] = [
            ("btf-trim", [fifo, kernel, "-o", d + "/o1.btf"], [:], 2),
            ("btf-trim", [object, fifo, "-o", d + "/o2.btf"], [:], 1),
            ("btf-dump", [fifo], [:], 1),
            ("btf-run", [object, "--btf", fifo], [:], 1),
            ("btf-run", [object], ["BTFKIT_BTF": fifo, "BTFKIT_FORCE_EMBEDDED": "1"], 1),
            ("btf-pack", ["embed", fifo, "--into", "/bin/true", "-o", d + "/o3"], [:], 1),
            ("btf-pack", ["embed", d + "/pack.tar.xz", "--into", fifo, "-o", d + "/o4"], [:], 1),
            ("btf-pack", ["locate", "--pack", fifo], ["BTFKIT_FORCE_EMBEDDED": "1"], 1),
        ]
        for (tool, arguments, environment, status) in runs {
            let result = try Self.guarded(tool, arguments, environment: environment, seconds: 20)
            let line = "\(environment) \(tool) \(arguments.joined(separator: " "))"
            #expect(result.status == status, "\(line): exit \(result.status) (124: blocked): \(result.stderr)")
            #expect(result.stderr.contains(fifo) && result.stderr.contains("FIFO"), "\(line): \(result.stderr)")
        }
    }

    // MARK: - 8. --jobs

    @Test("8: --jobs 9223372036854775807 is a usage error at once; a large legal --jobs does not spin")
    func hugeJobs() throws {
        let dir = try TemporaryDirectory()
        try dir.write("tree/debian/12/x86_64/6.1.0-1.btf", try Self.kernelBytes())
        let object = try Self.object()
        let clock = ContinuousClock()
        for (tool, arguments) in [("btf-trim", [object, dir.path + "/tree", "-o", dir.path + "/out", "--jobs", "9223372036854775807"]),
                                  ("btf-pack", ["runner", "--object", object, "--btfhub", dir.path + "/tree", "-o", dir.path + "/r",
                                                "--jobs", "9223372036854775807"])] {
            let start = clock.now
            let result = try Self.guarded(tool, arguments, seconds: 20)
            #expect(result.status == 2 && result.stderr.contains("--jobs"), "\(tool): exit \(result.status): \(result.stderr)")
            #expect(clock.now - start < .seconds(10))
        }
        let start = clock.now
        let result = try Self.guarded("btf-trim", [object, dir.path + "/tree", "-o", dir.path + "/out", "--jobs", "\(SweepOptions.maxJobs)"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(clock.now - start < .seconds(30))
    }

    // MARK: - 9. Silent loss in tree walks

    @Test("9: a \\xe9 name and a path over 4096 bytes fail by name; a 250-character name is trimmed; nothing is dropped silently")
    func treeWalkReportsEverything() throws {
        let dir = try TemporaryDirectory()
        let d = dir.path
        let kernelBytes = try Self.kernelBytes()
        let arch = d + "/tree/debian/12/x86_64"
        try dir.write("tree/debian/12/x86_64/6.1.0-good.btf", kernelBytes)
        try Self.createFile(rawPath: Array("\(arch)/6.1.0-".utf8) + [0xe9] + Array(".btf".utf8), contents: kernelBytes)
        let long = "6.1.0-" + String(repeating: "l", count: 250 - "6.1.0-".count - ".btf".count)
        try dir.write("tree/debian/12/x86_64/\(long).btf", kernelBytes)
        // 21 directories of 200 characters: the kernel at the bottom lies past PATH_MAX.
        let deep = try TestSupport.run("python3", ["-c", """
            import os, shutil, sys
            os.chdir(sys.argv[1]); os.mkdir("deep"); os.chdir("deep")
            for i in range(21): os.mkdir("d" * 200); os.chdir("d" * 200)
            os.makedirs("ubuntu/20.04/x86_64"); shutil.copyfile(sys.argv[2], "ubuntu/20.04/x86_64/5.4.0-deep.btf")
            """, d + "/tree", "\(arch)/6.1.0-good.btf"])
        #expect(deep.status == 0, "\(deep.stderr)")
        defer { _ = try? TestSupport.run("rm", ["-rf", d + "/tree/deep"]) }

        let object = try Self.object()
        let result = try Self.guarded("btf-trim", [object, d + "/tree", "-o", d + "/out"])
        #expect(result.status == 1, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("6.1.0-\\xe9.btf") && result.stderr.contains("not valid UTF-8"), "\(result.stderr)")
        #expect(result.stderr.contains("File name too long"), "\(result.stderr)")
        #expect(result.stderr.contains("failed kernels (2)"), "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: d + "/out/debian/12/x86_64/\(long).btf"), "the 250-character kernel was not trimmed")
        #expect(FileManager.default.fileExists(atPath: d + "/out/debian/12/x86_64/6.1.0-good.btf"))
        // btf-pack refuses the tree rather than drop them.
        let packed = try Self.guarded("btf-pack", ["pack", d + "/tree", "-o", d + "/p.tar.xz"])
        #expect(packed.status == 1 && packed.stderr.contains("6.1.0-\\xe9.btf"), "\(packed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: d + "/p.tar.xz"))
    }

    @Test("9 and 12: a subdirectory btf-trim cannot list (run as nobody) fails alone; the sweep goes on", .requiresRoot)
    func unreadableSubdirectoryFailsAlone() throws {
        try TestSupport.requireRoot("mknod")
        let setpriv = try TestSupport.which("setpriv")
        let dir = try TemporaryDirectory()
        let d = dir.path
        try dir.write("tree/debian/12/x86_64/6.1.0-good.btf", try Self.kernelBytes())
        try dir.write("tree/ubuntu/20.04/x86_64/5.4.0-1-generic.btf", try Self.kernelBytes())
        try FileManager.default.copyItem(atPath: try Self.object(), toPath: d + "/p.bpf.o")
        try FileManager.default.createDirectory(atPath: d + "/out", withIntermediateDirectories: true)
        for path in [d, d + "/tree", d + "/tree/debian", d + "/tree/debian/12", d + "/tree/debian/12/x86_64"] { chmod(path, 0o755) }
        chmod(d + "/out", 0o777)
        chmod(d + "/tree/ubuntu", 0o000)
        let result = try TestSupport.run("/usr/bin/timeout", ["60", setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                                                              try BTFTrimTool.path(), d + "/p.bpf.o", d + "/tree", "-o", d + "/out"])
        chmod(d + "/tree/ubuntu", 0o755)
        #expect(result.status == 1, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("\(d)/tree/ubuntu") && result.stderr.contains("cannot list directory"), "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: d + "/out/debian/12/x86_64/6.1.0-good.btf"), "the readable kernel was not trimmed")
    }

    // MARK: - 10. btf-pack and what is not BTF inside the tree

    @Test("10: symlinks out of the tree, garbage and empty .btf files are refused by btf-pack; a non-ASCII name is packed")
    func packOnlyWhatIsBTFInsideTheTree() throws {
        let dir = try TemporaryDirectory()
        let d = dir.path
        let kernelBytes = try Self.kernelBytes()
        try dir.write("secret/shadow.btf", kernelBytes)
        try dir.write("linked/debian/12/x86_64/6.1.0-good.btf", kernelBytes)
        try FileManager.default.createSymbolicLink(atPath: d + "/linked/debian/12/x86_64/6.1.0-secret.btf", withDestinationPath: d + "/secret/shadow.btf")
        try dir.write("garbage/debian/12/x86_64/6.1.0-1.btf", Array("not BTF at all\n".utf8))
        try dir.write("empty/debian/12/x86_64/6.1.0-1.btf", [])
        let cases: [(String, String)] = [("linked", "outside the tree"), ("garbage", "not BTF"), ("empty", "not BTF")]
        for (tree, message) in cases {
            let result = try Self.guarded("btf-pack", ["pack", d + "/" + tree, "-o", d + "/\(tree).tar.xz"])
            #expect(result.status == 1 && result.stderr.contains(message), "\(tree): exit \(result.status): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: d + "/\(tree).tar.xz"))
        }
        let swept = try Self.guarded("btf-trim", [try Self.object(), d + "/linked", "-o", d + "/out"])
        #expect(swept.status == 1 && swept.stderr.contains("6.1.0-secret.btf") && swept.stderr.contains("outside the tree"), "\(swept.stderr)")
        #expect(!FileManager.default.fileExists(atPath: d + "/out/debian/12/x86_64/6.1.0-secret.btf"))

        try dir.write("accents/debian/12/x86_64/6.1.0-\u{e9}t\u{e9}.btf", kernelBytes)
        let packed = try Self.guarded("btf-pack", ["pack", d + "/accents", "-o", d + "/accents.tar.xz"])
        #expect(packed.status == 0, "\(packed.stderr)")
        let pack = try BTFPack(contentsOf: d + "/accents.tar.xz")
        #expect(pack.identities.map(\.release) == ["6.1.0-\u{e9}t\u{e9}"], "\(pack.identities)")
    }

    // MARK: - 11. Terminal escapes

    @Test("11: ESC[2J and newlines in file names, archive members and BTFKIT_ENTRY are printed as \\xNN on one line")
    func namesAreEscaped() throws {
        let dir = try TemporaryDirectory()
        let d = dir.path
        try dir.write("tree/debian/12/x86_64/6.1.0-\u{1b}[2J\nx.btf", Array("garbage".utf8))
        try HostileArchiveBuilder.build("""
            with tarfile.open(out, "w:xz") as tar: add(tar, "evil\\x1b[2J\\nname.txt", b"x")
            """, at: d + "/evil.btf.tar.xz")
        _ = try Self.writePack(d + "/pack.tar.xz")
        let object = try Self.object()
        let runs: [(String, [String], [String: String])] = [
            ("btf-trim", [object, d + "/tree", "-o", d + "/out"], [:]),
            ("btf-trim", [object, d + "/evil.btf.tar.xz", "-o", d + "/o.btf"], [:]),
            ("btf-pack", ["locate", "--pack", d + "/pack.tar.xz"], ["BTFKIT_ENTRY": "a/b/c/\u{1b}[2J\nd", "BTFKIT_FORCE_EMBEDDED": "1"]),
            ("btf-dump", [d + "/tree/debian/12/x86_64/6.1.0-\u{1b}[2J\nx.btf"], [:]),
        ]
        for (tool, arguments, environment) in runs {
            let result = try Self.guarded(tool, arguments, environment: environment)
            let line = "\(tool) \(arguments.joined(separator: " "))"
            #expect(result.status == 1, "\(line): exit \(result.status): \(result.stderr)")
            #expect(!result.stderr.contains("\u{1b}"), "\(line): a raw ESC reached the terminal: \(result.stderr)")
            #expect(result.stderr.contains("\\x1b[2J\\x0a"), "\(line): \(result.stderr)")
        }
        // os-release values in btf-run --which's trail (standard output).
        try dir.write("host/etc/os-release", Array("ID=ubuntu\nVERSION_ID=\"20.04\u{1b}[2J\"\n".utf8))
        try dir.write("hub/ubuntu/20.04/x86_64/5.4.0-1-generic.btf", try Self.kernelBytes())
        let which = try Self.guarded("btf-run", ["--which", "--host-root", d + "/host", "--btfhub", d + "/hub"],
                                     environment: ["BTFKIT_FORCE_EMBEDDED": "1"])
        #expect(!(which.stdout + which.stderr).contains("\u{1b}"), "btf-run --which printed a raw ESC: \(which.stdout) \(which.stderr)")
        #expect((which.stdout + which.stderr).contains("20.04\\x1b[2J"), "\(which.stdout) \(which.stderr)")
        #expect(escapedForTerminal(bytes: [0x61, 0xe9, 0x1b, 0x0a]) == "a\\xe9\\x1b\\x0a")
        #expect(escapedForTerminal("caf\u{e9} \u{9b}") == "caf\u{e9} \\xc2\\x9b")
    }

    // MARK: - 12. Messages and exit codes

    @Test("12: usage errors exit 2 in all four tools; --section '' and an ELF32 header get messages that say so")
    func exitCodesAndMessages() throws {
        for tool in ["btf-trim", "btf-pack", "btf-run", "btf-dump"] {
            let result = try Self.guarded(tool, ["--no-such-flag"], seconds: 20)
            #expect(result.status == 2, "\(tool) --no-such-flag: exit \(result.status): \(result.stderr)")
        }
        let attach = try Self.guarded("btf-run", [try Self.object(), "--attach", "malformed"], seconds: 20)
        #expect(attach.status == 2 && attach.stderr.contains("--attach"), "\(attach.stderr)")
        let help = try Self.guarded("btf-run", ["--help"], seconds: 20)
        #expect(help.stdout.contains("usage error (exit 2"), "btf-run --help must say what a malformed --attach gives")

        let dir = try TemporaryDirectory()
        let d = dir.path
        _ = try Self.writePack(d + "/pack.tar.xz")
        let section = try Self.guarded("btf-pack", ["embed", d + "/pack.tar.xz", "--into", "/bin/true", "-o", d + "/o", "--section", ""])
        #expect(section.status == 2 && section.stderr.contains("--section must name a section"), "\(section.stderr)")
        // A minimal ELF32 header: 52 bytes, class 1.
        var elf32 = [UInt8](repeating: 0, count: 52)
        elf32.replaceSubrange(0 ..< 7, with: [0x7f, 0x45, 0x4c, 0x46, 1, 1, 1])
        try dir.write("elf32", elf32)
        let embedded = try Self.guarded("btf-pack", ["embed", d + "/pack.tar.xz", "--into", d + "/elf32", "-o", d + "/o"])
        #expect(embedded.status == 1 && embedded.stderr.contains("32-bit"), "\(embedded.stderr)")
        let parsed = #expect(throws: BTFError.self) { _ = try ELFFile(parsing: elf32, file: "elf32") }
        #expect(parsed?.problem.contains("32-bit") == true, "\(String(describing: parsed))")
        #expect((try? ELFSectionReader.contents(inFile: d + "/elf32")) == nil)
        let read = #expect(throws: PackError.self) { _ = try ELFSectionReader.contents(inFile: d + "/elf32") }
        #expect(read?.problem.contains("32-bit") == true, "\(String(describing: read))")
    }
}
