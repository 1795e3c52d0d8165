import Archive
import BTFRuntime
import Foundation
@testable import TestSupport
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
        // No --event-type here: the runner was built with it as a default argument.
        let run = try EndToEnd.probe(runner: setup.runner, arguments: [])
        #expect(run.status == 0, "runner failed: \(run.log)")
        #expect(run.log.contains("arguments this runner was built with: --event-type execsnoop_event"), "\(run.log)")
        #expect(run.log.contains("BTF: embedded entry \(setup.identityPath) from section .btfkit.pack of \(setup.runner)"), "\(run.log)")
        // The static runner exposes the BTF through a memfd, never a file on disk.
        #expect(run.log.contains("given to libbpf as /proc/self/fd/"), "\(run.log)")
        #expect(run.log.contains("/sys/kernel/btf/vmlinux is absent"), "\(run.log)")
        let matching = run.events.filter { $0["pid"] as? Int == run.childPID && $0["comm"] as? String == EndToEnd.childName }
        #expect(matching.count == 1, "no event for pid \(run.childPID) comm \(EndToEnd.childName) among \(run.events.count) events: \(run.rawEvents.prefix(2000)); log: \(run.log)")
        #expect(matching.first?["ppid"] as? Int == run.parentPID, "\(matching)")
    }

    @Test("plain `swift build -c release` gives a fully static btf-run, and the runner made from it is static too (ldd)")
    func runnerIsStaticFromAPlainBuild() throws {
        let setup = try EndToEnd.setup.get()
        for binary in [try EndToEnd.staticBTFRun(), setup.runner] {
            // ldd is the reference: glibc's loader says this of an executable with no interpreter.
            let ldd = try TestSupport.run("ldd", [binary])
            let said = String(decoding: ldd.stdout, as: UTF8.self) + ldd.stderr
            #expect(said.contains("not a dynamic executable"), "\(binary): \(said)")
        }
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
        // Left out by the plan where the kernel has no kprobes (this test machine), else refused by libbpf at attach.
        #expect(run.log.contains("program kprobe_without_target (section kprobe) not attached: Operation not supported")
                || run.log.contains("program kprobe_without_target (section kprobe): not loaded: this kernel has no kprobes"), "\(run.log)")
        #expect(run.log.contains("streaming events from perf_events (perf buffer)"), "\(run.log)")
        let matching = run.events.filter { $0["pid"] as? Int == run.childPID && $0["comm"] as? String == EndToEnd.childName }
        #expect(matching.count == 1 && matching.first?["ppid"] as? Int == run.parentPID, "\(run.rawEvents.prefix(2000))")
    }

    @Test("SIGINT detaches cleanly (exit 0); tracefs is mounted when a tracepoint needs it, in btf-run's own mount namespace")
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
        test -e /sys/kernel/tracing/events && echo "tracefs mounted outside btf-run" >> "$2"
        exit $status
        """
        let log = PackFixtures.temporaryPath("sigint-log")
        let result = try PackFixtures.runWithEnvironment(try TestSupport.which("unshare"), ["-m", "sh", "-c", script, btfRun, object, log], [:])
        let text = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "") + result.stderr
        #expect(result.status == 0, "\(text)")
        #expect(text.contains("mounted tracefs at /sys/kernel/tracing in btf-run's own mount namespace"), "\(text)")
        #expect(text.contains("btf-run: detached"), "\(text)")
        #expect(!text.contains("tracefs mounted outside btf-run"), "\(text)")
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

    // MARK: - btf-run --attach PROGRAM=TARGET

    @Test("--attach gives bare uprobe and uretprobe programs their target: the events carry the target's pid, argument and return value")
    func attachUprobeAndUretprobe() throws {
        let run = try EndToEnd.attachProbe(attaching: ["uprobe_calls_entry", "uprobe_calls_return"])
        #expect(run.status == 0, "\(run.log)")
        #expect(run.output == "\(EndToEnd.probeTargetResult)", "the target program did not run as expected: \(run.output)")
        // The BTF came from a file (the script made sure the kernel's own is hidden).
        #expect(run.log.contains("BTF: file \(run.btfFile), given to libbpf as \(run.btfFile); named by --btf"), "\(run.log)")
        for (program, kind) in [("uprobe_calls_entry", "uprobe"), ("uprobe_calls_return", "uretprobe")] {
            #expect(run.log.contains("btf-run: attached \(program) (section \(kind)) to \(kind) \(run.target):btfkit_probe_target (all processes)"),
                    "-v names the target: \(run.log)")
        }
        #expect(!run.log.contains("not attached"), "\(run.log)")
        let mine = run.events.filter { $0["pid"] as? Int == run.targetPID }
        let entries = mine.filter { $0["marker"] as? Int == EndToEnd.entryMarker }
        let returns = mine.filter { $0["marker"] as? Int == EndToEnd.returnMarker }
        #expect(entries.count == 1 && entries.first?["value"] as? Int == EndToEnd.probeTargetArgument,
                "no entry event with pid \(run.targetPID) and argument \(EndToEnd.probeTargetArgument): \(run.rawEvents.prefix(2000)); log: \(run.log)")
        #expect(returns.count == 1 && returns.first?["value"] as? Int == EndToEnd.probeTargetResult,
                "no return event with pid \(run.targetPID) and value \(EndToEnd.probeTargetResult): \(run.rawEvents.prefix(2000)); log: \(run.log)")
    }

    @Test("a SEC(\"uprobe\") program without --attach is still explained, not attached, while the others run")
    func uprobeWithoutAttachIsExplained() throws {
        let run = try EndToEnd.attachProbe(attaching: ["uprobe_calls_return"])
        #expect(run.status == 0, "\(run.log)")
        #expect(run.log.contains("btf-run: program uprobe_calls_entry (section uprobe) not attached: Operation not supported "
                                 + "(libbpf cannot attach section 'uprobe' by itself; it needs a target in the section name)"), "\(run.log)")
        #expect(run.log.contains("--attach uprobe_calls_entry=TARGET gives it one (TARGET: BINARY:FUNCTION, BINARY:FUNCTION+OFFSET or BINARY:0xOFFSET)"),
                "\(run.log)")
        #expect(run.log.contains("btf-run: attached uprobe_calls_return (section uretprobe) to uretprobe \(run.target):btfkit_probe_target"), "\(run.log)")
        let mine = run.events.filter { $0["pid"] as? Int == run.targetPID }
        #expect(mine.count == 1 && mine.first?["marker"] as? Int == EndToEnd.returnMarker && mine.first?["value"] as? Int == EndToEnd.probeTargetResult,
                "\(run.rawEvents.prefix(2000)); log: \(run.log)")
        #expect(!run.events.contains { $0["marker"] as? Int == EndToEnd.entryMarker }, "the unattached entry program sent events: \(run.rawEvents.prefix(2000))")
    }

    @Test("--attach errors: an unknown program, a malformed target, a section it cannot target (exit 1), no PROGRAM=TARGET (usage, 64)")
    func attachErrors() throws {
        let btfRun = try PackFixtures.product("btf-run")
        let object = try EndToEnd.uprobeCallsObject()
        func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try PackFixtures.runWithEnvironment(btfRun, arguments + ["--duration", "1"], [:])
        }

        let unknown = try run([object, "-v", "--attach", "uprobe_calls_return=/bin/true:main", "--attach", "nosuch=/bin/true:main"])
        #expect(unknown.status == 1, "\(unknown)")
        #expect(unknown.stderr.contains("btf-run: --attach nosuch=/bin/true:main: \(object) has no program named 'nosuch'; its programs are "
                                        + "uprobe_calls_entry (section uprobe), uprobe_calls_return (section uretprobe)"), "\(unknown.stderr)")
        // Checked before anything is loaded or attached.
        #expect(!unknown.stderr.contains("attached") && !unknown.stderr.contains("streaming") && unknown.stdout.isEmpty, "\(unknown)")

        let malformed = try run([object, "-v", "--attach", "uprobe_calls_entry=/bin/true"])
        #expect(malformed.status == 1, "\(malformed)")
        #expect(malformed.stderr.contains("btf-run: --attach uprobe_calls_entry=/bin/true: program uprobe_calls_entry (section uprobe): "
                                          + "malformed target '/bin/true' for a uprobe program (no ':' between BINARY and FUNCTION): "
                                          + "expected BINARY:FUNCTION, BINARY:FUNCTION+OFFSET or BINARY:0xOFFSET"), "\(malformed.stderr)")
        #expect(!malformed.stderr.contains("attached") && !malformed.stderr.contains("streaming"), "\(malformed)")

        let offset = try run([object, "--attach", "uprobe_calls_return=/bin/true:main+0xfoo"])
        #expect(offset.status == 1 && offset.stderr.contains("'0xfoo' is not an offset")
                && offset.stderr.contains("expected BINARY:FUNCTION, BINARY:FUNCTION+OFFSET or BINARY:0xOFFSET"), "\(offset)")

        // A section --attach cannot target: an XDP program beside a uprobe.
        let directory = PackFixtures.temporaryPath("attach-xdp")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
        #include "kernel_types.h"
        #include <bpf/bpf_helpers.h>
        SEC("socket") int xdp_pass(void *ctx) { return 2; }
        SEC("uprobe") int some_uprobe(void *ctx) { return 0; }
        char LICENSE[] SEC("license") = "GPL";
        """.write(toFile: directory + "/xdp.bpf.c", atomically: true, encoding: .utf8)
        let compiled = try TestSupport.run("clang", ["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I", TestSupport.packageRoot + "/bpf/include",
                                                     "-c", directory + "/xdp.bpf.c", "-o", directory + "/xdp.bpf.o"])
        try #require(compiled.status == 0, "\(compiled.stderr)")
        let unsupported = try run([directory + "/xdp.bpf.o", "-v", "--attach", "xdp_pass=eth0"])
        #expect(unsupported.status == 1, "\(unsupported)")
        #expect(unsupported.stderr.contains("btf-run: --attach xdp_pass=eth0: program xdp_pass has section 'socket'; --attach gives a target only to programs of the sections "
                                            + "uprobe, uprobe.s, uretprobe, uretprobe.s"), "\(unsupported.stderr)")
        for kind in ["kprobe", "kretprobe", "tracepoint", "tp", "raw_tracepoint", "raw_tp"] {
            #expect(unsupported.stderr.contains(kind), "\(kind): \(unsupported.stderr)")
        }
        #expect(!unsupported.stderr.contains("attached") && !unsupported.stderr.contains("streaming"), "\(unsupported)")

        // No '=' at all is a usage error, found before the object is even read.
        let usage = try run([object, "--attach", "uprobe_calls_entry"])
        #expect(usage.status == 2, "\(usage)")  // usage errors exit 2 in every tool
        #expect(usage.stderr.contains("--attach 'uprobe_calls_entry': expected PROGRAM=TARGET"), "\(usage.stderr)")
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
        /// The runner built from a tree holding this kernel, with `--event-type execsnoop_event` as its default argument.
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
        func buildRunner(_ tree: String, _ output: String, defaults: [String] = []) throws -> String {
            let path = directory + "/" + output
            let result = try TestSupport.run(btfPack, ["runner", "--object", object, "--btfhub", tree, "-o", path, "--runner", staticRunner]
                                             + (defaults.isEmpty ? [] : ["--"] + defaults))
            guard result.status == 0 else { throw TestSupportError("btf-pack runner failed: \(result.stderr)") }
            return path
        }
        let withThisKernel = try tree("hub", withThisKernel: true)
        return Setup(runner: try buildRunner(withThisKernel, "execsnoop-runner", defaults: ["--event-type", "execsnoop_event"]),
                     runnerWithoutThisKernel: try buildRunner(try tree("hub-without", withThisKernel: false), "execsnoop-runner-without"),
                     identityPath: identityPath,
                     otherKernelBTF: try TestSupport.extractedKernel(TestSupport.sharedArchive + "/" + others[2]),
                     tree: withThisKernel)
    }

    /// The release btf-run: BTFKIT_STATIC_BTF_RUN if set (a prebuilt one), else built here by a
    /// plain `swift build -c release` (no extra flags: Package.swift makes it static) with its own
    /// scratch directory (a release build from a clean clone takes a few minutes).
    static func staticBTFRun() throws -> String {
        if let given = ProcessInfo.processInfo.environment["BTFKIT_STATIC_BTF_RUN"] { return given }
        let scratch = TestSupport.packageRoot + "/.build-runner"
        let start = Date()
        let build = try TestSupport.run("swift", ["build", "--package-path", TestSupport.packageRoot, "-c", "release", "--product", "btf-run",
                                                  "--scratch-path", scratch])
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

/// `btf-run --attach` on bpf/uprobe_calls.bpf.c and a tiny C program whose function it probes.
extension EndToEnd {
    /// The marker values bpf/uprobe_calls.bpf.c puts in its records.
    static let entryMarker = 1
    static let returnMarker = 2
    /// The probed function's argument, and what it returns for it (3x + 1).
    static let probeTargetArgument = 41
    static let probeTargetResult = 124

    /// The compiled bpf/uprobe_calls.bpf.c.
    static func uprobeCallsObject() throws -> String {
        guard let object = try TestSupport.compiledBPFObjects().first(where: { $0.hasSuffix("/uprobe_calls.bpf.o") }) else {
            throw TestSupportError("bpf/uprobe_calls.bpf.c is missing")
        }
        return object
    }

    struct AttachRun {
        var status: Int32
        var log: String
        var rawEvents: String
        var events: [[String: Any]]
        /// The probed executable.
        var target: String
        /// Its pid when it ran.
        var targetPID: Int
        /// What it printed (its function's result).
        var output: String
        /// The copy of the kernel's BTF btf-run was given with --btf.
        var btfFile: String
    }

    /// Compiles a C program exporting `btfkit_probe_target(int)` (not inlined: the uprobe needs
    /// the symbol and a call), then, inside `unshare -m` with a tmpfs over /sys/kernel/btf, runs
    /// btf-run on uprobe_calls.bpf.o with `--btf` (a copy of the kernel's BTF taken first)
    /// `--attach P=TARGET:btfkit_probe_target` for each of `programs`, `--event-type
    /// uprobe_calls_event --json -v --duration 4`; once it streams, a shell whose pid is known
    /// execs the program with argument 41.
    static func attachProbe(attaching programs: [String]) throws -> AttachRun {
        let btfRun = try PackFixtures.product("btf-run")
        let object = try uprobeCallsObject()
        let directory = PackFixtures.temporaryPath("attach-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = directory + "/probe-target"
        try """
        #include <stdio.h>
        #include <stdlib.h>
        __attribute__((noinline)) int btfkit_probe_target(int x)
        {
        \t__asm__ volatile("" ::: "memory");
        \treturn 3 * x + 1;
        }
        int main(int argc, char **argv)
        {
        \tprintf("%d\\n", btfkit_probe_target(argc > 1 ? atoi(argv[1]) : 0));
        \treturn 0;
        }
        """.write(toFile: directory + "/probe-target.c", atomically: true, encoding: .utf8)
        let compiled = try TestSupport.run("cc", ["-O0", "-g", "-o", target, directory + "/probe-target.c"])
        guard compiled.status == 0 else { throw TestSupportError("cc failed on the probe target: \(compiled.stderr)") }
        let btfFile = directory + "/vmlinux.btf"
        try FileManager.default.copyItem(atPath: "/sys/kernel/btf/vmlinux", toPath: btfFile)

        let attach = programs.flatMap { ["--attach", "\($0)=\(target):btfkit_probe_target"] }
        let script = """
        set -u
        btfrun=$1; object=$2; out=$3; shift 3
        mount -t tmpfs none /sys/kernel/btf || exit 90
        test ! -e /sys/kernel/btf/vmlinux || exit 91
        "$btfrun" "$object" --btf "$out/vmlinux.btf" --event-type uprobe_calls_event --json -v --duration 4 "$@" > "$out/events" 2> "$out/log" &
        pid=$!
        i=0
        while ! grep -q "streaming events" "$out/log" 2>/dev/null && kill -0 $pid 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
        sh -c 'echo $$ > "$1/pid"; exec "$1/probe-target" \(probeTargetArgument)' target "$out" > "$out/output"
        wait $pid
        """
        try script.write(toFile: directory + "/attach.sh", atomically: true, encoding: .utf8)
        let result = try PackFixtures.runWithEnvironment(try TestSupport.which("unshare"),
                                                         ["-m", "sh", directory + "/attach.sh", btfRun, object, directory] + attach, [:])
        let read = { (name: String) in (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "" }
        let rawEvents = read("events")
        let events = rawEvents.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
        return AttachRun(status: result.status, log: read("log") + result.stderr, rawEvents: rawEvents, events: events, target: target,
                         targetPID: Int(read("pid").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1,
                         output: read("output").trimmingCharacters(in: .whitespacesAndNewlines), btfFile: btfFile)
    }
}
