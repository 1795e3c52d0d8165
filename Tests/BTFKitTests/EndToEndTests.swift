import Archive
import BTFRuntime
import Foundation
import Testing

/// The payoff, proven on this machine: a runner built by `btf-pack runner` loads execsnoop on a
/// kernel whose BTF is hidden (a tmpfs over /sys/kernel/btf in a private mount namespace), with
/// the trimmed BTF it carries, and reports the right parent pid, pid and command name of a child
/// the test starts. Needs root; skipped otherwise, failed under CI=true.
@Suite("End to end: the runner on this kernel with its BTF hidden", .serialized,
       .enabled(if: EndToEnd.shouldRun, "needs root and unshare (CI runs it as root)"))
struct EndToEndTests {
    @Test("the runner relocates with the embedded entry for this kernel and reports the child's ppid, pid and comm")
    func embeddedEntryGivesTheRightValues() throws {
        let setup = try EndToEnd.setup.get()
        let run = try EndToEnd.probe(runner: setup.runner, arguments: ["--event-type", "execsnoop_event"])
        #expect(run.status == 0, "runner failed: \(run.log)")
        #expect(run.log.contains("BTF: embedded entry \(setup.identityPath) from section .btfkit.pack of \(setup.runner)"), "\(run.log)")
        // The static runner exposes the BTF through a memfd, never a file on disk.
        #expect(run.log.contains("given to libbpf as /proc/self/fd/"), "\(run.log)")
        #expect(run.log.contains("/sys/kernel/btf/vmlinux is absent"), "\(run.log)")
        let matching = run.events.filter { $0["pid"] as? Int == run.childPID && $0["comm"] as? String == EndToEnd.childName }
        #expect(matching.count == 1, "no event for pid \(run.childPID) comm \(EndToEnd.childName) among \(run.events.count) events: \(run.rawEvents.prefix(2000)); log: \(run.log)")
        #expect(matching.first?["ppid"] as? Int == run.parentPID, "\(matching)")
    }

    @Test("a runner whose tree lacks this kernel says so and exits non-zero")
    func missingKernelIsAClearError() throws {
        let setup = try EndToEnd.setup.get()
        let run = try EndToEnd.probe(runner: setup.runnerWithoutThisKernel, arguments: ["--event-type", "execsnoop_event"])
        #expect(run.status != 0)
        #expect(run.log.contains(setup.identityPath.replacingOccurrences(of: ".btf", with: "")), "the error names the kernel: \(run.log)")
        #expect(run.log.contains("no BTF") || run.log.contains("no entry"), "\(run.log)")
        #expect(run.events.isEmpty)
    }

    @Test("BTFKIT_BTF naming another kernel's BTF still loads, and the values are wrong: the BTF drives the offsets")
    func otherKernelsBTFGivesOtherValues() throws {
        let setup = try EndToEnd.setup.get()
        let run = try EndToEnd.probe(runner: setup.runner, arguments: ["--event-type", "execsnoop_event"],
                                     environment: ["BTFKIT_BTF": setup.otherKernelBTF])
        #expect(run.status == 0, "runner failed: \(run.log)")
        #expect(run.log.contains("file \(setup.otherKernelBTF)") && run.log.contains("named by BTFKIT_BTF"), "\(run.log)")
        #expect(!run.events.isEmpty, "the program ran (execs happened) but no event arrived: \(run.log)")
        let right = run.events.filter {
            $0["pid"] as? Int == run.childPID && $0["ppid"] as? Int == run.parentPID && $0["comm"] as? String == EndToEnd.childName
        }
        #expect(right.isEmpty, "CentOS 8 offsets gave this kernel's values: \(right)")
    }

