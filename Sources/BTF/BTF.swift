/// A parsed BTF blob: the type section as host-order 32-bit words with an index of where each type
/// starts, and the string table as raw bytes.
///
/// Types are read through small views (`type(_:)`, `member(of:at:)` ...) so that parsing a 44 MB
/// kernel allocates three arrays, not one object per type. Names stay bytes until asked for.
public struct BTF: Sendable {
    /// The byte order the BTF was read in; the writer uses it by default.
    public var byteOrder: ByteOrder
    /// The header as read (or as it will be written): version, flags, header length.
    public var header: BTFHeader
    /// The type section in host byte order.
    public internal(set) var words: [UInt32]
    /// `typeStarts[id]` is the index in `words` where type `id` starts; entry 0 (void) is unused.
    public internal(set) var typeStarts: [UInt32]
    /// The string table, starting with the empty string at offset 0.
    public internal(set) var strings: [UInt8]
    /// The kind-layout section of a 32-byte header, as `BTFKindLayout` entries; empty if absent.
    /// For split BTF, the split file's own section (the base's stays with the base).
    public internal(set) var kindLayouts: [BTFKindLayout]
    /// Set when this is split BTF (a module's `.BTF`, split against vmlinux): `words`, `typeStarts`
    /// and `strings` then hold the base's part followed by the split part, so that type ids and
    /// string offsets continue the base's exactly as in the file (libbpf's `start_id`,
    /// `start_str_off`), and every accessor works on both parts alike.
    public internal(set) var split: SplitBase?

    /// The number of type ids including `void` (and, for split BTF, the base's); valid ids are
    /// `0 ..< typeCount`.
    @inlinable public var typeCount: Int { typeStarts.count }
    /// All non-void type ids (for split BTF, the base's too).
    public var typeIDs: LazyMapSequence<Range<UInt32>, TypeID> { (1 ..< UInt32(typeStarts.count)).lazy.map { TypeID($0) } }
    /// The first id this BTF's own type section defines: 1, or for split BTF the base's type count.
    public var firstOwnTypeID: TypeID { TypeID(UInt32(split?.typeCount ?? 1)) }
    /// The ids this BTF's own type section defines (what `bpftool btf dump file F -B BASE` prints).
    public var ownTypeIDs: LazyMapSequence<Range<UInt32>, TypeID> {
        (firstOwnTypeID.rawValue ..< UInt32(typeStarts.count)).lazy.map { TypeID($0) }
    }

    public func contains(_ id: TypeID) -> Bool { id.index < typeStarts.count }

    /// The kind layout that sizes unknown kinds here: the own section, else (split BTF) the base's.
    public var effectiveKindLayouts: [BTFKindLayout] { kindLayouts.isEmpty ? split?.kindLayouts ?? [] : kindLayouts }

    /// The number of words of the record of `id` (3 for the common part plus the kind's own words),
    /// known for every kind, those BTFKit does not know included (their size came from the layout).
    @inlinable
    public func recordWordCount(_ id: TypeID) -> Int {
        let end = id.index + 1 < typeStarts.count ? Int(typeStarts[id.index + 1]) : words.count
        return end - Int(typeStarts[id.index])
    }
}

/// Where the base's part ends in a split `BTF` (see `BTF.split`).
public struct SplitBase: Sendable, Equatable {
    /// The base's type count including void: the split part's first id (libbpf's `start_id`).
    public var typeCount: Int
    /// The base's words in `BTF.words`.
    public var wordCount: Int
    /// The base's string table length: the split part's first string offset (`start_str_off`).
    public var stringLength: Int
    /// The base's kind layout, which split BTF without its own falls back to (as libbpf does).
    public var kindLayouts: [BTFKindLayout]
}

