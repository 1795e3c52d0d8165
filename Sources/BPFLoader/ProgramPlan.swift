import CLibBPF
import Glibc

/// How a program hooks into the kernel, read from its ELF section the way libbpf reads it (the
/// part before the first `/` names the kind, the rest the target).
public enum ProgramHook: Sendable, Equatable {
    /// `tracepoint/CATEGORY/NAME`, `tp/CATEGORY/NAME` (empty names: a bare `SEC("tracepoint")`).
    case tracepoint(category: String, name: String)
    /// `raw_tracepoint/NAME`, `raw_tp/NAME` (and the writable `.w` forms).
    case rawTracepoint(name: String)
    /// `tp_btf/NAME`: a raw tracepoint typed through the kernel's BTF.
    case btfTracepoint(name: String)
    /// `kprobe/FUNCTION` (`kretprobe` when `exit`).
    case kprobe(function: String, exit: Bool)
    /// `fentry/FUNCTION` (`fexit` when `exit`), sleepable forms included.
    case fentry(function: String, exit: Bool)
    /// Another kind needing the kernel's own BTF: `fmod_ret`, `lsm`, `lsm_cgroup`, `iter`, `struct_ops`.
    case otherKernelBTF(kind: String)
    /// Anything else (`uprobe`, `usdt`, `perf_event`, `xdp`, `tc` ...): the kind as written.
    case other(kind: String)

    /// The hook of a program in `section`.
    public init(section: String) {
        let parts = section.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let kind = String(parts[0])
        let rest = parts.count > 1 ? String(parts[1]) : ""
        switch kind {
        case "tracepoint", "tp":
            let names = rest.split(separator: "/", maxSplits: 1).map(String.init)
            self = .tracepoint(category: names.first ?? "", name: names.count > 1 ? names[1] : "")
        case "raw_tracepoint", "raw_tp", "raw_tracepoint.w", "raw_tp.w": self = .rawTracepoint(name: rest)
        case "tp_btf": self = .btfTracepoint(name: rest)
        case "kprobe", "kretprobe": self = .kprobe(function: Self.function(rest), exit: kind == "kretprobe")
        case "fentry", "fentry.s", "fexit", "fexit.s": self = .fentry(function: rest, exit: kind.hasPrefix("fexit"))
        case "fmod_ret", "fmod_ret.s", "lsm", "lsm.s", "lsm_cgroup", "iter", "iter.s", "struct_ops", "struct_ops.s":
            self = .otherKernelBTF(kind: kind)
        default: self = .other(kind: kind)
        }
    }

    /// `FUNCTION` of `FUNCTION+OFFSET`.
    private static func function(_ target: String) -> String {
        target.split(separator: "+", maxSplits: 1).first.map(String.init) ?? ""
    }

    /// Whether loading it needs the kernel's own BTF (`/sys/kernel/btf/vmlinux`): libbpf finds
    /// the attach target's id there, and a `btf_custom_path` file cannot stand in.
    public var needsKernelBTF: Bool {
        switch self {
        case .btfTracepoint, .fentry, .otherKernelBTF: true
        default: false
        }
    }

    /// What twins share: programs with the same key hook the same event by different mechanisms
    /// (`tp_btf/X`, `raw_tp/X`, `tracepoint/C/X`; `fentry/F`, `kprobe/F`; `fexit/F`, `kretprobe/F`).
    var twinKey: String? {
        switch self {
        case .tracepoint(_, let name), .rawTracepoint(let name), .btfTracepoint(let name): name.isEmpty ? nil : "tracepoint \(name)"
        case .kprobe(let function, let exit), .fentry(let function, let exit): function.isEmpty ? nil : "\(exit ? "exit" : "entry") \(function)"
        default: nil
        }
    }

    /// Among twins, the lower loads first: the BTF-typed mechanism, then the cheaper generic one.
    var twinRank: Int {
        switch self {
        case .btfTracepoint, .fentry: 0
        case .rawTracepoint, .kprobe: 1
        default: 2
        }
    }
}

/// A program as the plan sees it: name, section and the program type libbpf gave it.
public struct PlannedProgram: Sendable, Equatable {
    /// The program's (function's) name.
    public var name: String
    /// Its ELF section.
    public var section: String
    /// libbpf's program type (`BPF_PROG_TYPE_*` value).
    public var type: UInt32

