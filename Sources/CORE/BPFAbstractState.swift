/// What the guard analysis knows about a register or stack slot: the little of the verifier's
/// register state that decides whether a relocated constant prunes a branch.
public enum BPFAbstractValue: Sendable, Hashable {
    /// A scalar known exactly (64 bits).
    case constant(UInt64)
    /// A scalar or a pointer that cannot point into the BPF stack (context, map value, helper result).
    case unknown
    /// A pointer into read-only data `data` of the image (a frozen `.rodata` map's value), at
    /// `offset` bytes (`nil`: somewhere in it). Never NULL, never into the stack.
    case readOnly(data: Int, offset: Int64?)
    /// A pointer into the stack of call frame `frame`, at `offset` from its frame pointer (`nil`:
    /// somewhere in it).
    case stack(frame: Int, offset: Int64?)
    /// Anything, possibly a stack pointer: a store through it may change any stack slot.
    case top

    /// The least value holding both (constants that differ become `unknown`).
    public func joined(with other: BPFAbstractValue) -> BPFAbstractValue {
        if self == other { return self }
        switch (self, other) {
        case (.constant, .constant), (.constant, .unknown), (.unknown, .constant): return .unknown
        case let (.readOnly(d, _), .readOnly(e, _)) where d == e: return .readOnly(data: d, offset: nil)
        case (.readOnly, .readOnly), (.readOnly, .constant), (.readOnly, .unknown), (.constant, .readOnly), (.unknown, .readOnly):
            return .unknown
        case let (.stack(f, _), .stack(g, _)) where f == g: return .stack(frame: f, offset: nil)
        default: return .top
        }
    }

    /// Whether every value `other` may hold, this may hold too.
    public func subsumes(_ other: BPFAbstractValue) -> Bool {
        if self == other { return true }
        switch (self, other) {
        case (.top, _): return true
        case (.unknown, .constant), (.unknown, .readOnly): return true
        case let (.readOnly(d, nil), .readOnly(e, _)): return d == e
        case let (.stack(f, nil), .stack(g, _)): return f == g
        default: return false
        }
    }

    public var constant: UInt64? { if case .constant(let value) = self { value } else { nil } }
}

/// A stack slot written by a store of `size` bytes (a spill, or a constant kept in a variable).
public struct BPFStackSlot: Sendable, Hashable {
    public var size: Int
    public var value: BPFAbstractValue
}

/// One call frame: registers R0-R10 and the slots written to its stack, by offset from R10.
/// A slot absent from `stack` holds anything (`top`).
public struct BPFFrame: Sendable, Hashable {
    public var registers: [BPFAbstractValue]
    public var stack: [Int64: BPFStackSlot] = [:]
    /// Global index of the instruction after the call that made this frame (`nil` for the entry).
    public var returnTo: Int?

    public init(depth: Int, returnTo: Int?) {
        registers = Array(repeating: .unknown, count: 11)
        registers[10] = .stack(frame: depth, offset: 0)
        self.returnTo = returnTo
    }

    /// Forgets the slots a write of unknown size at `offset` (or anywhere, `nil`) may change.
    mutating func clobber(from offset: Int64?) {
        guard let offset else { stack.removeAll(); return }
        stack = stack.filter { $0.key + Int64($0.value.size) <= offset }
    }

    /// Forgets the slots overlapping bytes `offset ..< offset + size`.
    mutating func clobber(_ offset: Int64, size: Int) {
        stack = stack.filter { $0.key + Int64($0.value.size) <= offset || $0.key >= offset + Int64(size) }
    }
}

/// The abstract machine state on one path: the call frames, innermost last.
public struct BPFAbstractState: Sendable, Hashable {
    public var frames: [BPFFrame]

    public init(entryArguments: BPFAbstractValue = .unknown) {
        var frame = BPFFrame(depth: 0, returnTo: nil)
        for r in 1 ... 5 { frame.registers[r] = entryArguments }
        frames = [frame]
    }

    /// The return addresses of the frames: states are joined only within the same call chain.
    public var callChain: [Int] { frames.compactMap(\.returnTo) }

    public subscript(register r: UInt8) -> BPFAbstractValue {
        get { frames[frames.count - 1].registers[Int(r)] }
        set { frames[frames.count - 1].registers[Int(r)] = newValue }
    }

    /// Whether every concrete state `other` stands for, this stands for too (same call chain).
    public func subsumes(_ other: BPFAbstractState) -> Bool {
        guard frames.count == other.frames.count else { return false }
        for (a, b) in zip(frames, other.frames) {
            guard a.returnTo == b.returnTo else { return false }
            for r in 0 ..< 11 where !a.registers[r].subsumes(b.registers[r]) { return false }
            for (offset, slot) in a.stack {
                guard let theirs = b.stack[offset], theirs.size == slot.size, slot.value.subsumes(theirs.value) else { return false }
            }
        }
        return true
    }

    /// The least state holding both (same call chain): registers joined, only slots both know kept.
    public func joined(with other: BPFAbstractState) -> BPFAbstractState {
        var result = self
        for f in frames.indices {
            for r in 0 ..< 11 { result.frames[f].registers[r] = frames[f].registers[r].joined(with: other.frames[f].registers[r]) }
            var stack: [Int64: BPFStackSlot] = [:]
            for (offset, slot) in frames[f].stack {
                if let theirs = other.frames[f].stack[offset], theirs.size == slot.size {
                    stack[offset] = BPFStackSlot(size: slot.size, value: slot.value.joined(with: theirs.value))
                }
            }
            result.frames[f].stack = stack
        }
        return result
    }
}