/// `btf_type.info` as libbpf master reads it (`include/uapi/linux/btf.h`, 2026): vlen in bits 0-23
/// (`BTF_INFO_VLEN`), kind in bits 24-30 (`BTF_INFO_KIND`), kind_flag in bit 31. Older BTF uses the
/// same bits: its 16-bit vlen and 5-bit kind simply left bits 16-23 and 29-30 zero.
public enum BTFInfo {
    /// `BTF_MAX_VLEN`.
    public static let maxVlen = 0xff_ffff
    @inlinable public static func kindNumber(_ info: UInt32) -> UInt8 { UInt8(truncatingIfNeeded: info >> 24 & 0x7f) }
    @inlinable public static func kind(_ info: UInt32) -> BTFKind { BTFKind(number: kindNumber(info)) }
    @inlinable public static func vlen(_ info: UInt32) -> Int { Int(info & 0xff_ffff) }
    @inlinable public static func kindFlag(_ info: UInt32) -> Bool { info >> 31 != 0 }
    /// The info word of `kind` number `kindNumber`, `vlen` entries (truncated to 24 bits) and `kindFlag`.
    public static func make(kindNumber: UInt8, vlen: Int, kindFlag: Bool) -> UInt32 {
        UInt32(kindNumber & 0x7f) << 24 | UInt32(truncatingIfNeeded: vlen) & 0xff_ffff | (kindFlag ? 1 << 31 : 0)
    }
}

/// A `btf_kind_layout` entry of the kind-layout section: how big a kind's record and elements are,
/// so that tools can skip kinds they do not know.
public struct BTFKindLayout: Sendable, Equatable {
    public var infoSize: UInt8
    public var elementSize: UInt8
    public var flags: UInt16
    public init(infoSize: UInt8, elementSize: UInt8, flags: UInt16) {
        self.infoSize = infoSize; self.elementSize = elementSize; self.flags = flags
    }
}

/// The fixed part of a BTF header (`struct btf_header`). Section offsets are computed by the writer.
public struct BTFHeader: Sendable, Equatable {
    public static let magic: UInt16 = 0xEB9F
    public var version: UInt8 = 1
    public var flags: UInt8 = 0
    /// 24 for the classic header, 32 for a header that also locates a kind-layout section.
    public var headerLength: UInt32 = 24
    /// Where the writer puts a kind-layout section: as read, so that a file is written back byte
    /// for byte; libbpf master's place (between types and strings) for new BTF.
    public var kindLayoutPlacement: KindLayoutPlacement = .beforeStrings
    public init(version: UInt8 = 1, flags: UInt8 = 0, headerLength: UInt32 = 24,
                kindLayoutPlacement: KindLayoutPlacement = .beforeStrings) {
        self.version = version; self.flags = flags; self.headerLength = headerLength
        self.kindLayoutPlacement = kindLayoutPlacement
    }
}

/// Where the kind-layout section lies in a raw BTF file.
public enum KindLayoutPlacement: Sendable, Equatable {
    /// Right after the type section, before the strings (libbpf master).
    case beforeStrings
    /// After the strings, `padding` zero bytes later (earlier drafts of the format).
    case afterStrings(padding: Int)
}

// MARK: - Type views

/// A read-only view of one type's common record. Kind-specific data is read through `BTF`.
public struct BTFType: Sendable {
    public let id: TypeID
    public let kind: BTFKind
    public let nameOffset: StringOffset
    public let info: UInt32
    /// `btf_type.size` (INT, ENUM, STRUCT, UNION, DATASEC, FLOAT, ENUM64) or `btf_type.type`.
    public let sizeOrType: UInt32
    /// Index of the first word of the record in `BTF.words`.
    @usableFromInline let start: Int

    @usableFromInline
    init(id: TypeID, kind: BTFKind, nameOffset: StringOffset, info: UInt32, sizeOrType: UInt32, start: Int) {
        self.id = id; self.kind = kind; self.nameOffset = nameOffset; self.info = info; self.sizeOrType = sizeOrType; self.start = start
    }

    @inlinable public var vlen: Int { BTFInfo.vlen(info) }
    @inlinable public var kindFlag: Bool { info >> 31 != 0 }
    /// The kind number as stored (for an `unknown` kind, the number BTFKit does not know).
    @inlinable public var kindNumber: UInt8 { BTFInfo.kindNumber(info) }
    @inlinable public var size: UInt32 { sizeOrType }
    @inlinable public var referencedType: TypeID { TypeID(sizeOrType) }
    @inlinable public var isAnonymous: Bool { nameOffset.isEmpty }
}

/// A struct or union member (`btf_member`).
public struct BTFMember: Sendable, Equatable {
    public var nameOffset: StringOffset
    public var type: TypeID
    /// The raw `offset` word: with kind_flag set it packs bitfield size (bits 24-31) and bit offset.
    public var rawOffset: UInt32
    public var kindFlag: Bool