    /// A program `name` in `section` of type `type`.
    public init(name: String, section: String, type: UInt32) {
        self.name = name
        self.section = section
        self.type = type
    }

    /// The type as libbpf spells it (`tracepoint`, `raw_tracepoint`, `tracing` ...).
    public var typeName: String {
        libbpf_bpf_prog_type_str(bpf_prog_type(type)).map { String(cString: $0) } ?? "type \(type)"
    }

    /// How it hooks into the kernel.
    public var hook: ProgramHook { ProgramHook(section: section) }
}

/// The questions a plan asks of the kernel; `KernelFeatures` asks the running one, tests may answer
/// for another.
public protocol ProgramFeatureProbe: AnyObject {
    /// Whether the kernel has BTF of its own.
    var hasKernelBTF: Bool { get }
    /// Whether the kernel has kprobes.
    var hasKprobes: Bool { get }
    /// Whether programs of this `BPF_PROG_TYPE_*` load.
    func supportsProgramType(_ type: bpf_prog_type) -> Bool
    /// Whether `tp_btf/name` loads.
    func supportsBTFTracepoint(_ name: String) -> Bool
    /// Whether `fentry/function` (`fexit` when `exit`) loads and attaches.
    func supportsFentry(_ function: String, exit: Bool) -> Bool
    /// Whether the kernel has `function` to probe (`nil`: unknown).
    func kernelFunctionExists(_ function: String) -> Bool?
    /// Whether the tracepoint exists (`nil`: unknown, tracefs absent).
    func tracepointExists(category: String, name: String) -> Bool?
    /// Whether a tracepoint `name` exists in any category (`nil`: unknown).
    func rawTracepointExists(_ name: String) -> Bool?
}

extension KernelFeatures: ProgramFeatureProbe {}

/// What the plan decided for one program.
public struct ProgramDecision: Sendable, Equatable {
    /// The program.
    public var program: PlannedProgram
    /// Whether it is loaded (libbpf's autoload).
    public var loads: Bool
    /// Why, in a few words, for `-v` and `--list` (for a user's pattern, in words naming no option).
    public var reason: String
    /// The user's pattern that decided it, or `nil` when the plan did: a front end names its option.
    public var pattern: PatternChoice? = nil

    /// Whether a user's pattern made it load.
    var isEnabledByPattern: Bool {
        if case .enabled = pattern { true } else { false }
    }

    /// A program loaded or left out because its name matched a pattern the user gave.
    public enum PatternChoice: Sendable, Equatable {
        /// Loaded whatever the plan says (`LoadRequest.enable`, btf-run's `--enable`).
        case enabled(String)
        /// Not loaded (`LoadRequest.disable`, btf-run's `--disable`).
        case disabled(String)
    }
}

/// Which programs load on this kernel and why: data that `--list`, `-v` and tests read; the loader
/// executes it with `bpf_program__set_autoload`.
public struct ProgramPlan: Sendable, Equatable {
    /// One decision per program, in the object's order.
    public var decisions: [ProgramDecision]

    /// The decision for `name`.
    public subscript(name: String) -> ProgramDecision? { decisions.first { $0.program.name == name } }

    /// The names of the programs that load.
    public var loading: [String] { decisions.filter(\.loads).map(\.program.name) }

