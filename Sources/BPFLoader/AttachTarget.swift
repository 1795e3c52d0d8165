/// The kinds of section whose programs can be given a target explicitly (`btf-run --attach
/// PROGRAM=TARGET`): libbpf attaches them, but only when the section names the target
/// (`SEC("uprobe/BINARY:FUNCTION")`); a bare `SEC("uprobe")` needs one from the user.
public enum AttachSectionKind: String, Sendable, Equatable, CaseIterable {
    /// `uprobe`, `uprobe.s` (sleepable): `bpf_program__attach_uprobe_opts` at function entry.
    case uprobe
    /// `uretprobe`, `uretprobe.s`: `bpf_program__attach_uprobe_opts` at function return.
    case uretprobe
    /// `kprobe`: `bpf_program__attach_kprobe_opts`.
    case kprobe
    /// `kretprobe`: `bpf_program__attach_kprobe_opts`, return probe.
    case kretprobe
    /// `tracepoint`, `tp`: `bpf_program__attach_tracepoint`.
    case tracepoint
    /// `raw_tracepoint`, `raw_tp` (and their writable `.w` forms): `bpf_program__attach_raw_tracepoint`.
    case rawTracepoint = "raw_tracepoint"
    /// `perf_event`: a perf event on every online CPU (AttachKinds.swift).
    case perfEvent = "perf_event"
    /// `xdp`, `xdp.frags`: an interface's XDP hook.
    case xdp
    /// `tc`, `classifier`: a clsact qdisc's ingress or egress hook.
    case tc
    /// `usdt`: a USDT probe (`<sys/sdt.h>`) of a binary.
    case usdt

    /// The kind of `section`, or `nil` when `--attach` cannot give it a target. As libbpf matches
    /// sections, the kind is the part before the first `/`, exactly: `uprobe/x:f` is a uprobe,
    /// `kprobe.multi` is not a kprobe.
    public init?(section: String) {
        let base = section.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? section
        switch base {
        case "uprobe", "uprobe.s": self = .uprobe
        case "uretprobe", "uretprobe.s": self = .uretprobe
        case "kprobe": self = .kprobe
        case "kretprobe": self = .kretprobe
        case "tracepoint", "tp": self = .tracepoint
        case "raw_tracepoint", "raw_tp", "raw_tracepoint.w", "raw_tp.w": self = .rawTracepoint
        case "perf_event": self = .perfEvent
        case "xdp", "xdp.frags": self = .xdp
        case "tc", "classifier": self = .tc
        case "usdt": self = .usdt
        default: return nil
        }
    }

    /// The forms TARGET may take for this kind, for messages and help.
    public var expectedForm: String {
        switch self {
        case .uprobe, .uretprobe: "BINARY:FUNCTION, BINARY:FUNCTION+OFFSET or BINARY:0xOFFSET"
        case .kprobe, .kretprobe: "FUNCTION or FUNCTION+OFFSET"
        case .tracepoint: "CATEGORY:NAME or CATEGORY/NAME"
        case .rawTracepoint: "NAME"
        case .perfEvent: "EVENT or EVENT:HZ (EVENT \(PerfEventKind.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .xdp: "IFNAME"
        case .tc: "IFNAME:ingress or IFNAME:egress"
        case .usdt: "BINARY:PROVIDER:NAME"
        }
    }

    /// The sections `--attach` supports, in words, for messages.
    public static let supportedSections =
        "uprobe, uprobe.s, uretprobe, uretprobe.s (TARGET BINARY:FUNCTION[+OFFSET] or BINARY:0xOFFSET), "
        + "kprobe, kretprobe (FUNCTION[+OFFSET]), tracepoint, tp (CATEGORY:NAME), raw_tracepoint, raw_tp (NAME), "
        + "perf_event (EVENT[:HZ]), xdp (IFNAME), tc (IFNAME:ingress|egress), usdt (BINARY:PROVIDER:NAME)"
}