    @usableFromInline
    init(nameOffset: StringOffset, type: TypeID, rawOffset: UInt32, kindFlag: Bool) {
        self.nameOffset = nameOffset; self.type = type; self.rawOffset = rawOffset; self.kindFlag = kindFlag
    }

    @inlinable public var bitOffset: UInt32 { kindFlag ? rawOffset & 0xffffff : rawOffset }
    @inlinable public var bitfieldSize: UInt32 { kindFlag ? rawOffset >> 24 : 0 }
}

/// An enumerator of an ENUM or ENUM64 type. `value` holds the raw bits; signedness is the kind_flag.
public struct BTFEnumerator: Sendable, Equatable {
    public var nameOffset: StringOffset
    public var value: UInt64
}

/// A FUNC_PROTO parameter (`btf_param`).
public struct BTFParameter: Sendable, Equatable {
    public var nameOffset: StringOffset
    public var type: TypeID
}

/// A DATASEC entry (`btf_var_secinfo`).
public struct BTFSectionVariable: Sendable, Equatable {
    public var type: TypeID
    public var offset: UInt32
    public var size: UInt32
}

/// An ARRAY's `btf_array`.
public struct BTFArray: Sendable, Equatable {
    public var elementType: TypeID
    public var indexType: TypeID
    public var count: UInt32

    @usableFromInline
    init(elementType: TypeID, indexType: TypeID, count: UInt32) {
        self.elementType = elementType; self.indexType = indexType; self.count = count
    }
}

extension BTF {
    /// The common record of `id`. `id` must be a valid non-void id of this BTF.
    @inlinable
    public func type(_ id: TypeID) -> BTFType {
        let start = Int(typeStarts[id.index])
        let info = words[start + 1]
        return BTFType(id: id, kind: BTFInfo.kind(info),
                       nameOffset: StringOffset(words[start]), info: info,
                       sizeOrType: words[start + 2], start: start)
    }

    /// The kind of `id`, or `nil` for `void`.
    @inlinable
    public func kind(_ id: TypeID) -> BTFKind? {
        id.rawValue == 0 ? nil : BTFInfo.kind(words[Int(typeStarts[id.index]) + 1])
    }

    /// A copy of the full record of `id`, for rewriting.
    public func record(_ id: TypeID) -> TypeRecord {
        let t = type(id)
        let extraCount = recordWordCount(id) - 3
        return TypeRecord(nameOffset: t.nameOffset, info: t.info, sizeOrType: t.sizeOrType,
                          extra: Array(words[t.start + 3 ..< t.start + 3 + extraCount]))
    }

    /// The INT type's encoding word: encoding bits, bit offset and bit count.
    public func intInfo(_ t: BTFType) -> (encoding: IntEncoding, offset: UInt32, bits: UInt32) {
        let w = words[t.start + 3]
        return (IntEncoding(rawValue: UInt8(w >> 24 & 0x0f)), w >> 16 & 0xff, w & 0xff)
    }

    @inlinable
    public func array(_ t: BTFType) -> BTFArray {
        BTFArray(elementType: TypeID(words[t.start + 3]), indexType: TypeID(words[t.start + 4]),
                 count: words[t.start + 5])
    }

    @inlinable
    public func member(of t: BTFType, at i: Int) -> BTFMember {
        let base = t.start + 3 + 3 * i
        return BTFMember(nameOffset: StringOffset(words[base]), type: TypeID(words[base + 1]),
                         rawOffset: words[base + 2], kindFlag: t.kindFlag)
    }

    public func members(of t: BTFType) -> [BTFMember] { (0 ..< t.vlen).map { member(of: t, at: $0) } }

    /// The i-th enumerator of an ENUM (value sign-extended when kind_flag says signed) or ENUM64.
    public func enumerator(of t: BTFType, at i: Int) -> BTFEnumerator {
        if t.kind == .enum64 {
            let base = t.start + 3 + 3 * i
            return BTFEnumerator(nameOffset: StringOffset(words[base]),
                                 value: UInt64(words[base + 2]) << 32 | UInt64(words[base + 1]))
        }
        let base = t.start + 3 + 2 * i
        let raw = words[base + 1]
        let value = t.kindFlag ? UInt64(bitPattern: Int64(Int32(bitPattern: raw))) : UInt64(raw)
        return BTFEnumerator(nameOffset: StringOffset(words[base]), value: value)
    }

