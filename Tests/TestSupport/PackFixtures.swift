import Archive
import BTF
import Foundation

/// Test data for packs: real trimmed kernels (btf-trim over btfhub-fixtures), copied under extra
/// identities so that there are duplicates and an arm64 kernel.
enum PackFixtures {
    /// A fresh path for `name` inside this test process's scratch directory.
    static func temporaryPath(_ name: String) -> String {
        processDirectory + "/\(UInt32.random(in: 0 ... .max))-\(name)"
    }

    /// `$TMPDIR/btfkit-packtests-<pid>`, created on first use. Directories left by earlier test
    /// processes that are no longer running are removed then, so runs do not pile up files.
    static let processDirectory: String = {
        let parent = FileManager.default.temporaryDirectory.path
        let prefix = "btfkit-packtests-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(prefix) {
            if let pid = Int32(name.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(atPath: parent + "/" + name)
            }
        }
        let directory = parent + "/" + prefix + "\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }()

    /// A product of this package from the build directory the tests run from.
    static func product(_ name: String) throws -> String {
        var directory = Bundle.main.executableURL?.deletingLastPathComponent() ?? URL(fileURLWithPath: "/")
        for bundle in Bundle.allBundles + [Bundle.main] {
            var candidate = bundle.bundleURL
            for _ in 0 ..< 4 {
                let path = candidate.appendingPathComponent(name).path
                if FileManager.default.fileExists(atPath: path) { return path }
                candidate = candidate.deletingLastPathComponent()
            }
        }
        for _ in 0 ..< 4 {
            let path = directory.appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: path) { return path }
            directory = directory.deletingLastPathComponent()
        }
        throw TestSupportError("\(name) not found in the build directory; build it (swift build --product \(name)) before the tests")
    }

    /// btfhub-fixtures trimmed for bpf/*.bpf.c by the built btf-trim (once per run, cached).
    static func trimmedInputs() throws -> [PackInput] { try trimmed.get() }

    private static let trimmed = Result<[PackInput], Error> {
        let objects = try TestSupport.compiledBPFObjects()
        let out = temporaryPath("trimmed")
        let run = try TestSupport.run(try product("btf-trim"), objects + [TestSupport.fixtures + "/debian", "-o", out])
        guard run.status == 0 else { throw TestSupportError("btf-trim failed on btfhub-fixtures: \(run.stderr)") }
        let tree = try BTFHubTree(scanning: out)
        var inputs = try tree.kernels.map { PackInput(identity: $0.identity, btf: try $0.readBTFBytes()) }
        guard inputs.count >= 3 else { throw TestSupportError("expected 3 trimmed fixtures, got \(inputs.count)") }
        // Duplicates, as btfhub has them (flavours of one release trimming to the same bytes).
        for (index, input) in inputs.enumerated() {
            for flavour in ["rt", "cloud"] {
                var copy = input
                copy.identity.release = input.identity.release + "-\(flavour)\(index)"
                inputs.append(copy)
            }
        }
        return inputs
    }

    /// Writes `inputs` as a btfhub tree and returns its root.
    static func writeTree(_ inputs: [PackInput]) throws -> String {
        let root = temporaryPath("tree")
        for input in inputs {
            let path = root + "/" + input.identity.btfRelativePath
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileIO.writeAtomically(input.btf, to: path)
        }
        return root
    }

    /// A tree with the trimmed fixtures plus this machine's kernel, trimmed from
    /// /sys/kernel/btf/vmlinux for execsnoop, under this machine's identity.
    static func treeWithRunningKernel() throws -> (tree: String, identity: KernelIdentity, btf: [UInt8]) {
        let identity = try RuntimeTestSupport.runningIdentity()
        let trimmedFile = temporaryPath("vmlinux.min.btf")
        let run = try TestSupport.run(try product("btf-trim"), [try execsnoopObject(), "/sys/kernel/btf/vmlinux", "-o", trimmedFile])
        guard run.status == 0 else { throw TestSupportError("btf-trim on /sys/kernel/btf/vmlinux failed: \(run.stderr)") }
        let btf = try FileIO.read(trimmedFile)
        var inputs = try trimmedInputs()
        inputs.removeAll { $0.identity == identity }
        inputs.append(PackInput(identity: identity, btf: btf))
        return (try writeTree(inputs), identity, btf)
    }

    static func execsnoopObject() throws -> String {
        guard let object = try TestSupport.compiledBPFObjects().first(where: { $0.hasSuffix("/execsnoop.bpf.o") }) else {
            throw TestSupportError("bpf/execsnoop.bpf.c is missing")
        }
        return object
    }

    /// `strip -o` copy of `binary`.
    static func stripped(_ binary: String) throws -> String {
        let out = binary + ".stripped"
        let run = try TestSupport.run("strip", ["-o", out, binary])
        guard run.status == 0 else { throw TestSupportError("strip failed: \(run.stderr)") }
        return out
    }

    /// Runs `executable` with `extra` added to this process's environment.
    static func runWithEnvironment(_ executable: String, _ arguments: [String], _ extra: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "BTFKIT_BTF")
        environment.removeValue(forKey: "BTFKIT_FORCE_EMBEDDED")
        environment.merge(extra) { $1 }
        process.environment = environment
        let out = temporaryPath("stdout"), err = temporaryPath("stderr")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "", (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }
}
