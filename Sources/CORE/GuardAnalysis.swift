/// What libbpf did to one CO-RE relocated instruction on one kernel, as the guard analysis needs it.
public enum GuardRelocationInput: Sendable, Hashable {
    /// Patched: an ALU immediate, a 64-bit immediate or a load/store offset now holds this value.
    case value(UInt64)
    /// Replaced by `call 0xbad2310`: the verifier rejects the program if it reaches it.
    case poisoned
    /// libbpf fails the load (ambiguous candidates, any other relocation error).
    case failed
}

/// What the verifier will do with one program on one kernel.
public enum GuardVerdict: Sendable, Equatable {
    /// No poisoned instruction in the program.
    case loads
    /// Poisoned instructions, none reachable once the relocated constants are known.
    case guarded
    /// The poisoned instructions of these relocation sites are reachable (in site order; the
    /// verifier stops at the first it meets).
    case rejected(sites: [Int])
    /// The relocation of site `site` fails: libbpf does not load the program.
    case fails(site: Int)

    /// L loads, G guarded, X rejected, F fails.
    public var code: Character {
        switch self {
        case .loads: "L"
        case .guarded: "G"
        case .rejected: "X"
        case .fails: "F"
        }
    }

    /// The relocation site named by a rejection or failure.
    public var site: Int? {
        switch self {
        case .loads, .guarded: nil
        case .rejected(let sites): sites.first
        case .fails(let site): site
        }
    }

    /// Every site a rejection names (the failing site for a failure).
    public var sites: [Int] {
        switch self {
        case .loads, .guarded: []
        case .rejected(let sites): sites
        case .fails(let site): [site]
        }
    }

    /// What each code means, in code order.
    public static let legend: [(code: Character, meaning: String)] = [
        ("L", "loads: no poisoned instruction"),
        ("G", "guarded: loads, every poisoned instruction is unreachable once the relocated constants are known"),
        ("X", "rejected: the verifier reaches a poisoned instruction"),
        ("F", "fails: a relocation fails (ambiguous or error), libbpf does not load the program"),
    ]
}

/// Decides, from a program's instructions with one kernel's relocation values applied, whether the
/// verifier reaches a poisoned instruction: the verifier's constant tracking in small (registers and
/// stack slots holding known constants or stack pointers), pruning the branches whose outcome the
/// constants decide, following bpf-to-bpf calls, and joining states at an instruction past a few
/// per call chain so that loops end. Where it cannot tell, it says reachable, never guarded.
public struct GuardAnalysis: Sendable {
    public let image: BPFProgramImage
    /// Global instruction index -> relocation site (index into the sites given to `init`).
    private let siteAt: [Int: Int]
    /// Per function of the image that is a program: the sites in the code it may run (every branch
    /// and call followed, constants ignored), in site order.
    private let reachableSites: [Int: [Int]]

    /// Distinct states kept per instruction and call chain before they are joined into one.
    static let statesPerInstruction = 8
    /// Instructions interpreted per verdict before giving up (and answering "reachable").
    static let stepLimit = 400_000

    /// `sites` are the relocated instructions (section name, byte offset), in the order the
    /// `inputs` of `verdict` follow; a site outside every executable section is ignored.
    public init(image: BPFProgramImage, sites: [(section: String, offset: UInt32)]) {
        self.image = image
        var siteAt: [Int: Int] = [:]
        for (i, site) in sites.enumerated() {
            if let index = image.globalIndex(section: site.section, byteOffset: site.offset) { siteAt[index] = i }
        }
        self.siteAt = siteAt
        var reachable: [Int: [Int]] = [:]
        for (f, function) in image.functions.enumerated() where function.isProgram {
            reachable[f] = GuardAnalysis.codeReachable(from: function.entry, in: image).compactMap { siteAt[$0] }.sorted()
        }
        reachableSites = reachable
    }

    /// The relocation sites in the code program `function` may run, whatever the constants.
    public func sites(ofProgram function: Int) -> [Int] { reachableSites[function] ?? [] }

    /// The verdict for program `function` (an index into `image.functions`) when relocation site
    /// `i` came out as `inputs[i]`.
    public func verdict(program function: Int, inputs: [GuardRelocationInput]) -> GuardVerdict {
        let sites = reachableSites[function] ?? []
        func input(_ site: Int) -> GuardRelocationInput { site < inputs.count ? inputs[site] : .failed }
        if let failed = sites.first(where: { input($0) == .failed }) { return .fails(site: failed) }
        guard sites.contains(where: { input($0) == .poisoned }) else { return .loads }
        var run = Run(analysis: self, inputs: inputs)
        switch run.explore(from: image.functions[function].entry) {
        case .reached(let sites): return .rejected(sites: sites.sorted())
        case .unsure: return .rejected(sites: sites.filter { input($0) == .poisoned })
        case .unreached: return .guarded
        }
    }

