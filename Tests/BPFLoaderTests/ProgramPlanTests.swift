import BPFLoader
import BTF
import CLibBPF
import Foundation
@testable import TestSupport
import Testing

/// A kernel described by hand, for the plan's rules without root.
final class FakeKernel: ProgramFeatureProbe {
    var hasKernelBTF: Bool
    var hasKprobes = false
    var fentry = false
    var btfTracepoints = true
    var tracepoints: Set<String> = ["sched/sched_process_exec", "syscalls/sys_enter_openat"]
    var functions: Set<String> = ["do_nanosleep"]
    var unsupportedTypes: Set<UInt32> = []

    init(hasKernelBTF: Bool) { self.hasKernelBTF = hasKernelBTF }
    func supportsProgramType(_ type: bpf_prog_type) -> Bool { !unsupportedTypes.contains(type.rawValue) }
    func supportsBTFTracepoint(_ name: String) -> Bool { hasKernelBTF && btfTracepoints }
    func supportsFentry(_ function: String, exit: Bool) -> Bool { hasKernelBTF && fentry }
    func kernelFunctionExists(_ function: String) -> Bool? { functions.contains(function) }
    func tracepointExists(category: String, name: String) -> Bool? { tracepoints.contains("\(category)/\(name)") }
    func rawTracepointExists(_ name: String) -> Bool? { tracepoints.contains { $0.hasSuffix("/" + name) } }
}

/// The program plan (twins, the kernel's own BTF, missing hooks, --disable/--enable) and the
/// encoding of --set values through the object's BTF.
@Suite("Program plan and globals")
struct ProgramPlanTests {
    static let tracing = BPF_PROG_TYPE_TRACING.rawValue
    static let programs = [
        PlannedProgram(name: "exec_btf", section: "tp_btf/sched_process_exec", type: tracing),
        PlannedProgram(name: "exec_raw", section: "raw_tp/sched_process_exec", type: BPF_PROG_TYPE_RAW_TRACEPOINT.rawValue),
        PlannedProgram(name: "exec_tp", section: "tracepoint/sched/sched_process_exec", type: BPF_PROG_TYPE_TRACEPOINT.rawValue),
        PlannedProgram(name: "sleep_fentry", section: "fentry/do_nanosleep", type: tracing),
        PlannedProgram(name: "sleep_kprobe", section: "kprobe/do_nanosleep", type: BPF_PROG_TYPE_KPROBE.rawValue),
        PlannedProgram(name: "sleep_fexit", section: "fexit/do_nanosleep", type: tracing),
        PlannedProgram(name: "sleep_kretprobe", section: "kretprobe/do_nanosleep", type: BPF_PROG_TYPE_KPROBE.rawValue),
        PlannedProgram(name: "openat2", section: "tracepoint/syscalls/sys_enter_openat2", type: BPF_PROG_TYPE_TRACEPOINT.rawValue),
        PlannedProgram(name: "iter_tasks", section: "iter/task", type: tracing),
        PlannedProgram(name: "open_a", section: "tp/syscalls/sys_enter_openat", type: BPF_PROG_TYPE_TRACEPOINT.rawValue),
        PlannedProgram(name: "open_b", section: "tracepoint/syscalls/sys_enter_openat", type: BPF_PROG_TYPE_TRACEPOINT.rawValue),
    ]

    @Test("with the kernel's own BTF, the tp_btf twin loads; fentry where trampolines work, else kprobe")
    func twinsWithKernelBTF() {
        let kernel = FakeKernel(hasKernelBTF: true)
        kernel.hasKprobes = true
        var plan = ProgramPlan.make(programs: Self.programs, kernel: kernel)
        #expect(plan["exec_btf"]?.loads == true)
        #expect(plan["exec_raw"]?.loads == false && plan["exec_tp"]?.loads == false)
        #expect(plan["exec_raw"]?.reason.contains("twin of exec_btf") == true)
        // No trampolines here: kprobe and kretprobe load instead of fentry and fexit.
        #expect(plan["sleep_fentry"]?.loads == false && plan["sleep_kprobe"]?.loads == true)
        #expect(plan["sleep_fexit"]?.loads == false && plan["sleep_kretprobe"]?.loads == true)
        #expect(plan["sleep_fentry"]?.reason.contains("cannot attach fentry") == true)
        kernel.fentry = true
        plan = ProgramPlan.make(programs: Self.programs, kernel: kernel)
        #expect(plan["sleep_fentry"]?.loads == true && plan["sleep_kprobe"]?.loads == false)
        #expect(plan["sleep_kprobe"]?.reason == "twin of sleep_fentry (fentry/do_nanosleep), which loads instead")
        // The same tracepoint under two names: one loads.
        #expect(plan["open_a"]?.loads == true && plan["open_b"]?.loads == false)
        #expect(plan["iter_tasks"]?.loads == true)
    }

