import Foundation
@testable import TestSupport
import Testing

/// btf-run on bpf/runner/exectrace.bpf.c as root, with the kernel's BTF visible, hidden (a tmpfs over
/// /sys/kernel/btf in a private mount namespace) and with old kernels' BTF forced: which twin
/// loads (the events' `source` says), that programs the kernel cannot run are left out with the
/// verifier's reason, that the ring buffer becomes a perf buffer where the BTF has no
/// struct bpf_ringbuf, and that --set targ_pid filters in the kernel.
@Suite("btf-run program choice, globals and fallbacks (root)", .serialized,
       .enabled(if: EndToEnd.shouldRun, "needs root and unshare (CI runs it as root)"))
struct ProgramChoiceEndToEndTests {
    /// What the `source` field of an exectrace event says about the program that sent it.
    static let sourceTPBTF = 1, sourceRawTP = 2, sourceTracepoint = 3

    struct ExecRun {
        var status: Int32
        var log: String
        var events: [[String: Any]]
        /// The pid of the process that waited for btf-run, then exec'd /bin/true.
        var targetPID: Int
        /// Pids of two other processes that exec'd /bin/true meanwhile.
        var otherPIDs: [Int]
        func events(of pid: Int) -> [[String: Any]] { events.filter { ($0["pid"] as? Int) == pid } }
    }

    static func exectraceObject() throws -> String { try RunnerObjects.compiled("exectrace") }