    /// Every instruction reachable from `entry` following all branches, calls and function addresses.
    static func codeReachable(from entry: Int, in image: BPFProgramImage) -> [Int] {
        var seen = Set<Int>(), stack = [entry], result: [Int] = []
        let code = image.instructions
        while let pc = stack.popLast() {
            guard pc >= 0, pc < code.count, seen.insert(pc).inserted else { continue }
            result.append(pc)
            let insn = code[pc]
            if let target = image.callTargets[pc] { stack.append(target) }
            if insn.isExit { continue }
            let cls = insn.instructionClass
            if cls == 5 || cls == 6, !insn.isCall {
                let op = insn.operation
                let offset = cls == 6 && op == 0x00 ? Int(insn.imm) : Int(insn.off)
                stack.append(pc + offset + 1)
                if op == 0x00 { continue }
            }
            stack.append(pc + (insn.isLoadImmediate64 ? 2 : 1))
        }
        return result
    }

    private enum Outcome { case reached(Set<Int>), unsure, unreached }

    /// One exploration: a worklist of (instruction, state) pairs.
    private struct Run {
        let analysis: GuardAnalysis
        let inputs: [GuardRelocationInput]
        struct Key: Hashable { var pc: Int; var chain: [Int] }
        var seen: [Key: [BPFAbstractState]] = [:]
        var work: [(Int, BPFAbstractState)] = []
        var extraEntries = Set<Int>()
        var steps = 0
        /// Poisoned sites reached: a path ends there (the verifier stops), others go on.
        var reached = Set<Int>()

        init(analysis: GuardAnalysis, inputs: [GuardRelocationInput]) {
            self.analysis = analysis; self.inputs = inputs
        }

        mutating func explore(from entry: Int) -> Outcome {
            work.append((entry, BPFAbstractState()))
            extraEntries.insert(entry)
            while let (pc, state) = work.popLast() {
                steps += 1
                if steps > GuardAnalysis.stepLimit { return .unsure }
                guard let admitted = admit(pc, state) else { continue }
                switch step(pc, admitted) {
                case .reached(let sites): reached.formUnion(sites)
                case .unsure: return .unsure
                case .unreached: continue
                }
            }
            return reached.isEmpty ? .unreached : .reached(reached)
        }

        /// Records `state` at `pc`; `nil` when a state already there covers it. Past the limit the
        /// states are joined into one, which only grows: loops end.
        mutating func admit(_ pc: Int, _ state: BPFAbstractState) -> BPFAbstractState? {
            let key = Key(pc: pc, chain: state.callChain)
            var states = seen[key] ?? []
            if states.contains(where: { $0.subsumes(state) }) { return nil }
            states.removeAll { state.subsumes($0) }
            if states.count >= GuardAnalysis.statesPerInstruction {
                let joined = states.reduce(state) { $0.joined(with: $1) }
                seen[key] = [joined]
                return joined
            }
            states.append(state)
            seen[key] = states
            return state
        }

        /// A function the verifier checks on its own (global subprogram, callback): explored
        /// once, from unknown arguments.
        mutating func addEntry(_ pc: Int) {
            if extraEntries.insert(pc).inserted { work.append((pc, BPFAbstractState())) }
        }