/// Where one program is attached when its target is given explicitly: the value `--attach
/// PROGRAM=TARGET`'s TARGET is parsed into, for the kind of the program's section.
public enum AttachTarget: Sendable, Equatable, CustomStringConvertible {
    /// A user-space probe in `binary` (a path, or a library name libbpf resolves, `libc.so.6`) on
    /// every process: at `function` + `offset`, or at file offset `offset` when `function` is nil.
    case uprobe(binary: String, function: String?, offset: Int, retprobe: Bool)
    /// A kernel probe at `function` + `offset`.
    case kprobe(function: String, offset: Int, retprobe: Bool)
    /// The tracepoint `category:name` (tracefs `events/<category>/<name>`).
    case tracepoint(category: String, name: String)
    /// The raw tracepoint `name`.
    case rawTracepoint(name: String)
    /// A perf event of `event` on every online CPU, sampled `frequency` times a second.
    case perfEvent(event: PerfEventKind, frequency: Int)
    /// The XDP hook of `interface`.
    case xdp(interface: String)
    /// The tc hook of `interface` (`egress` or ingress).
    case tc(interface: String, egress: Bool)
    /// The USDT probe `provider:name` of `binary`, in every process.
    case usdt(binary: String, provider: String, name: String)

    /// Parses TARGET for a program of section kind `kind`; the error shows the expected form.
    public static func parse(_ target: String, for kind: AttachSectionKind) throws(BPFLoaderError) -> AttachTarget {
        func malformed(_ why: String) -> BPFLoaderError {
            BPFLoaderError("malformed target '\(target)' for a \(kind.rawValue) program (\(why)): expected \(kind.expectedForm)")
        }
        guard !target.isEmpty else { throw malformed("it is empty") }
        guard !target.contains(where: \.isWhitespace) else { throw malformed("it contains white space") }
        switch kind {
        case .uprobe, .uretprobe:
            // The last ':' separates the binary (a path may hold ':') from the place in it.
            guard let colon = target.lastIndex(of: ":") else { throw malformed("no ':' between BINARY and FUNCTION") }
            let binary = String(target[..<colon])
            let place = String(target[target.index(after: colon)...])
            guard !binary.isEmpty else { throw malformed("BINARY is empty") }
            guard !place.isEmpty else { throw malformed("nothing after ':'") }
            if place.hasPrefix("0x") || place.hasPrefix("0X") {
                guard let offset = parseOffset(place) else { throw malformed("'\(place)' is not a hexadecimal offset") }
                return .uprobe(binary: binary, function: nil, offset: offset, retprobe: kind == .uretprobe)
            }
            let (function, offset) = try functionAndOffset(place, malformed)
            return .uprobe(binary: binary, function: function, offset: offset, retprobe: kind == .uretprobe)
        case .kprobe, .kretprobe:
            guard !target.contains(":") && !target.contains("/") else { throw malformed("a kernel function name has no ':' or '/'") }
            let (function, offset) = try functionAndOffset(target, malformed)
            return .kprobe(function: function, offset: offset, retprobe: kind == .kretprobe)
        case .tracepoint:
            let parts = target.split(omittingEmptySubsequences: false, whereSeparator: { $0 == ":" || $0 == "/" })
            guard parts.count == 2 else {
                throw malformed(parts.count == 1 ? "no ':' or '/' between CATEGORY and NAME" : "more than one separator")
            }
            guard !parts[0].isEmpty, !parts[1].isEmpty else { throw malformed(parts[0].isEmpty ? "CATEGORY is empty" : "NAME is empty") }
            return .tracepoint(category: String(parts[0]), name: String(parts[1]))
        case .rawTracepoint:
            guard !target.contains(":") && !target.contains("/") else { throw malformed("a raw tracepoint name has no ':' or '/'") }
            return .rawTracepoint(name: target)
        case .perfEvent, .xdp, .tc, .usdt:
            return try parseNetworkOrEvent(target, for: kind, malformed)
        }
    }

    /// `FUNCTION` or `FUNCTION+OFFSET` (OFFSET decimal or 0x hexadecimal).
    private static func functionAndOffset(_ text: String, _ malformed: (String) -> BPFLoaderError) throws(BPFLoaderError) -> (String, Int) {
        var function = text
        var offset = 0
        if let plus = text.lastIndex(of: "+") {
            function = String(text[..<plus])
            let offsetText = String(text[text.index(after: plus)...])
            guard let parsed = parseOffset(offsetText) else {
                throw malformed(offsetText.isEmpty ? "nothing after '+'" : "'\(offsetText)' is not an offset")
            }
            offset = parsed
        }
        guard !function.isEmpty else { throw malformed("FUNCTION is empty") }
        guard !function.contains("+") else { throw malformed("more than one '+'") }
        guard let first = function.unicodeScalars.first, !("0" ... "9").contains(first) else {
            throw malformed("'\(function)' is not a function name")
        }
        return (function, offset)
    }