    @Test("perf buffer events decode too, and a program libbpf cannot auto-attach is explained while the others run")
    func perfBufferAndUnattachableProgram() throws {
        // execsnoop's record sent through a perf event array, plus a kprobe without a target.
        let source = """
        #include "kernel_types.h"
        #include <bpf/bpf_helpers.h>
        #include <bpf/bpf_core_read.h>
        #include "execsnoop.h"
        struct {
        \t__uint(type, 4 /* BPF_MAP_TYPE_PERF_EVENT_ARRAY */);
        \t__uint(key_size, sizeof(int));
        \t__uint(value_size, sizeof(int));
        } perf_events SEC(".maps");
        struct execsnoop_event *execsnoop_event_type __attribute__((unused));
        SEC("tracepoint/syscalls/sys_enter_execve")
        int perfsnoop(void *ctx)
        {
        \tstruct task_struct *task = (struct task_struct *)bpf_get_current_task();
        \tstruct execsnoop_event event = {};
        \tevent.ppid = BPF_CORE_READ(task, real_parent, tgid);
        \tevent.pid = BPF_CORE_READ(task, tgid);
        \tBPF_CORE_READ_STR_INTO(&event.comm, task, comm);
        \tbpf_perf_event_output(ctx, &perf_events, 0xffffffffULL /* BPF_F_CURRENT_CPU */, &event, sizeof(event));
        \treturn 0;
        }
        SEC("kprobe")
        int kprobe_without_target(void *ctx) { return 0; }
        char LICENSE[] SEC("license") = "GPL";
        """
        let directory = PackFixtures.temporaryPath("perfsnoop")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try source.write(toFile: directory + "/perfsnoop.bpf.c", atomically: true, encoding: .utf8)
        let bpf = TestSupport.packageRoot + "/bpf"
        let compiled = try TestSupport.run("clang", ["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I", bpf + "/include", "-I", bpf,
                                                     "-c", directory + "/perfsnoop.bpf.c", "-o", directory + "/perfsnoop.bpf.o"])
        try #require(compiled.status == 0, "\(compiled.stderr)")
        // The plain btf-run with the object as argument, the kernel's BTF hidden, BTF from --btfhub.
        let setup = try EndToEnd.setup.get()
        let run = try EndToEnd.probe(runner: try PackFixtures.product("btf-run"),
                                     arguments: [directory + "/perfsnoop.bpf.o", "--event-type", "execsnoop_event", "--btfhub", setup.tree])
        #expect(run.status == 0, "\(run.log)")
        #expect(run.log.contains("BTF: btfhub tree entry \(setup.identityPath)"), "\(run.log)")
        #expect(run.log.contains("program kprobe_without_target (section kprobe) not attached: Operation not supported"), "\(run.log)")
        #expect(run.log.contains("streaming events from perf_events (perf buffer)"), "\(run.log)")
        let matching = run.events.filter { $0["pid"] as? Int == run.childPID && $0["comm"] as? String == EndToEnd.childName }
        #expect(matching.count == 1 && matching.first?["ppid"] as? Int == run.parentPID, "\(run.rawEvents.prefix(2000))")
    }

    @Test("SIGINT detaches cleanly (exit 0); tracefs is mounted when a tracepoint needs it and unmounted after")
    func signalAndTracefs() throws {
        let btfRun = try PackFixtures.product("btf-run")
        let object = try PackFixtures.execsnoopObject()
        let script = """
        umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null
        test -e /sys/kernel/tracing/events && exit 90
        "$0" "$1" -v > /dev/null 2> "$2" &
        pid=$!
        i=0
        while ! grep -q "streaming events" "$2" && kill -0 $pid 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
        kill -INT $pid
        wait $pid
        status=$?
        test -e /sys/kernel/tracing/events && echo "tracefs still mounted" >> "$2"
        exit $status
        """
        let log = PackFixtures.temporaryPath("sigint-log")
        let result = try PackFixtures.runWithEnvironment(try TestSupport.which("unshare"), ["-m", "sh", "-c", script, btfRun, object, log], [:])
        let text = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "") + result.stderr
        #expect(result.status == 0, "\(text)")
        #expect(text.contains("mounted tracefs at /sys/kernel/tracing"), "\(text)")
        #expect(text.contains("btf-run: detached"), "\(text)")
        #expect(!text.contains("tracefs still mounted"), "\(text)")
    }

    @Test("the runner needs no shared library")
    func runnerIsStatic() throws {
        let setup = try EndToEnd.setup.get()
        #expect(throws: PackError.self, "a static executable has no .interp") {
            _ = try ELFSectionReader.contents(ofSection: ".interp", inFile: setup.runner, maxSize: 4096)
        }
        let ldd = try TestSupport.run("ldd", [setup.runner])
        let text = String(decoding: ldd.stdout, as: UTF8.self) + ldd.stderr
        #expect(text.contains("not a dynamic executable") || text.contains("statically linked"), "\(text)")
    }
}