        mutating func step(_ pc: Int, _ entryState: BPFAbstractState) -> Outcome {
            let code = analysis.image.instructions
            guard pc >= 0, pc < code.count else { return .unsure }
            var state = entryState
            var insn = code[pc]
            var relocated: UInt64?
            if let site = analysis.siteAt[pc] {
                switch site < inputs.count ? inputs[site] : .failed {
                case .poisoned: return .reached([site])
                case .failed: return .unsure
                case .value(let value): relocated = value
                }
            }
            switch insn.instructionClass {
            case 0: // LD
                if insn.isLoadImmediate64 {
                    guard pc + 1 < code.count else { return .unsure }
                    let value: BPFAbstractValue
                    if let relocated { value = .constant(relocated) }
                    else if insn.isPseudoFunction {
                        if let target = analysis.image.callTargets[pc] { addEntry(target) } else { return .unsure }
                        value = .unknown
                    } else if insn.src == 0, let pointer = analysis.image.readOnlyLoads[pc] {
                        value = .readOnly(data: pointer.data, offset: pointer.offset)
                    } else if insn.src != 0 || analysis.image.relocatedLoads.contains(pc) { value = .unknown }
                    else { value = .constant(UInt64(UInt32(bitPattern: insn.imm)) | UInt64(UInt32(bitPattern: code[pc + 1].imm)) << 32) }
                    state[register: insn.dst] = value
                    work.append((pc + 2, state))
                } else {
                    // Legacy packet access: R0 gets the data, R1-R5 are scratched.
                    state[register: 0] = .unknown
                    for r: UInt8 in 1 ... 5 { state[register: r] = .unknown }
                    work.append((pc + 1, state))
                }
            case 1: // LDX
                state[register: insn.dst] = load(state, base: state[register: insn.src], offset: Int64(insn.off),
                                                 size: insn.accessSize, signExtend: insn.mode == 0x80)
                work.append((pc + 1, state))
            case 2, 3: // ST, STX
                var value: BPFAbstractValue = insn.instructionClass == 2
                    ? .constant(UInt64(bitPattern: Int64(insn.imm))) : state[register: insn.src]
                let atomic = insn.instructionClass == 3 && insn.mode == 0xc0
                if atomic {
                    value = .top
                    if insn.imm & 0x01 != 0 { state[register: insn.src] = .unknown }
                    if insn.imm == 0xf1 { state[register: 0] = .unknown }
                }
                store(&state, base: state[register: insn.dst], offset: Int64(insn.off), size: insn.accessSize, value: atomic ? nil : value)
                work.append((pc + 1, state))
            case 4, 7: // ALU, ALU64
                if !insn.usesRegisterSource, let relocated { insn.imm = Int32(truncatingIfNeeded: relocated) }
                state[register: insn.dst] = alu(insn, state)
                work.append((pc + 1, state))
            default: // JMP, JMP32
                return jump(pc, insn, state)
            }
            return .unreached
        }

        func load(_ state: BPFAbstractState, base: BPFAbstractValue, offset: Int64, size: Int, signExtend: Bool) -> BPFAbstractValue {
            switch base {
            case .stack(let frame, let at?):
                guard frame < state.frames.count, let slot = state.frames[frame].stack[at + offset], slot.size == size else { return .top }
                if case .constant(let value) = slot.value {
                    return .constant(signExtend ? GuardAnalysis.signExtend(value, bits: size * 8) : value)
                }
                return size == 8 ? slot.value : (slot.value == .unknown ? .unknown : .top)
            case .stack, .top: return .top
            case .readOnly(let data, let at?):
                // bpf_map_direct_read: a constant offset into a frozen read-only map value reads
                // the byte image (bounds and size checked as check_map_access does).
                guard let value = analysis.image.readOnlyValue(data: data, offset: at &+ offset, size: size) else { return .unknown }
                return .constant(signExtend ? GuardAnalysis.signExtend(value, bits: size * 8) : value)
            case .readOnly, .constant, .unknown: return .unknown
            }
        }

        /// A store of `value` (`nil`: unknown, as for atomics) through `base + offset`.
        func store(_ state: inout BPFAbstractState, base: BPFAbstractValue, offset: Int64, size: Int, value: BPFAbstractValue?) {
            switch base {
            case .stack(let frame, let at?) where frame < state.frames.count:
                state.frames[frame].clobber(at + offset, size: size)
                guard var value else { return }
                if case .constant(let c) = value { value = .constant(GuardAnalysis.truncate(c, bytes: size)) }
                else if size < 8 && value != .unknown { value = .top }
                state.frames[frame].stack[at + offset] = BPFStackSlot(size: size, value: value)
            case .stack(let frame, _) where frame < state.frames.count:
                state.frames[frame].clobber(from: nil)
            case .stack, .top:
                for f in state.frames.indices { state.frames[f].clobber(from: nil) }
            case .constant, .unknown, .readOnly:
                break // not the stack (the verifier refuses stores into a read-only map anyway)
            }
        }