    /// A non-negative offset: decimal digits, or `0x` and hexadecimal digits; nil otherwise.
    static func parseOffset(_ text: String) -> Int? {
        var digits = Substring(text)
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            digits = digits.dropFirst(2)
            radix = 16
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isHexDigit && (radix == 16 || $0.isNumber) }) else { return nil }
        return Int(digits, radix: radix)
    }

    /// The target as `-v` reports it: `uprobe /bin/x:f`, `kretprobe do_exit+4`, `tracepoint sched:sched_switch`.
    public var description: String {
        switch self {
        case .uprobe(let binary, let function, let offset, let retprobe):
            let place = function.map { offset == 0 ? $0 : "\($0)+\(offset)" } ?? "0x" + String(offset, radix: 16)
            return "\(retprobe ? "uretprobe" : "uprobe") \(binary):\(place) (all processes)"
        case .kprobe(let function, let offset, let retprobe):
            return "\(retprobe ? "kretprobe" : "kprobe") \(function)" + (offset == 0 ? "" : "+\(offset)")
        case .tracepoint(let category, let name):
            return "tracepoint \(category):\(name)"
        case .rawTracepoint(let name):
            return "raw tracepoint \(name)"
        case .perfEvent(let event, let frequency):
            return "perf event \(event.rawValue) at \(frequency) Hz on every online CPU"
        case .xdp(let interface):
            return "xdp \(interface)"
        case .tc(let interface, let egress):
            return "tc \(interface) \(egress ? "egress" : "ingress")"
        case .usdt(let binary, let provider, let name):
            return "usdt \(binary):\(provider):\(name) (all processes)"
        }
    }

    /// Whether attaching reads tracefs (a tracepoint's id).
    public var needsTracefs: Bool {
        if case .tracepoint = self { return true }
        return false
    }
}

/// One `--attach PROGRAM=TARGET`: a program of the object and the target text, before the
/// program's section tells how TARGET is read.
public struct AttachRequest: Sendable, Equatable, CustomStringConvertible {
    /// The program's (function's) name.
    public var program: String
    /// TARGET, unparsed.
    public var target: String

    /// A request for `program` at `target`.
    public init(program: String, target: String) {
        self.program = program
        self.target = target
    }

    /// Splits `PROGRAM=TARGET` at the first `=` (a program name has none; a path may).
    public init(parsing argument: String) throws(BPFLoaderError) {
        guard let equals = argument.firstIndex(of: "=") else {
            throw BPFLoaderError("expected PROGRAM=TARGET (e.g. my_uprobe=/usr/bin/bash:readline)", input: RunInput(.attachTarget, argument, malformed: true))
        }
        program = String(argument[..<equals])
        target = String(argument[argument.index(after: equals)...])
        guard !program.isEmpty else {
            throw BPFLoaderError("PROGRAM is empty; expected PROGRAM=TARGET", input: RunInput(.attachTarget, argument, malformed: true))
        }
        guard !target.isEmpty else {
            throw BPFLoaderError("TARGET is empty; expected PROGRAM=TARGET", input: RunInput(.attachTarget, argument, malformed: true))
        }
    }

    public var description: String { "\(program)=\(target)" }

    /// Checks `requests` against the object's `programs` and parses each TARGET for its program's
    /// section: the targets by program name (a program may be given several). Throws, naming
    /// `objectName`, for an unknown program (listing the object's programs), a section `--attach`
    /// cannot give a target to (listing the ones it can) or a malformed target (showing the form
    /// that section expects).
    public static func resolve(_ requests: [AttachRequest], programs: [BPFProgramInfo], objectName: String) throws(BPFLoaderError) -> [String: [AttachTarget]] {
        var targets: [String: [AttachTarget]] = [:]
        for request in requests {
            guard let program = programs.first(where: { $0.name == request.program }) else {
                let list = programs.isEmpty ? "it has none" : "its programs are " + programs.map { "\($0.name) (section \($0.section))" }.joined(separator: ", ")
                throw BPFLoaderError("\(objectName) has no program named '\(request.program)'; \(list)", input: RunInput(.attachTarget, request.description))
            }
            guard let kind = AttachSectionKind(section: program.section) else {
                throw BPFLoaderError("program \(program.name) has section '\(program.section)'", input: RunInput(.attachTarget, request.description),
                                     remedy: .attachTargetSections(AttachSectionKind.supportedSections))
            }
            do {
                targets[program.name, default: []].append(try AttachTarget.parse(request.target, for: kind))
            } catch {
                throw BPFLoaderError("program \(program.name) (section \(program.section)): \(error.message)", input: RunInput(.attachTarget, request.description))
            }
        }
        return targets
    }
}
