import BTF
import CLibBPF
import Glibc

/// What the user asked of a load besides the object: programs to leave out or force, globals to
/// set, map sizes, and whether ring buffers become perf event arrays.
public struct LoadRequest: Sendable {
    /// `--disable` and `--enable` globs.
    public var disable: [String] = []
    public var enable: [String] = []
    /// `--set` values, encoded.
    public var assignments: [GlobalAssignment] = []
    /// `--max-entries`, `--value-size`.
    public var mapSizes = MapSizeOverrides()
    /// Why ring buffers are created as perf event arrays (`nil`: they are kept).
    public var perfFallback: String?

    /// An empty request: the plan's own choices, the object's values and sizes.
    public init() {}
}

/// The configured object, before or after loading, with what was decided on the way.
public struct PreparedLoad {
    /// The object (configured; loaded when it came from `PlannedLoad.load`).
    public let object: LoadedBPFObject
    /// Which programs load and why.
    public let plan: ProgramPlan
    /// What was done to each map.
    public let maps: [MapDecision]
}

/// The load step of a run: plan, configure, load; when a program fails to load (the verifier
/// rejects it, or a relocation libbpf poisoned is reachable), that program is left out with the
/// verifier's reason and the object is opened and loaded again without it.
public enum PlannedLoad {
    /// The object's programs with the type libbpf gave each.
    public static func programs(of object: LoadedBPFObject) -> [PlannedProgram] {
        object.programHandles.map {
            PlannedProgram(name: String(cString: bpf_program__name($0)), section: String(cString: bpf_program__section_name($0)),
                           type: bpf_program__type($0).rawValue)
        }
    }

    /// Plans `object`'s programs (with `rejected` left out) and configures it: autoload per the
    /// plan, globals, map sizes and types. Nothing is loaded.
    public static func prepare(_ object: LoadedBPFObject, request: LoadRequest, kernel: KernelFeatures,
                               rejected: [String: String] = [:]) throws(BPFLoaderError) -> PreparedLoad {
        let plan = ProgramPlan.make(programs: programs(of: object), kernel: kernel, disable: request.disable, enable: request.enable, rejected: rejected)
        for (handle, decision) in zip(object.programHandles, plan.decisions) {
            bpf_program__set_autoload(handle, decision.loads)
        }
        try object.apply(request.assignments)
        let maps = try object.configureMaps(request.mapSizes, perfFallback: request.perfFallback, kernel: kernel)
        return PreparedLoad(object: object, plan: plan, maps: maps)
    }

    /// Opens (with `open`), prepares and loads the object, leaving out each program that fails to
    /// load and trying again, until the rest load. `note` hears each program left out. Throws when
    /// no program is left to load, or for a failure no program is to blame for (a map that
    /// cannot be created: the error names it, its sizes and, as its remedy, a new size). Errors
    /// give a decision's reason in `reason`'s words (a front end names its options there).
    public static func load(open: () throws(BPFLoaderError) -> LoadedBPFObject, request: LoadRequest, kernel: KernelFeatures,
                            reason describe: (ProgramDecision) -> String = \.reason,
                            note: (String) -> Void = { _ in }) throws(BPFLoaderError) -> PreparedLoad {
        var rejected: [String: String] = [:]
        while true {
            let object = try open()
            let prepared: PreparedLoad
            do { prepared = try prepare(object, request: request, kernel: kernel, rejected: rejected) } catch {
                object.close()
                throw error
            }
            guard !prepared.plan.loading.isEmpty else {
                object.close()
                let reasons = prepared.plan.decisions.map { "\($0.program.name) (\($0.program.section)): \(describe($0))" }
                throw BPFLoaderError("\(object.name): no program can be loaded on this kernel" + (reasons.isEmpty ? " (the object has none)" : ": " + reasons.joined(separator: "; ")))
            }
            let mark = LibBPFLog.mark
            do {
                try object.load()
                return prepared
            } catch {
                let lines = LibBPFLog.lines(since: mark)
                object.close()
                if let map = failedMap(in: lines), let decision = prepared.maps.first(where: { $0.name == map.name }) {
                    throw BPFLoaderError("\(object.name): map '\(map.name)' (\(decision.type), key \(decision.keySize) bytes, value \(decision.valueSize) bytes, "
                                         + "max_entries \(decision.maxEntries)) cannot be created: \(map.reason)", errnoCode: error.errnoCode, remedy: .resizeMap(map.name))
                }
                guard let failure = failedProgram(in: lines), let decision = prepared.plan[failure.name], decision.loads,
                      rejected[failure.name] == nil else {
                    throw error
                }
                var reason = failure.reason
                if case .fentry = decision.program.hook, [EPERM, 524].contains(error.errnoCode), geteuid() == 0 {
                    // libbpf suggests raising 'ulimit -l'; the cause is a kernel without BPF trampolines.
                    reason = "this kernel cannot run fentry/fexit programs (no BPF trampoline support; libbpf's 'ulimit -l' hint does not apply): \(reason)"
                }
                if decision.isEnabledByPattern {
                    throw BPFLoaderError("\(object.name): program \(failure.name) (section \(decision.program.section)), \(describe(decision)), cannot be loaded: \(reason)",
                                         errnoCode: error.errnoCode)
                }
                rejected[failure.name] = reason
                note("program \(failure.name) left out: \(reason); loading the others again")
            }
        }
    }