        func alu(_ insn: BPFInstruction, _ state: BPFAbstractState) -> BPFAbstractValue {
            let is64 = insn.instructionClass == 7
            let dst = state[register: insn.dst]
            let src: BPFAbstractValue = insn.usesRegisterSource ? state[register: insn.src]
                : .constant(is64 ? UInt64(bitPattern: Int64(insn.imm)) : UInt64(UInt32(bitPattern: insn.imm)))
            let op = insn.operation
            // Pointer arithmetic on the stack pointer: only add and subtract keep it a stack pointer.
            if is64, case .stack(let frame, let at) = dst, op == 0x00 || op == 0x10 {
                guard case .constant(let c) = src, let at else { return .stack(frame: frame, offset: nil) }
                let delta = Int64(bitPattern: c)
                return .stack(frame: frame, offset: op == 0x00 ? at &+ delta : at &- delta)
            }
            // The same for a pointer into read-only data; an unknown addend leaves it somewhere in it.
            if is64, case .readOnly(let data, let at) = dst, op == 0x00 || op == 0x10 {
                guard case .constant(let c) = src, let at else {
                    return src == .top || src.isStack ? .top : .readOnly(data: data, offset: nil)
                }
                let delta = Int64(bitPattern: c)
                return .readOnly(data: data, offset: op == 0x00 ? at &+ delta : at &- delta)
            }
            if op == 0xb0 { // MOV, MOVSX
                guard case .constant(let c) = src else { return is64 || src == .unknown ? src : .unknown }
                let value = insn.off != 0 ? GuardAnalysis.signExtend(c, bits: Int(insn.off)) : c
                return .constant(is64 ? value : value & 0xffff_ffff)
            }
            let unary = op == 0x80 || op == 0xd0
            guard case .constant(let a) = dst, unary || src.constant != nil else {
                return dst == .top || (!unary && src == .top) || dst.isStack || src.isStack ? .top : .unknown
            }
            let b = src.constant ?? 0
            guard let result = GuardAnalysis.compute(op, a, b, is64: is64, signed: insn.off == 1, imm: insn.imm,
                                                      toBigEndian: insn.usesRegisterSource) else { return .unknown }
            return .constant(result)
        }

        mutating func jump(_ pc: Int, _ insn: BPFInstruction, _ entryState: BPFAbstractState) -> Outcome {
            var state = entryState
            let op = insn.operation
            let is32 = insn.instructionClass == 6
            if op == 0x00 { // JA (gotol for JMP32)
                work.append((pc + (is32 ? Int(insn.imm) : Int(insn.off)) + 1, state))
                return .unreached
            }
            if insn.isCall && !is32 { return call(pc, insn, state) }
            if insn.isExit && !is32 {
                guard state.frames.count > 1 else { return .unreached }
                let callee = state.frames.removeLast()
                var r0 = callee.registers[0]
                if r0.isStack { r0 = .top }
                for f in state.frames.indices { state.frames[f].registers = state.frames[f].registers.map { $0.escapingFrame(state.frames.count) } }
                state[register: 0] = r0
                for r: UInt8 in 1 ... 5 { state[register: r] = .unknown }
                guard let back = callee.returnTo else { return .unsure }
                work.append((back, state))
                return .unreached
            }
            if op == 0xe0 { // may_goto: either way
                work.append((pc + Int(insn.off) + 1, state))
                work.append((pc + 1, state))
                return .unreached
            }
            let lhs = state[register: insn.dst]
            let rhs: BPFAbstractValue = insn.usesRegisterSource ? state[register: insn.src]
                : .constant(is32 ? UInt64(UInt32(bitPattern: insn.imm)) : UInt64(bitPattern: Int64(insn.imm)))
            let taken = pc + Int(insn.off) + 1
            var decided: Bool?
            if case .constant(let a) = lhs, case .constant(let b) = rhs {
                decided = GuardAnalysis.compare(op, a, b, is32: is32)
            } else if lhs.isStack || lhs.isReadOnly, rhs == .constant(0), !is32, op == 0x10 || op == 0x50 {
                decided = op == 0x50 // a stack or map value pointer is never NULL
            }
            if let decided {
                work.append((decided ? taken : pc + 1, state))
                return .unreached
            }
            var onTaken = state, onFall = state
            // Equality against a constant makes the register that constant on one side.
            if !is32, case .constant = rhs, lhs == .unknown {
                if op == 0x10 { onTaken[register: insn.dst] = rhs }
                if op == 0x50 { onFall[register: insn.dst] = rhs }
            }
            work.append((pc + 1, onFall))
            work.append((taken, onTaken))
            return .unreached
        }

        mutating func call(_ pc: Int, _ insn: BPFInstruction, _ entryState: BPFAbstractState) -> Outcome {
            var state = entryState
            if insn.isPseudoCall {
                guard let target = analysis.image.callTargets[pc] else { return .unsure }
                let function = analysis.image.function(containing: target).map { analysis.image.functions[$0] }
                if function?.isGlobal != true {
                    guard state.frames.count < 9 else { return .unsure }
                    var frame = BPFFrame(depth: state.frames.count, returnTo: pc + 1)
                    for r in 1 ... 5 { frame.registers[r] = state.frames[state.frames.count - 1].registers[r] }
                    state.frames.append(frame)
                    work.append((target, state))
                    return .unreached
                }
                addEntry(target)
            }
            // A helper, kfunc or global function: it may write wherever its pointer arguments point.
            for r: UInt8 in 1 ... 5 {
                switch state[register: r] {
                case .stack(let frame, let at) where frame < state.frames.count: state.frames[frame].clobber(from: at)
                case .top: for f in state.frames.indices { state.frames[f].clobber(from: nil) }
                default: break
                }
            }
            state[register: 0] = .unknown
            for r: UInt8 in 1 ... 5 { state[register: r] = .unknown }
            work.append((pc + 1, state))
            return .unreached
        }
    }

