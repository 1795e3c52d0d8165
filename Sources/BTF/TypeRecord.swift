/// One type record as it is stored on disk: the common `btf_type` words plus the kind's trailing words.
///
/// This is the unit the builder appends and the minimizer rewrites. `forEachTypeIDSlot` and
/// `forEachStringSlot` visit every field that holds a type id or a string offset, for every kind, so
/// remapping after trimming is one loop (libbpf's `btf_field_iter`).
public struct TypeRecord: Sendable, Equatable {
    public var nameOffset: StringOffset
    /// `btf_type.info`: vlen in bits 0-23, kind in bits 24-30, kind_flag in bit 31 (`BTFInfo`).
    public var info: UInt32
    /// `btf_type.size` or `btf_type.type`, depending on the kind.
    public var sizeOrType: UInt32
    /// The kind-specific words that follow (members, enumerators, params, array info ...).
    public var extra: [UInt32]

    public init(nameOffset: StringOffset, info: UInt32, sizeOrType: UInt32, extra: [UInt32] = []) {
        self.nameOffset = nameOffset
        self.info = info
        self.sizeOrType = sizeOrType
        self.extra = extra
    }

    public init(kind: BTFKind, name: StringOffset, vlen: Int = 0, kindFlag: Bool = false,
                sizeOrType: UInt32, extra: [UInt32] = []) {
        self.init(nameOffset: name, info: TypeRecord.makeInfo(kind: kind, vlen: vlen, kindFlag: kindFlag),
                  sizeOrType: sizeOrType, extra: extra)
    }

    public static func makeInfo(kind: BTFKind, vlen: Int, kindFlag: Bool) -> UInt32 {
        BTFInfo.make(kindNumber: kind.rawValue, vlen: vlen, kindFlag: kindFlag)
    }

    /// The kind (`unknown` for a kind number BTFKit does not know).
    public var kind: BTFKind { BTFInfo.kind(info) }
    public var vlen: Int { BTFInfo.vlen(info) }
    public var kindFlag: Bool { info >> 31 != 0 }

    public mutating func setVlen(_ vlen: Int) {
        info = info & ~0xff_ffff | UInt32(truncatingIfNeeded: vlen) & 0xff_ffff
    }

    /// Calls `body` with every type-id field of the record, allowing it to be rewritten.
    /// An `unknown` kind has none that BTFKit can name: renumbering one is refused by the callers.
    public mutating func forEachTypeIDSlot(_ body: (inout TypeID) throws -> Void) rethrows {
        try kind.forEachTypeIDWord(vlen: vlen) { position in
            var id = TypeID(self[word: position])
            try body(&id)
            self[word: position] = id.rawValue
        }
    }

    /// Calls `body` with every string-offset field of the record (the name, member, enumerator
    /// and parameter names), allowing it to be rewritten.
    public mutating func forEachStringSlot(_ body: (inout StringOffset) throws -> Void) rethrows {
        try kind.forEachStringWord(vlen: vlen) { position in
            var offset = StringOffset(self[word: position])
            try body(&offset)
            self[word: position] = offset.rawValue
        }
    }

    /// The record's words as laid out on disk: 0 name, 1 info, 2 size/type, then `extra`.
    subscript(word position: Int) -> UInt32 {
        get {
            switch position {
            case 0: nameOffset.rawValue
            case 1: info
            case 2: sizeOrType
            default: extra[position - 3]
            }
        }
        set {
            switch position {
            case 0: nameOffset = StringOffset(newValue)
            case 1: info = newValue
            case 2: sizeOrType = newValue
            default: extra[position - 3] = newValue
            }
        }
    }
}

extension BTFKind {
    /// Calls `body` with the position (in words from the record start) of every type-id field of a
    /// record of this kind with `vlen` entries. The one place that knows which fields are type ids.
    @inline(__always)
    public func forEachTypeIDWord(vlen: Int, _ body: (Int) throws -> Void) rethrows {
        if thirdWordIsType { try body(2) }
        switch self {
        case .array: try body(3); try body(4)
        case .structure, .union: for i in 0 ..< vlen { try body(3 + 3 * i + 1) }
        case .functionPrototype: for i in 0 ..< vlen { try body(3 + 2 * i + 1) }
        case .dataSection: for i in 0 ..< vlen { try body(3 + 3 * i) }
        default: break
        }
    }

    /// Calls `body` with the position of every string-offset field: the name, and the names of
    /// members, enumerators and parameters.
    @inline(__always)
    public func forEachStringWord(vlen: Int, _ body: (Int) throws -> Void) rethrows {
        try body(0)
        switch self {
        case .structure, .union, .enum64: for i in 0 ..< vlen { try body(3 + 3 * i) }
        case .enumeration, .functionPrototype: for i in 0 ..< vlen { try body(3 + 2 * i) }
        default: break
        }
    }
}
