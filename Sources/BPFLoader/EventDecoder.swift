import BTF

/// A decoded event field.
public indirect enum EventValue: Sendable, Equatable {
    /// A signed integer (or a `char`/`bool` read as a number).
    case signed(Int64)
    /// An unsigned integer.
    case unsigned(UInt64)
    /// A float or double.
    case floating(Double)
    /// A `char` array up to its first NUL, as UTF-8 (invalid bytes replaced).
    case string(String)
    /// An enumerator's name, or its number when no enumerator has that value.
    case enumerator(name: String?, value: Int64)
    /// A pointer value (an address in the kernel: printed, never followed).
    case pointer(UInt64)
    /// Any other array.
    case array([EventValue])
    /// A struct or union, member by member (anonymous members' fields are inlined).
    case fields([(String, EventValue)])
    /// Bytes of a type that has no field-wise meaning here (or that the record cuts short).
    case bytes([UInt8])

    public static func == (a: EventValue, b: EventValue) -> Bool {
        switch (a, b) {
        case let (.signed(x), .signed(y)): x == y
        case let (.unsigned(x), .unsigned(y)): x == y
        case let (.floating(x), .floating(y)): x == y
        case let (.string(x), .string(y)): x == y
        case let (.enumerator(n1, v1), .enumerator(n2, v2)): n1 == n2 && v1 == v2
        case let (.pointer(x), .pointer(y)): x == y
        case let (.array(x), .array(y)): x == y
        case let (.fields(x), .fields(y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case let (.bytes(x), .bytes(y)): x == y
        default: false
        }
    }
}

/// Decodes event records field by field with a struct type from the BPF object's own BTF, the way
/// the program laid them out (the object's BTF is the compiler's view of the record).
public struct EventDecoder: Sendable {
    /// The BTF the type comes from.
    public let btf: BTF
    /// The struct (or union) the records are.
    public let eventType: TypeID
    /// Its size in bytes.
    public private(set) var size: Int
    /// Nesting deeper than this is printed as bytes (a guard against malformed BTF loops).
    static let maxDepth = 32

    /// The decoder for the struct or union named `typeName` in `btf` (a typedef of one is followed).
    /// `objectName` names the object in the error when there is no such type.
    public init(btf: BTF, typeName: String, objectName: String) throws(BPFLoaderError) {
        self.btf = btf
        var found: TypeID?
        for id in btf.typeIDs where btf.name(id) == typeName {
            let resolved = EventDecoder.skipModifiers(id, in: btf, followTypedefs: true)
            if let kind = btf.kind(resolved), kind == .structure || kind == .union {
                found = resolved
                if btf.kind(id) != .typedef { break }  // a struct of that name wins over a typedef of that name
            }
        }
        guard let found else {
            let structs = btf.typeIDs.filter { btf.kind($0) == .structure && !btf.type($0).isAnonymous }.map { btf.name($0) }
            throw BPFLoaderError("\(objectName): no struct or union named '\(typeName)' in the object's BTF"
                                 + (structs.isEmpty ? " (it has none)" : " (it has: \(structs.sorted().joined(separator: ", ")))"))
        }
        eventType = found
        size = Int(btf.type(found).size)
    }

    /// The decoder for any type of `btf` (a map's key or value type): integers, enums, arrays,
    /// structs, unions and what qualifies them.
    public init(btf: BTF, typeID: TypeID) {
        self.btf = btf
        eventType = typeID
        size = 0
        size = self.size(of: typeID) ?? 0
    }

    /// The type with typedefs and qualifiers followed (what `EventDecoder(btf:typeName:)` keeps as `eventType`).
    public var resolvedType: TypeID { EventDecoder.skipModifiers(eventType, in: btf, followTypedefs: true) }

    /// Follows const/volatile/restrict/type tags (and typedefs when asked) to the type they qualify.
    static func skipModifiers(_ start: TypeID, in btf: BTF, followTypedefs: Bool) -> TypeID {
        var id = start
        for _ in 0 ..< maxDepth {
            guard let kind = btf.kind(id) else { return id }
            switch kind {
            case .const, .volatile, .restrict, .typeTag: id = btf.type(id).referencedType
            case .typedef where followTypedefs: id = btf.type(id).referencedType
            default: return id
            }
        }
        return id
    }

    /// The record decoded; fields past the end of a short record are left out.
    public func decode(_ record: UnsafeRawBufferPointer) -> EventValue {
        decode(Array(record))
    }

    /// The record decoded; fields past the end of a short record are left out.
    public func decode(_ record: [UInt8]) -> EventValue {
        value(of: eventType, at: 0, in: record[...], depth: 0)
    }

    private func size(of id: TypeID, depth: Int = 0) -> Int? {
        let resolved = EventDecoder.skipModifiers(id, in: btf, followTypedefs: true)
        guard let kind = btf.kind(resolved), depth < EventDecoder.maxDepth else { return nil }
        let t = btf.type(resolved)
        switch kind {
        case .int, .structure, .union, .enumeration, .enum64, .float, .dataSection: return Int(t.size)
        case .pointer: return 8
        case .array:
            let array = btf.array(t)
            return size(of: array.elementType, depth: depth + 1).map { $0 * Int(array.count) }
        default: return nil
        }
    }

    private func load(_ bytes: ArraySlice<UInt8>, byteCount: Int) -> UInt64 {
        var value: UInt64 = 0
        let slice = bytes.prefix(byteCount)
        switch btf.byteOrder {
        case .little: for (i, byte) in slice.enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        case .big: for byte in slice { value = value << 8 | UInt64(byte) }
        }
        return value
    }

    /// `trailing`: the record's last member, which may be held only in part (a variable-length
    /// record such as execsnoop's `args`): then an array is decoded from the bytes present, and a
    /// char array's NUL-separated strings are joined with spaces (a full-size char array stops at
    /// its first NUL: what follows may be stale bytes of a reused buffer).
    private func value(of id: TypeID, at offset: Int, in record: ArraySlice<UInt8>, depth: Int, trailing: Bool = false) -> EventValue {
        let resolved = EventDecoder.skipModifiers(id, in: btf, followTypedefs: true)
        let base = record.startIndex + offset
        guard let kind = btf.kind(resolved), depth < EventDecoder.maxDepth, var byteCount = size(of: resolved) else {
            return .bytes(Array(record[min(base, record.endIndex)...]))
        }
        let t = btf.type(resolved)
        if kind == .structure || kind == .union {
            return .fields(fields(of: t, at: offset, in: record, depth: depth))  // a short record: the members it holds
        }
        // Held in part: the sender cut the record after the bytes that mean something.
        let partial = trailing && kind == .array && base < record.endIndex && base + byteCount > record.endIndex
        if partial { byteCount = record.endIndex - base }
        guard base + byteCount <= record.endIndex else { return .bytes(Array(record[min(base, record.endIndex)...])) }
        let bytes = record[base ..< base + byteCount]
        switch kind {
        case .int:
            let info = btf.intInfo(t)
            let raw = load(bytes, byteCount: byteCount)
            return integer(raw, bits: byteCount * 8, signed: info.encoding.contains(.signed), isBool: info.encoding.contains(.bool))
        case .enumeration, .enum64:
            let raw = load(bytes, byteCount: byteCount)
            let signed = t.kindFlag
            let number = signed ? signExtend(raw, bits: byteCount * 8) : Int64(bitPattern: raw)
            let name = btf.enumerators(of: t).first { $0.value == UInt64(bitPattern: number) || $0.value == raw }.map { btf.string($0.nameOffset) }
            return .enumerator(name: name, value: number)
        case .float:
            let raw = load(bytes, byteCount: byteCount)
            switch byteCount {
            case 4: return .floating(Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw))))
            case 8: return .floating(Double(bitPattern: raw))
            default: return .bytes(Array(bytes))
            }
        case .pointer:
            return .pointer(load(bytes, byteCount: 8))
        case .array:
            let array = btf.array(t)
            let element = EventDecoder.skipModifiers(array.elementType, in: btf, followTypedefs: true)
            // Written as char (not through a typedef such as __u8): a string.
            let written = EventDecoder.skipModifiers(array.elementType, in: btf, followTypedefs: false)
            if btf.kind(written) == .int, btf.type(written).size == 1, isCharacter(written) {
                guard partial else { return .string(String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)) }
                // Strings one after another (an argument list): up to the first empty one.
                let strings = bytes.split(separator: 0, omittingEmptySubsequences: false).prefix { !$0.isEmpty }
                return .string(strings.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " "))
            }
            guard let elementSize = size(of: element), elementSize > 0 else { return .bytes(Array(bytes)) }
            return .array((0 ..< min(Int(array.count), byteCount / elementSize)).map { index in
                value(of: element, at: offset + index * elementSize, in: record, depth: depth + 1)
            })
        default:
            return .bytes(Array(bytes))
        }
    }

    /// Whether the INT `id` is plain `char` (by name, or BTF_INT_CHAR): text. `signed char` and
    /// `unsigned char` arrays are usually bytes (addresses, hashes) and stay numbers.
    private func isCharacter(_ id: TypeID) -> Bool {
        btf.intInfo(btf.type(id)).encoding.contains(.char) || btf.name(id) == "char"
    }

    private func fields(of t: BTFType, at offset: Int, in record: ArraySlice<UInt8>, depth: Int) -> [(String, EventValue)] {
        var result: [(String, EventValue)] = []
        let members = btf.members(of: t)
        for member in members {
            let name = btf.string(member.nameOffset)
            let bitOffset = Int(member.bitOffset)
            if member.bitfieldSize > 0 || bitOffset % 8 != 0 {
                // A bitfield: load the bytes covering it, then shift and mask (little-endian layout).
                let bits = member.bitfieldSize > 0 ? Int(member.bitfieldSize) : 1
                let first = offset + bitOffset / 8
                let last = offset + (bitOffset + bits - 1) / 8
                guard record.startIndex + last < record.endIndex, bits <= 64 else { continue }
                var raw: UInt64 = 0
                for (i, index) in (first ... last).enumerated() { raw |= UInt64(record[record.startIndex + index]) << (8 * UInt64(i)) }
                raw >>= UInt64(bitOffset % 8)
                if bits < 64 { raw &= (1 << UInt64(bits)) - 1 }
                let memberType = EventDecoder.skipModifiers(member.type, in: btf, followTypedefs: true)
                let signed = btf.kind(memberType) == .int && btf.intInfo(btf.type(memberType)).encoding.contains(.signed)
                result.append((name, integer(raw, bits: bits, signed: signed, isBool: false)))
                continue
            }
            let memberOffset = offset + bitOffset / 8
            // The top-level struct's last member: a trailing array may be held in part.
            let trailing = depth == 0 && member == members.last && btf.kind(EventDecoder.skipModifiers(member.type, in: btf, followTypedefs: true)) == .array
            guard let memberSize = size(of: member.type),
                  record.startIndex + memberOffset + (trailing ? 0 : memberSize) <= record.endIndex,
                  !(trailing && record.startIndex + memberOffset >= record.endIndex) else { continue }
            let decoded = value(of: member.type, at: memberOffset, in: record, depth: depth + 1, trailing: trailing)
            if name.isEmpty, case .fields(let inner) = decoded {
                result.append(contentsOf: inner)  // an anonymous struct/union: its members read as the parent's
            } else {
                result.append((name, decoded))
            }
        }
        return result
    }

    private func signExtend(_ raw: UInt64, bits: Int) -> Int64 {
        guard bits > 0 && bits < 64 else { return Int64(bitPattern: raw) }
        let shift = UInt64(64 - bits)
        return Int64(bitPattern: raw << shift) >> Int64(shift)
    }

    private func integer(_ raw: UInt64, bits: Int, signed: Bool, isBool: Bool) -> EventValue {
        if isBool { return .unsigned(raw == 0 ? 0 : 1) }
        return signed ? .signed(signExtend(raw, bits: bits)) : .unsigned(raw)
    }
}