    /// In a private mount namespace (BTF hidden when `hideBTF`): a process whose pid is known
    /// waits on a FIFO; btf-run starts (`--event-type exectrace_event --json -v --duration 3`,
    /// then `arguments`, where `@TARGET@` becomes that pid); once it streams, two other
    /// processes exec /bin/true, then the waiting one does.
    static func run(_ arguments: [String], hideBTF: Bool, btf: String? = nil, runner: String? = nil) throws -> ExecRun {
        let btfRun = try runner ?? PackFixtures.product("btf-run")
        // A runner carries its object (and its --event-type among its default arguments).
        let object = runner == nil ? try exectraceObject() : ""
        let directory = PackFixtures.temporaryPath("exectrace-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = """
        set -u
        btfrun=$1; object=$2; out=$3; hide=$4; shift 4
        if [ "$hide" = 1 ]; then
            mount -t tmpfs none /sys/kernel/btf || exit 90
            test ! -e /sys/kernel/btf/vmlinux || exit 91
        fi
        mkfifo "$out/go"
        sh -c 'read x < "$1/go"; exec /bin/true' target "$out" &
        target=$!
        echo $target > "$out/target"
        args=""
        for a in "$@"; do args="$args $(echo "$a" | sed "s/@TARGET@/$target/")"; done
        if [ -n "$object" ]; then set -- "$object" --event-type exectrace_event; else set --; fi
        "$btfrun" "$@" --json -v --duration 3 $args > "$out/events" 2> "$out/log" &
        pid=$!
        i=0
        while ! grep -q "streaming events" "$out/log" 2>/dev/null && kill -0 $pid 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
        sh -c 'echo $$ >> "$1/others"; exec /bin/true' other "$out"
        sh -c 'echo $$ >> "$1/others"; exec /bin/true' other "$out"
        echo go > "$out/go"
        wait $pid
        status=$?
        wait
        exit $status
        """
        try script.write(toFile: directory + "/run.sh", atomically: true, encoding: .utf8)
        // With the kernel's BTF hidden and no pack, btf-run is given a copy of it (taken first).
        var btfFile = btf
        if hideBTF && btf == nil && runner == nil {
            btfFile = directory + "/vmlinux.btf"
            try FileManager.default.copyItem(atPath: "/sys/kernel/btf/vmlinux", toPath: btfFile!)
        }
        let environment = btfFile.map { ["BTFKIT_BTF": $0] } ?? [:]
        let result = try PackFixtures.runWithEnvironment(try TestSupport.which("unshare"),
                                                         ["-m", "sh", directory + "/run.sh", btfRun, object.isEmpty ? "" : object, directory, hideBTF ? "1" : "0"] + arguments,
                                                         environment)
        let read = { (name: String) in (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "" }
        // Event records only: with --json, the result maps printed at exit are a document of their own.
        let events = read("events").split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }.filter { $0["maps"] == nil }
        return ExecRun(status: result.status, log: read("log") + result.stderr, events: events,
                       targetPID: Int(read("target").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1,
                       otherPIDs: read("others").split(separator: "\n").compactMap { Int($0) })
    }

    /// Checks common to every run: the target's exec seen exactly once (one twin), by `source`,
    /// the broken program named with the verifier's reason, the missing tracepoint left out.
    static func expectOneTwin(_ run: ExecRun, source: Int, buffer: String) {
        #expect(run.status == 0, "\(run.log)")
        let target = run.events(of: run.targetPID).filter { ($0["comm"] as? String) == "true" }
        #expect(target.count == 1, "the exec must be counted once, by one twin: \(target) \(run.log)")
        #expect(target.first?["source"] as? Int == source, "\(run.log)")
        #expect(run.events.allSatisfy { ($0["source"] as? Int) == source }, "only one twin is attached: \(run.log)")
        #expect(run.log.contains("program broken_exit left out: the verifier rejected it: R1 invalid mem access 'scalar'"), "\(run.log)")
        #expect(run.log.contains("program handle_missing (section tracepoint/btfkit/no_such_event): not loaded: this kernel has no tracepoint btfkit:no_such_event"), "\(run.log)")
        #expect(run.log.contains("program nanosleep_kprobe (section kprobe/do_nanosleep): not loaded: this kernel has no kprobes"), "\(run.log)")
        #expect(run.log.contains("streaming events from events (\(buffer))"), "\(run.log)")
    }

    @Test("kernel BTF visible: the tp_btf twin loads, the broken program is left out, the rest run")
    func kernelBTFVisible() throws {
        let run = try Self.run([], hideBTF: false)
        Self.expectOneTwin(run, source: Self.sourceTPBTF, buffer: "ring buffer")
        #expect(run.log.contains("attached handle_exec_btf (section tp_btf/sched_process_exec)"))
        #expect(run.log.contains("attached handle_openat2"), "\(run.log)")
        #expect(!run.log.contains("attached handle_exec_raw") && !run.log.contains("attached handle_exec_tp"))
        // The others' execs are seen too (no filter).
        // (Each also exec'd sh first: its pid's events are sh's exec and true's.)
        for other in run.otherPIDs { #expect(run.events(of: other).filter { $0["comm"] as? String == "true" }.count == 1, "\(other): \(run.log)") }
    }

    @Test("kernel BTF hidden: the raw_tp twin loads; --disable leaves the tracepoint twin; --set targ_pid filters")
    func kernelBTFHidden() throws {
        var run = try Self.run(["--set", "targ_pid=@TARGET@", "--set", "targ_tag=hidden", "--set", "targ_mode=MODE_LOUD"], hideBTF: true)
        Self.expectOneTwin(run, source: Self.sourceRawTP, buffer: "ring buffer")
        #expect(run.log.contains("program handle_exec_btf (section tp_btf/sched_process_exec): not loaded: needs the kernel's own BTF"), "\(run.log)")
        #expect(!run.events.isEmpty && run.events.allSatisfy { ($0["pid"] as? Int) == run.targetPID }, "only the target's pid: \(run.events) \(run.log)")
        for other in run.otherPIDs { #expect(run.events(of: other).isEmpty) }
        #expect(run.events.first?["tag"] as? String == "hidden" && run.events.first?["mode"] as? String == "MODE_LOUD", "\(run.events)")

        run = try Self.run(["--disable", "handle_exec_r*", "--set", "targ_pid=@TARGET@"], hideBTF: true)
        Self.expectOneTwin(run, source: Self.sourceTracepoint, buffer: "ring buffer")
        #expect(run.log.contains("not loaded: disabled by --disable handle_exec_r*"), "\(run.log)")
        #expect(run.events.allSatisfy { ($0["pid"] as? Int) == run.targetPID })
    }

    @Test("old kernels' BTF forced: perf buffer instead of ring buffer, the openat2 program's poisoned relocation left out",
          .requiresSharedArchive, arguments: [
        "debian/10/x86_64/4.19.0-21-cloud-amd64.btf.tar.xz",
        "ubuntu/20.04/x86_64/5.4.0-86-generic.btf.tar.xz",
        "centos/8/x86_64/4.18.0-80.el8.x86_64.btf.tar.xz",
    ])
    func oldKernelBTF(kernel: String) throws {
        try TestSupport.requireSharedArchive()
        let btf = try TestSupport.extractedKernel(TestSupport.sharedArchive + "/" + kernel)
        let run = try Self.run(["--set", "targ_pid=@TARGET@", "--max-entries", "start=512"], hideBTF: true, btf: btf)
        Self.expectOneTwin(run, source: Self.sourceRawTP, buffer: "perf buffer")
        #expect(run.log.contains("map events (perf_event_array"), "\(run.log)")
        #expect(run.log.contains("has no struct bpf_ringbuf"), "\(run.log)")
        #expect(run.log.contains("program handle_openat2 left out: the verifier rejected it: ")
                && run.log.contains("failed to resolve CO-RE relocation") && run.log.contains("struct open_how.flags"), "\(run.log)")
        #expect(run.log.contains("map start (hash, max_entries 512, value 8 bytes): max_entries 512 from --max-entries"), "\(run.log)")
        #expect(!run.events.isEmpty && run.events.allSatisfy { ($0["pid"] as? Int) == run.targetPID }, "\(run.events) \(run.log)")
    }

    @Test("--list --json says what this kernel would load; --set errors exit 2 before loading")
    func listAndErrors() throws {
        let btfRun = try PackFixtures.product("btf-run")
        let object = try Self.exectraceObject()
        let listed = try PackFixtures.runWithEnvironment(btfRun, [object, "--list", "--json"], [:])
        #expect(listed.status == 0, "\(listed.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [String: Any])
        let programs = try #require(json["programs"] as? [[String: Any]])
        let loads = Dictionary(uniqueKeysWithValues: programs.map { ($0["name"] as! String, $0["load"] as! Bool) })
        #expect(loads["handle_exec_btf"] == true && loads["handle_exec_raw"] == false && loads["handle_missing"] == false)
        let maps = try #require(json["maps"] as? [[String: Any]])
        #expect(maps.first { $0["name"] as? String == "start" }?["declared_max_entries"] as? Int == 0)
        #expect(listed.stdout.contains("at most 131072; --max-entries start=N sets it)"), "\(listed.stdout)")
        let globals = try #require(json["globals"] as? [[String: Any]])
        #expect(globals.first { $0["name"] as? String == "min_ns" }?["default"] as? Int == 1000)

        let bad = try PackFixtures.runWithEnvironment(btfRun, [object, "--set", "targ_small=300", "--duration", "1"], [:])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("targ_small is const volatile __s8") && bad.stderr.contains("300 is out of range"), "\(bad.stderr)")
        #expect(bad.stderr.contains("btf-run: --set targ_small=300: targ_small is const volatile __s8 (section .rodata): "), "\(bad.stderr)")
        #expect(!bad.stderr.contains("attached"))
        // btf-run names the option the library's error is about, and the one that fixes it.
        let size = try PackFixtures.runWithEnvironment(btfRun, [object, "--max-entries", "start", "--duration", "1"], [:])
        #expect(size.status == 2 && size.stderr.contains("--max-entries 'start': expected MAP=N (e.g. --max-entries start=65536)"), "\(size.stderr)")
        let unknownMap = try PackFixtures.runWithEnvironment(btfRun, [object, "--value-size", "nope=8", "--list"], [:])
        #expect(unknownMap.stderr.contains("btf-run: --max-entries/--value-size nope=…: \(object) has no map named 'nope'; its maps are "), "\(unknownMap.stderr)")
    }

    @Test("clear errors: typed __ksym without kernel BTF; a map the kernel refuses, with its sizes and the option")
    func clearErrors() throws {
        let btfRun = try PackFixtures.product("btf-run")
        let directory = PackFixtures.temporaryPath("errors-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A typed __ksym, as libbpf-tools use for per-CPU kernel variables.
        try """
        #include "kernel_types.h"
        #include <bpf/bpf_helpers.h>
        extern const int bpf_prog_active __ksym;
        int seen;
        SEC("raw_tp/sched_process_exit")
        int use_ksym(void *ctx)
        {
        \tconst int *active = bpf_this_cpu_ptr(&bpf_prog_active);
        \tseen = *active;
        \treturn 0;
        }
        char LICENSE[] SEC("license") = "GPL";
        """.write(toFile: directory + "/ksym.bpf.c", atomically: true, encoding: .utf8)
        let compiled = try TestSupport.run("clang", ["-g", "-O2", "-target", "bpf", "-I", TestSupport.packageRoot + "/bpf/include",
                                                      "-c", directory + "/ksym.bpf.c", "-o", directory + "/ksym.bpf.o"])
        try #require(compiled.status == 0, "\(compiled.stderr)")
        try FileManager.default.copyItem(atPath: "/sys/kernel/btf/vmlinux", toPath: directory + "/vmlinux.btf")
        let hidden = try PackFixtures.runWithEnvironment(try TestSupport.which("unshare"), ["-m", "sh", "-c",
            "mount -t tmpfs none /sys/kernel/btf || exit 90; exec \"$1\" \"$2/ksym.bpf.o\" --btf \"$2/vmlinux.btf\" --duration 1", "sh", btfRun, directory], [:])
        #expect(hidden.status == 1)
        #expect(hidden.stderr.contains("uses typed __ksym externs or kfuncs (bpf_prog_active)") && hidden.stderr.contains("this kernel has none"), "\(hidden.stderr)")

        // fentry forced with --enable where the kernel cannot run it: said so, not libbpf's 'ulimit -l' guess.
        let exectrace = try Self.exectraceObject()
        let listed = try PackFixtures.runWithEnvironment(btfRun, [exectrace, "--list"], [:])
        if listed.stdout.contains("cannot attach fentry programs to do_nanosleep") {
            let forced = try PackFixtures.runWithEnvironment(btfRun, [exectrace, "--enable", "nanosleep_fentry", "--duration", "1"], [:])
            #expect(forced.status == 1)
            #expect(forced.stderr.contains("program nanosleep_fentry (section fentry/do_nanosleep), enabled by --enable nanosleep_fentry, cannot be loaded: "
                                           + "this kernel cannot run fentry/fexit programs"), "\(forced.stderr)")
        } else {
            print("SKIPPED: this kernel runs fentry programs; the fentry error is not reachable here")
        }

        // A stack-trace map's value size must be a multiple of 8: the kernel refuses 1001.
        let profile = try RunnerObjects.compiled("profile_sampler")
        let map = try PackFixtures.runWithEnvironment(btfRun, [profile, "--value-size", "stacks=1001", "--duration", "1"], [:])
        #expect(map.status == 1)
        #expect(map.stderr.contains("map 'stacks' (stack_trace, key 4 bytes, value 1001 bytes, max_entries 10240) cannot be created: Invalid argument")
                && map.stderr.contains("--value-size stacks=N"), "\(map.stderr)")
    }

    @Test("a runner's default --set is overridden by the command line's; its --help lists the object's globals")
    func runnerDefaults() throws {
        let setup = try EndToEnd.setup.get()
        let runner = PackFixtures.temporaryPath("exectrace-runner")
        let built = try TestSupport.run(try PackFixtures.product("btf-pack"),
                                        ["runner", "--object", try Self.exectraceObject(), "--btfhub", setup.tree, "-o", runner,
                                         "--runner", try EndToEnd.staticBTFRun(), "--",
                                         "--event-type", "exectrace_event", "--set", "targ_tag=runner", "--set", "targ_mode=MODE_LOUD"])
        try #require(built.status == 0, "\(built.stderr)")
        defer { try? FileManager.default.removeItem(atPath: runner) }
        let help = try TestSupport.run(runner, ["--help"])
        let text = String(decoding: help.stdout, as: UTF8.self)
        #expect(help.status == 0 && text.contains("GLOBALS (--set NAME=VALUE):"), "\(text)")
        #expect(text.contains("targ_pid (const volatile pid_t, .rodata), default 0") && text.contains("targ_tag (const volatile char[8], .rodata), default none"), "\(text)")
        // Kernel BTF hidden: the runner's own pack; the command line's targ_tag wins, the default targ_mode stays.
        let run = try Self.run(["--set", "targ_tag=cmdline", "--set", "targ_pid=@TARGET@"], hideBTF: true, runner: runner)
        Self.expectOneTwin(run, source: Self.sourceRawTP, buffer: "ring buffer")
        #expect(!run.events.isEmpty && run.events.allSatisfy { $0["tag"] as? String == "cmdline" && $0["mode"] as? String == "MODE_LOUD" }, "\(run.events) \(run.log)")
    }
}