/// The shared fixture: the static runner, two trees, the runners built from them.
enum EndToEnd {
    static let childName = "btfkitprobe"

    static var shouldRun: Bool {
        if TestSupport.isCI { return true }  // under CI a missing prerequisite is a failure, found in setup
        return TestSupport.isRoot && (try? TestSupport.which("unshare")) != nil
    }

    struct Setup {
        /// The runner built from a tree holding this kernel.
        var runner: String
        /// The runner built from a tree without it.
        var runnerWithoutThisKernel: String
        /// This kernel's entry, `<ID>/<VERSION_ID>/<arch>/<release>.btf`.
        var identityPath: String
        /// A raw BTF of another kernel (CentOS 8).
        var otherKernelBTF: String
        /// The btfhub tree holding this kernel (as a raw .btf) and three btfhub kernels.
        var tree: String
    }

    static let setup = Result<Setup, any Error> { try makeSetup() }

    private static func makeSetup() throws -> Setup {
        guard TestSupport.isRoot else { throw TestSupportError("the end-to-end tests need root (bpf(), mount namespaces)") }
        guard TestSupport.sharedArchiveAvailable() else { throw TestSupportError("the shared btfhub archive is missing") }
        let directory = PackFixtures.temporaryPath("end-to-end")
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        // This kernel under its os-release identity, read here independently of BTFRuntime.
        let osRelease = try String(contentsOfFile: "/etc/os-release", encoding: .utf8)
        func field(_ name: String) -> String? {
            osRelease.split(separator: "\n").first { $0.hasPrefix(name + "=") }
                .map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: CharacterSet(charactersIn: "\"'")) }
        }
        guard let id = field("ID"), let versionID = field("VERSION_ID") else { throw TestSupportError("/etc/os-release has no ID or VERSION_ID") }
        let machine = String(decoding: try TestSupport.run("uname", ["-m"]).stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let release = String(decoding: try TestSupport.run("uname", ["-r"]).stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let arch = machine == "aarch64" ? "arm64" : machine
        let identityPath = "\(id)/\(versionID)/\(arch)/\(release).btf"

        let others = ["debian/10/x86_64/4.19.0-21-cloud-amd64.btf.tar.xz", "ubuntu/20.04/x86_64/5.4.0-86-generic.btf.tar.xz",
                      "centos/8/x86_64/4.18.0-80.el8.x86_64.btf.tar.xz"]
        func tree(_ name: String, withThisKernel: Bool) throws -> String {
            let root = directory + "/" + name
            for other in others {
                let target = root + "/" + other
                try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: TestSupport.sharedArchive + "/" + other, toPath: target)
            }
            if withThisKernel {
                let target = root + "/" + identityPath
                try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: "/sys/kernel/btf/vmlinux", toPath: target)
            }
            return root
        }

        let object = try PackFixtures.execsnoopObject()
        let staticRunner = try staticBTFRun()
        let btfPack = try PackFixtures.product("btf-pack")
        func buildRunner(_ tree: String, _ output: String) throws -> String {
            let path = directory + "/" + output
            let result = try TestSupport.run(btfPack, ["runner", "--object", object, "--btfhub", tree, "-o", path, "--runner", staticRunner])
            guard result.status == 0 else { throw TestSupportError("btf-pack runner failed: \(result.stderr)") }
            return path
        }
        let withThisKernel = try tree("hub", withThisKernel: true)
        return Setup(runner: try buildRunner(withThisKernel, "execsnoop-runner"),
                     runnerWithoutThisKernel: try buildRunner(try tree("hub-without", withThisKernel: false), "execsnoop-runner-without"),
                     identityPath: identityPath,
                     otherKernelBTF: try TestSupport.extractedKernel(TestSupport.sharedArchive + "/" + others[2]),
                     tree: withThisKernel)
    }

    /// The fully static btf-run: BTFKIT_STATIC_BTF_RUN if set (a prebuilt one), else built here
    /// with its own scratch directory (a release build from a clean clone takes a few minutes).
    static func staticBTFRun() throws -> String {
        if let given = ProcessInfo.processInfo.environment["BTFKIT_STATIC_BTF_RUN"] { return given }
        let scratch = TestSupport.packageRoot + "/.build-runner"
        let start = Date()
        let build = try TestSupport.run("swift", ["build", "--package-path", TestSupport.packageRoot, "-c", "release", "--product", "btf-run",
                                                  "--scratch-path", scratch, "-Xswiftc", "-static-executable", "-Xlinker", "-s"])
        guard build.status == 0 else {
            throw TestSupportError("building the static btf-run failed: \(String(decoding: build.stdout, as: UTF8.self).suffix(3000)) \(build.stderr.suffix(3000))")
        }
        print("static btf-run built in \(Int(Date().timeIntervalSince(start))) s")
        return scratch + "/release/btf-run"
    }

    struct ProbeRun {
        var status: Int32
        var log: String
        var rawEvents: String
        var events: [[String: Any]]
        var parentPID: Int
        var childPID: Int
    }

    /// Inside `unshare -m` with a tmpfs over /sys/kernel/btf: starts the runner (`--json -v
    /// --duration 4`), waits until it streams, then has a shell (pid known) start `btfkitprobe`
    /// (a copy of sh, pid known) which execs /bin/true: the exec's event must say
    /// ppid = the shell, pid = btfkitprobe, comm = btfkitprobe.
    static func probe(runner: String, arguments: [String], environment: [String: String] = [:]) throws -> ProbeRun {
        let directory = PackFixtures.temporaryPath("probe-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // /bin/sh is a symbolic link (to dash): copy the program itself, so its name is ours.
        let shell = URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path
        try FileManager.default.copyItem(atPath: shell, toPath: directory + "/" + childName)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory + "/" + childName)
        let script = """
        set -u
        runner=$1; out=$2; shift 2
        mount -t tmpfs none /sys/kernel/btf || exit 90
        test ! -e /sys/kernel/btf/vmlinux || exit 91
        "$runner" --json -v --duration 4 "$@" > "$out/events" 2> "$out/log" &
        pid=$!
        i=0
        while ! grep -q "streaming events" "$out/log" 2>/dev/null && kill -0 $pid 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
        echo $$ > "$out/ppid"
        "$out/\(childName)" -c 'echo $$ > "$1/pid"; exec /bin/true' probe "$out"
        wait $pid
        """
        try script.write(toFile: directory + "/probe.sh", atomically: true, encoding: .utf8)
        let result = try PackFixtures.runWithEnvironment(try TestSupport.which("unshare"), ["-m", "sh", directory + "/probe.sh", runner, directory] + arguments, environment)
        let read = { (name: String) in (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "" }
        let rawEvents = read("events")
        let events = rawEvents.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
        return ProbeRun(status: result.status, log: read("log") + result.stderr, rawEvents: rawEvents, events: events,
                        parentPID: Int(read("ppid").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1,
                        childPID: Int(read("pid").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1)
    }
}