    /// The program libbpf names in its failure lines, and why: the verifier's last words (the
    /// line before its statistics) when its log is there, else libbpf's message.
    static func failedProgram(in lines: [String]) -> (name: String, reason: String)? {
        var name: String?
        var message = ""
        var verifier: [String] = []
        var inLog = false
        for line in lines {
            let text = line.hasPrefix("libbpf: ") ? String(line.dropFirst(8)) : line
            if text.hasSuffix("-- BEGIN PROG LOAD LOG --") { inLog = true; verifier = []; name = programName(in: text) ?? name; continue }
            if text.hasPrefix("-- END PROG LOAD LOG --") { inLog = false; continue }
            if inLog { verifier.append(text); continue }
            if let program = programName(in: text) {
                name = program
                message = text.split(separator: "': ", maxSplits: 1).dropFirst().first.map(String.init) ?? text
            }
        }
        guard let name else { return nil }
        let statistics = ["processed ", "verification time", "stack depth", "max_states_per_insn", "mark_read"]
        let meaningful = verifier.filter { line in !line.trimmingCharacters(in: " ").isEmpty && !statistics.contains(where: { line.hasPrefix($0) }) }
        if let last = meaningful.last {
            // A poisoned CO-RE relocation reads better with the line before (libbpf's rewrite of it).
            let previous = meaningful.count > 1 && last.hasPrefix("failed to resolve CO-RE relocation") ? meaningful[meaningful.count - 2] + ": " : ""
            return (name, "the verifier rejected it: \(previous)\(last)")
        }
        return (name, "libbpf cannot load it: \(message)")
    }

    /// `NAME` of a libbpf line `prog 'NAME': ...`.
    private static func programName(in text: String) -> String? {
        guard text.hasPrefix("prog '"), let end = text.dropFirst(6).firstIndex(of: "'") else { return nil }
        return String(text[text.index(text.startIndex, offsetBy: 6) ..< end])
    }

    /// The map libbpf could not create, and its words why.
    static func failedMap(in lines: [String]) -> (name: String, reason: String)? {
        for line in lines.reversed() {
            let text = line.hasPrefix("libbpf: ") ? String(line.dropFirst(8)) : line
            let parts = text.dropFirst(5).split(separator: "': failed to create: ", maxSplits: 1)
            guard text.hasPrefix("map '"), parts.count == 2 else { continue }
            return (String(parts[0]), String(parts[1]))
        }
        return nil
    }

    /// The names of the object's typed `__ksym` externs and kfuncs (DATASEC `.ksyms` entries that
    /// are not `void`): libbpf resolves them against the kernel's own BTF, for the whole object.
    public static func typedKernelSymbols(in btf: BTF) -> [String] {
        var names: [String] = []
        for id in btf.typeIDs where btf.kind(id) == .dataSection && btf.name(id) == ".ksyms" {
            let datasec = btf.type(id)
            for index in 0 ..< datasec.vlen {
                let entry = btf.sectionVariable(of: datasec, at: index)
                guard let kind = btf.kind(entry.type) else { continue }
                let t = btf.type(entry.type)
                if kind == .function || (kind == .variable && EventDecoder.skipModifiers(t.referencedType, in: btf, followTypedefs: false) != .void) { names.append(btf.string(t.nameOffset)) }
            }
        }
        return names
    }
}