    @Test("without the kernel's own BTF, programs needing it are left out and their twins load")
    func twinsWithoutKernelBTF() {
        let kernel = FakeKernel(hasKernelBTF: false)
        let plan = ProgramPlan.make(programs: Self.programs, kernel: kernel)
        #expect(plan["exec_btf"]?.loads == false)
        #expect(plan["exec_btf"]?.reason.contains("needs the kernel's own BTF") == true)
        #expect(plan["exec_raw"]?.loads == true && plan["exec_tp"]?.loads == false)
        #expect(plan["iter_tasks"]?.loads == false && plan["iter_tasks"]?.reason.contains("kernel's own BTF") == true)
        // Neither fentry (no BTF) nor kprobe (no kprobes): both out, each with its own reason.
        #expect(plan["sleep_fentry"]?.loads == false && plan["sleep_kprobe"]?.loads == false)
        #expect(plan["sleep_kprobe"]?.reason == "this kernel has no kprobes (CONFIG_KPROBES off)")
        #expect(plan["openat2"]?.loads == false && plan["openat2"]?.reason == "this kernel has no tracepoint syscalls:sys_enter_openat2")
    }

    @Test("a missing kprobe target or program type leaves the program out")
    func missingTargets() {
        let kernel = FakeKernel(hasKernelBTF: false)
        kernel.hasKprobes = true
        kernel.functions = []
        kernel.unsupportedTypes = [BPF_PROG_TYPE_RAW_TRACEPOINT.rawValue]
        let plan = ProgramPlan.make(programs: Self.programs, kernel: kernel)
        #expect(plan["sleep_kprobe"]?.reason == "this kernel has no function do_nanosleep to kprobe")
        #expect(plan["exec_raw"]?.loads == false && plan["exec_raw"]?.reason == "this kernel cannot load raw_tracepoint programs")
        #expect(plan["exec_tp"]?.loads == true)  // the last twin the kernel runs
    }

    @Test("--disable and --enable take globs; a rejected program gives way to its twin")
    func overridesAndRejections() {
        let kernel = FakeKernel(hasKernelBTF: false)
        var plan = ProgramPlan.make(programs: Self.programs, kernel: kernel, disable: ["exec_r*"])
        #expect(plan["exec_raw"]?.loads == false && plan["exec_raw"]?.pattern == .disabled("exec_r*") && plan["exec_raw"]?.reason == "disabled by the pattern exec_r*")
        #expect(plan["exec_tp"]?.loads == true)
        plan = ProgramPlan.make(programs: Self.programs, kernel: kernel, enable: ["exec_?p"])
        #expect(plan["exec_tp"]?.loads == true && plan["exec_raw"]?.loads == false)
        #expect(plan["exec_tp"]?.pattern == .enabled("exec_?p") && plan["exec_raw"]?.pattern == nil)
        plan = ProgramPlan.make(programs: Self.programs, kernel: kernel, disable: ["*"], enable: ["openat2"])
        #expect(plan.loading == ["openat2"])
        plan = ProgramPlan.make(programs: Self.programs, kernel: kernel, rejected: ["exec_raw": "the verifier rejected it: R1 invalid mem access 'scalar'"])
        #expect(plan["exec_raw"]?.loads == false && plan["exec_raw"]?.reason.hasPrefix("the verifier rejected it") == true)
        #expect(plan["exec_tp"]?.loads == true)
    }