    static func truncate(_ value: UInt64, bytes: Int) -> UInt64 { bytes >= 8 ? value : value & ((1 << UInt64(bytes * 8)) - 1) }

    static func signExtend(_ value: UInt64, bits: Int) -> UInt64 {
        guard bits > 0, bits < 64 else { return value }
        let shift = UInt64(64 - bits)
        return UInt64(bitPattern: Int64(bitPattern: value << shift) >> Int64(shift))
    }

    /// An ALU operation on known operands, as the BPF interpreter computes it; `nil` when unknown.
    static func compute(_ op: UInt8, _ a: UInt64, _ b: UInt64, is64: Bool, signed: Bool, imm: Int32, toBigEndian: Bool) -> UInt64? {
        let x = is64 ? a : a & 0xffff_ffff, y = is64 ? b : b & 0xffff_ffff
        let bits: UInt64 = is64 ? 64 : 32
        var r: UInt64
        switch op {
        case 0x00: r = x &+ y
        case 0x10: r = x &- y
        case 0x20: r = x &* y
        case 0x30, 0x90:
            if y == 0 { r = op == 0x30 ? 0 : x; break }
            if signed {
                let sx = is64 ? Int64(bitPattern: x) : Int64(Int32(truncatingIfNeeded: x))
                let sy = is64 ? Int64(bitPattern: y) : Int64(Int32(truncatingIfNeeded: y))
                r = UInt64(bitPattern: op == 0x30 ? sx.dividedReportingOverflow(by: sy).partialValue
                                                  : sx.remainderReportingOverflow(dividingBy: sy).partialValue)
            } else {
                r = op == 0x30 ? x / y : x % y
            }
        case 0x40: r = x | y
        case 0x50: r = x & y
        case 0x60: r = x << (y & (bits - 1))
        case 0x70: r = x >> (y & (bits - 1))
        case 0x80: r = 0 &- x
        case 0xa0: r = x ^ y
        case 0xc0:
            r = is64 ? UInt64(bitPattern: Int64(bitPattern: x) >> Int64(y & 63))
                     : UInt64(UInt32(bitPattern: Int32(truncatingIfNeeded: x) >> Int32(y & 31)))
        case 0xd0:
            let width = Int(imm)
            guard width == 16 || width == 32 || width == 64 else { return nil }
            let value = truncate(a, bytes: width / 8)
            // BPF_TO_LE is a truncation on little-endian; BPF_TO_BE and ALU64 bswap swap bytes.
            if !toBigEndian && !is64 { return value }
            return value.byteSwapped >> UInt64(64 - width)
        default: return nil
        }
        return is64 ? r : r & 0xffff_ffff
    }

    /// A conditional jump's condition on known operands.
    static func compare(_ op: UInt8, _ a: UInt64, _ b: UInt64, is32: Bool) -> Bool? {
        let x = is32 ? a & 0xffff_ffff : a, y = is32 ? b & 0xffff_ffff : b
        let sx = is32 ? Int64(Int32(truncatingIfNeeded: x)) : Int64(bitPattern: x)
        let sy = is32 ? Int64(Int32(truncatingIfNeeded: y)) : Int64(bitPattern: y)
        switch op {
        case 0x10: return x == y
        case 0x20: return x > y
        case 0x30: return x >= y
        case 0x40: return x & y != 0
        case 0x50: return x != y
        case 0x60: return sx > sy
        case 0x70: return sx >= sy
        case 0xa0: return x < y
        case 0xb0: return x <= y
        case 0xc0: return sx < sy
        case 0xd0: return sx <= sy
        default: return nil
        }
    }
}

extension BPFAbstractValue {
    var isStack: Bool { if case .stack = self { true } else { false } }
    var isReadOnly: Bool { if case .readOnly = self { true } else { false } }

    /// After frame `depth` is gone, a pointer into it means nothing.
    func escapingFrame(_ depth: Int) -> BPFAbstractValue {
        if case .stack(let frame, _) = self, frame >= depth { return .top }
        return self
    }
}