    /// Decides for every program of `programs`.
    ///
    /// - `disable` / `enable`: `--disable` and `--enable` patterns (shell globs on program names);
    ///   `--enable` wins over everything else, `--disable` over the plan's own choice.
    /// - `rejected`: programs left out after a failed load, with the reason (the verifier's words).
    ///
    /// Otherwise a program loads when the kernel can run it (its type, the kernel's own BTF where
    /// the section needs it, its tracepoint or kprobe target); of twins hooking the same event, only
    /// the best one the kernel can run loads (the BTF-typed one first).
    public static func make(programs: [PlannedProgram], kernel: some ProgramFeatureProbe,
                            disable: [String] = [], enable: [String] = [], rejected: [String: String] = [:]) -> ProgramPlan {
        // First each program alone: can this kernel run it?
        var decisions = programs.map { program -> ProgramDecision in
            if let pattern = enable.first(where: { globMatches($0, program.name) }) {
                return ProgramDecision(program: program, loads: true, reason: "enabled by the pattern \(pattern)", pattern: .enabled(pattern))
            }
            if let reason = rejected[program.name] {
                return ProgramDecision(program: program, loads: false, reason: reason)
            }
            if let pattern = disable.first(where: { globMatches($0, program.name) }) {
                return ProgramDecision(program: program, loads: false, reason: "disabled by the pattern \(pattern)", pattern: .disabled(pattern))
            }
            if let missing = missingFeature(program, kernel: kernel) {
                return ProgramDecision(program: program, loads: false, reason: missing)
            }
            return ProgramDecision(program: program, loads: true, reason: defaultReason(program.hook))
        }
        // Then twins: of the programs hooking one event by different mechanisms, the best that can run.
        var groups: [String: [Int]] = [:]
        var order: [String] = []
        for (index, program) in programs.enumerated() {
            guard let key = program.hook.twinKey else { continue }
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(index)
        }
        for key in order {
            let members = groups[key]!
            guard Set(members.map { programs[$0].section }).count > 1 else { continue }  // same section twice: not twins
            let forced = members.filter { decisions[$0].isEnabledByPattern }
            let candidates = members.filter { decisions[$0].loads && !decisions[$0].isEnabledByPattern }
            guard !candidates.isEmpty else { continue }
            let best: String
            if let first = forced.first {
                best = programs[first].section
            } else {
                let ranked = candidates.min { programs[$0].hook.twinRank < programs[$1].hook.twinRank }!
                best = programs[ranked].section
            }
            let chosen = members.first { programs[$0].section == best }!
            for index in candidates where programs[index].section != best {
                decisions[index].loads = false
                decisions[index].reason = "twin of \(programs[chosen].name) (\(best)), which loads instead"
            }
            for index in candidates where programs[index].section == best {
                let others = members.filter { programs[$0].section != best }.map { programs[$0].name }
                decisions[index].reason += "; chosen over its twin\(others.count > 1 ? "s" : "") \(others.joined(separator: ", "))"
            }
        }
        return ProgramPlan(decisions: decisions)
    }

    private static func defaultReason(_ hook: ProgramHook) -> String {
        switch hook {
        case .btfTracepoint, .fentry, .otherKernelBTF: "the kernel has its own BTF and supports it"
        default: "the kernel supports it"
        }
    }

    /// Why the kernel cannot run `program`, or nil when it can.
    static func missingFeature(_ program: PlannedProgram, kernel: some ProgramFeatureProbe) -> String? {
        let hook = program.hook
        if hook.needsKernelBTF && !kernel.hasKernelBTF {
            return "needs the kernel's own BTF (section \(program.section)), and this kernel has none (/sys/kernel/btf/vmlinux is absent; a BTF file from a pack cannot serve it)"
        }
        // (libbpf's type probe cannot load a tracing, lsm or struct_ops program without an attach
        // target: those are probed by their own question below.)
        if !hook.needsKernelBTF && !kernel.supportsProgramType(bpf_prog_type(program.type)) {
            return "this kernel cannot load \(program.typeName) programs"
        }
        switch hook {
        case .btfTracepoint(let name):
            if !kernel.supportsBTFTracepoint(name) { return "this kernel cannot load tp_btf/\(name) (no btf_trace_\(name) in its BTF, or no BTF tracepoints)" }
        case .fentry(let function, let exit):
            if !kernel.supportsFentry(function, exit: exit) {
                return "this kernel cannot attach \(exit ? "fexit" : "fentry") programs to \(function) (no such function in its BTF, or no BPF trampoline support)"
            }
        case .kprobe(let function, let exit):
            if !kernel.hasKprobes { return "this kernel has no kprobes (CONFIG_KPROBES off)" }
            if !function.isEmpty, kernel.kernelFunctionExists(function) == false {
                return "this kernel has no function \(function) to \(exit ? "kretprobe" : "kprobe")"
            }
        case .tracepoint(let category, let name):
            if !name.isEmpty, kernel.tracepointExists(category: category, name: name) == false {
                return "this kernel has no tracepoint \(category):\(name)"
            }
        case .rawTracepoint(let name):
            if !name.isEmpty, kernel.rawTracepointExists(name) == false { return "this kernel has no tracepoint \(name)" }
        default: break
        }
        return nil
    }

    /// Whether `name` matches the shell glob `pattern` (`*`, `?`, `[...]`), as fnmatch(3) says.
    public static func globMatches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }
}