    @Test("sections map to hooks as libbpf reads them")
    func hooks() {
        #expect(ProgramHook(section: "kretprobe/do_exit+4") == .kprobe(function: "do_exit", exit: true))
        #expect(ProgramHook(section: "fexit.s/x") == .fentry(function: "x", exit: true))
        #expect(ProgramHook(section: "lsm/file_open").needsKernelBTF)
        #expect(ProgramHook(section: "struct_ops/x").needsKernelBTF)
        #expect(!ProgramHook(section: "raw_tp/x").needsKernelBTF)
        #expect(ProgramHook(section: "tp/a/b") == .tracepoint(category: "a", name: "b"))
        #expect(ProgramHook(section: "usdt") == .other(kind: "usdt"))
    }

    /// The compiled bpf/runner/exectrace.bpf.c, opened by libbpf (no privilege needed), and its globals.
    static func exectraceGlobals() throws -> (LoadedBPFObject, GlobalVariables) {
        let path = try RunnerObjects.compiled("exectrace")
        let object = try LoadedBPFObject(path: path, btfCustomPath: nil)
        return (object, GlobalVariables(btf: try BPFObject(contentsOf: path).btf, object: object))
    }

    @Test("globals of .rodata, .data and .bss with their types and the values they were compiled with")
    func globalDefaults() throws {
        let (object, globals) = try Self.exectraceGlobals()
        defer { object.close() }
        #expect(globals["targ_pid"]?.typeDescription == "const volatile pid_t")
        #expect(globals["targ_pid"]?.section == ".rodata")
        #expect(globals["targ_tag"]?.defaultValue == .string("none"))
        #expect(globals["targ_bias"]?.defaultValue == .signed(-1))
        #expect(globals["min_ns"]?.defaultValue == .unsigned(1000))
        #expect(globals["targ_small"]?.defaultValue == .signed(-3))
        #expect(globals["targ_weights"]?.defaultValue == .array([.unsigned(1), .unsigned(2), .unsigned(3)]))
        #expect(globals["targ_cpu"]?.defaultValue == .unsigned(0xffff_ffff))
        #expect(globals["targ_mode"]?.defaultValue == .enumerator(name: "MODE_ALL", value: 0))
        #expect(globals["exec_budget"]?.section == ".data" && globals["exec_budget"]?.defaultValue == .signed(100))
        #expect(globals["exec_count"]?.section == ".bss" && globals["exec_count"]?.defaultValue == .unsigned(0))
        // Offsets are libbpf's (from the symbol table): the same as readelf's symbol values.
        let symbols = try TestSupport.run("readelf", ["-sW", try RunnerObjects.compiled("exectrace")])
        let table = String(decoding: symbols.stdout, as: UTF8.self)
        for global in globals.variables where global.section == ".rodata" {
            let line = try #require(table.split(separator: "\n").first { $0.hasSuffix(" " + global.name) }, "\(global.name) in readelf -s")
            let value = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1], radix: 16)
            #expect(value == global.offset, "\(global.name)")
        }
    }

    @Test("--set encodes integers of every size and sign, hex, bool, enums, strings, arrays, typedefs")
    func setEncodesValues() throws {
        let (object, globals) = try Self.exectraceGlobals()
        defer { object.close() }
        func bytes(_ argument: String) throws -> [UInt8] { try globals.assignment(parsing: argument).bytes }
        #expect(try bytes("targ_pid=1234") == [0xd2, 0x04, 0, 0])
        #expect(try bytes("targ_pid=-2") == [0xfe, 0xff, 0xff, 0xff])
        #expect(try bytes("targ_pid=0x7fffffff") == [0xff, 0xff, 0xff, 0x7f])
        #expect(try bytes("targ_small=-128") == [0x80])
        #expect(try bytes("targ_bias=-32768") == [0x00, 0x80])
        #expect(try bytes("min_ns=0xffffffffffffffff") == [UInt8](repeating: 0xff, count: 8))
        #expect(try bytes("targ_cpu=4294967295") == [0xff, 0xff, 0xff, 0xff])  // typedef of __u32
        #expect(try bytes("targ_verbose=true") == [1])
        #expect(try bytes("targ_verbose=0") == [0])
        #expect(try bytes("targ_mode=MODE_LOUD") == [7, 0, 0, 0])
        #expect(try bytes("targ_mode=1") == [1, 0, 0, 0])
        #expect(try bytes("targ_tag=abc") == Array("abc".utf8) + [0, 0, 0, 0, 0])
        #expect(try bytes("targ_weights=5,0x10") == [5, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0])
        #expect(try bytes("exec_budget=-7") == [0xf9, 0xff, 0xff, 0xff])
        // A later --set of the same variable (the command line after a runner's defaults) wins.
        let assignments = try globals.assignments(parsing: ["targ_pid=1", "targ_mode=MODE_QUIET", "targ_pid=2"])
        #expect(assignments.map(\.name) == ["targ_mode", "targ_pid"])
        #expect(assignments.last?.bytes == [2, 0, 0, 0])
    }

    @Test("--set errors name the variable and its type", arguments: [
        ("targ_small=128", "targ_small is const volatile __s8", "out of range (-128 to 127)"),
        ("targ_cpu=-1", "targ_cpu is const volatile exectrace_cpu_t", "unsigned"),
        ("min_ns=0x1ffffffffffffffff", "min_ns is const volatile __u64", "not an integer"),
        ("targ_pid=12ab", "targ_pid is const volatile pid_t", "not an integer"),
        ("targ_verbose=maybe", "targ_verbose is const volatile bool", "not a bool"),
        ("targ_mode=LOUD", "targ_mode is const volatile enum exectrace_mode", "MODE_ALL, MODE_QUIET, MODE_LOUD"),
        ("targ_tag=12345678", "targ_tag is const volatile char[8]", "holds 7 and a NUL"),
        ("targ_weights=1,2,3,4", "targ_weights is const volatile __u32[3]", "4 values given; the array holds 3"),
        ("targ_weights=1,x", "targ_weights", "element 1: 'x' is not an integer"),
        ("exectrace_event_type=1", "struct exectrace_event *", "pointer cannot be set"),
        ("no_such=1", "has no global variable 'no_such'", "targ_pid (const volatile pid_t)"),
    ])
    func setErrors(argument: String, naming: String, problem: String) throws {
        let (object, globals) = try Self.exectraceGlobals()
        defer { object.close() }
        #expect {
            _ = try globals.assignment(parsing: argument)
        } throws: { error in
            let text = "\(error)"
            return text.contains(naming) && text.contains(problem) && (error as? BPFLoaderError)?.input == RunInput(.globalVariable, argument)
        }
    }

    @Test("map sizes: MAP=N parsed, 0 and junk refused")
    func mapSizeOptions() throws {
        let sizes = try MapSizeOverrides(maxEntries: ["start=0x100", "start=64"], valueSizes: ["stacks=1016"])
        #expect(sizes.maxEntries == ["start": 64] && sizes.valueSizes == ["stacks": 1016])
        for bad in ["start", "=5", "start=0", "start=-1", "start=x"] {
            #expect(throws: BPFLoaderError.self) { try MapSizeOverrides(maxEntries: [bad], valueSizes: []) }
        }
    }

    @Test("configured maps: a pid-keyed map declared with 0 entries gets pid_max (capped); an unknown map name is an error")
    func mapDefaults() throws {
        let (object, _) = try Self.exectraceGlobals()
        defer { object.close() }
        var sizes = MapSizeOverrides()
        let kernel = KernelFeatures()
        let maps = try object.configureMaps(sizes, perfFallback: nil, kernel: kernel)
        let start = try #require(maps.first { $0.name == "start" })
        #expect(start.declaredMaxEntries == 0)
        #expect(start.maxEntries == min(UInt32(kernel.pidMax), MapDefaults.pidKeyedCap))
        #expect(maps.first { $0.name == "events" }?.type == "ringbuf")
        sizes.maxEntries = ["nope": 5]
        #expect {
            _ = try object.configureMaps(sizes, perfFallback: nil, kernel: kernel)
        } throws: { "\($0)".contains("no map named 'nope'") && "\($0)".contains("start, events, heap") && ($0 as? BPFLoaderError)?.input == RunInput(.mapSize, "nope") }
    }
}