    public func enumerators(of t: BTFType) -> [BTFEnumerator] { (0 ..< t.vlen).map { enumerator(of: t, at: $0) } }

    public func parameter(of t: BTFType, at i: Int) -> BTFParameter {
        let base = t.start + 3 + 2 * i
        return BTFParameter(nameOffset: StringOffset(words[base]), type: TypeID(words[base + 1]))
    }

    public func parameters(of t: BTFType) -> [BTFParameter] { (0 ..< t.vlen).map { parameter(of: t, at: $0) } }

    /// VAR linkage (0 static, 1 global, 2 extern).
    public func variableLinkage(_ t: BTFType) -> UInt32 { words[t.start + 3] }

    public func sectionVariable(of t: BTFType, at i: Int) -> BTFSectionVariable {
        let base = t.start + 3 + 3 * i
        return BTFSectionVariable(type: TypeID(words[base]), offset: words[base + 1], size: words[base + 2])
    }

    /// DECL_TAG `component_idx`: -1 for the whole declaration, else a member or parameter index.
    public func declTagComponent(_ t: BTFType) -> Int32 { Int32(bitPattern: words[t.start + 3]) }
}

// MARK: - Strings

extension BTF {
    /// The bytes of the NUL-terminated string at `offset`, without the NUL. Offsets are validated at
    /// parse time; an out-of-range offset (possible only in a hand-built BTF) yields an empty string.
    @inline(__always)
    public func nameBytes(_ offset: StringOffset) -> ArraySlice<UInt8> {
        let start = Int(offset.rawValue)
        guard start < strings.count else { return [] }
        var end = start
        while end < strings.count && strings[end] != 0 { end += 1 }
        return strings[start ..< end]
    }

    /// The string at `offset` as a Swift `String` (for printing; hot paths compare bytes).
    public func string(_ offset: StringOffset) -> String {
        String(decoding: nameBytes(offset), as: UTF8.self)
    }

    /// The name of type `id` (empty for anonymous types and `void`).
    public func name(_ id: TypeID) -> String {
        id.rawValue == 0 ? "" : string(type(id).nameOffset)
    }
}

// MARK: - Kernel plus modules

extension BTF {
    /// One BTF holding vmlinux and several modules' types, as libbpf sees them when it loads against
    /// the running kernel with modules: the base's ids first, then each module's own types in turn
    /// (the second module's ids and string offsets shifted past the first's). `split` still marks
    /// where vmlinux ends, which is what `bpf_core_find_cands` needs (vmlinux candidates first).
    /// Each module must be split BTF read against the same base. A module holding a kind BTFKit does
    /// not know cannot be shifted and is refused (only the first module is taken as it is).
    public static func combining(modules: [BTF]) throws(BTFError) -> BTF {
        guard var combined = modules.first, let boundary = combined.split else {
            throw BTFError("combining modules needs at least one split BTF read against its base")
        }
        for (index, module) in modules.enumerated().dropFirst() {
            guard let split = module.split, split.typeCount == boundary.typeCount, split.stringLength == boundary.stringLength,
                  module.words[..<split.wordCount].elementsEqual(combined.words[..<boundary.wordCount]) else {
                throw BTFError("module #\(index + 1) is not split BTF against the same base as the first module")
            }
            let idShift = UInt32(combined.typeCount - boundary.typeCount)
            let stringShift = UInt32(combined.strings.count - boundary.stringLength)
            let baseStrings = UInt32(boundary.stringLength), baseTypes = UInt32(boundary.typeCount)
            for id in module.ownTypeIDs {
                var record = module.record(id)
                guard record.kind != .unknown else {
                    throw BTFError("module #\(index + 1): kind \(module.type(id).kindNumber) is unknown to BTFKit, "
                                   + "so its type ids cannot be renumbered", typeID: id)
                }
                record.forEachTypeIDSlot { if $0.rawValue >= baseTypes { $0 = TypeID($0.rawValue + idShift) } }
                record.forEachStringSlot { if $0.rawValue >= baseStrings { $0 = StringOffset($0.rawValue + stringShift) } }
                combined.typeStarts.append(UInt32(combined.words.count))
                combined.words += [record.nameOffset.rawValue, record.info, record.sizeOrType]
                combined.words += record.extra
            }
            combined.strings += module.strings[boundary.stringLength...]
        }
        return combined
    }
}
