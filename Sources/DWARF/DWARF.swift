import BTF

/// The type information of an object's DWARF (`.debug_info`, `.debug_abbrev`, `.debug_str`,
/// `.debug_str_offsets`; DWARF 4 and 5, 32- and 64-bit, as clang writes them for `-target bpf
/// -g`), parsed with bounds checks, and turned into BTF on request so that code reading BTF
/// (the event decoder) reads a type that only DWARF describes.
///
/// Only types are kept: base types, structs, unions, members (bitfields included), arrays,
/// enums, typedefs, qualifiers and pointers. Relocations are not applied: clang's BPF objects
/// use REL relocations against section symbols, whose addends sit in place.
public struct DWARFTypes: Sendable {
    /// One debugging information entry, with the attributes type conversion needs.
    struct Entry: Sendable {
        var tag: UInt64
        var name: String?
        var byteSize: UInt64?
        var type: Int?               // the referenced entry's offset in .debug_info
        var memberLocation: UInt64?
        var bitSize: UInt64?
        var dataBitOffset: UInt64?
        var bitOffset: UInt64?       // DWARF 2/3 style, counted from the storage unit's high bit
        var count: UInt64?
        var upperBound: Int64?
        var encoding: UInt64?
        var constValue: Int64?
        var isDeclaration = false
        var children: [Int] = []     // offsets of child entries
    }

    /// Entries by their offset in `.debug_info`.
    let entries: [Int: Entry]
    /// Named struct, union, enum and typedef entries in file order (the names `--event-type` may give).
    let named: [(name: String, offset: Int)]
    /// The file, for messages.
    public let file: String?

    /// Whether the object has DWARF at all.
    public static func hasDebugInfo(_ elf: ELFFile) -> Bool { elf.section(named: ".debug_info") != nil }

    /// Parses every compilation unit of `elf`'s `.debug_info`.
    public init(elf: ELFFile) throws(BTFError) {
        file = elf.file
        guard let infoSection = elf.section(named: ".debug_info"), let abbrevSection = elf.section(named: ".debug_abbrev") else {
            throw BTFError("no DWARF (.debug_info and .debug_abbrev): compile with -g", file: elf.file)
        }
        let info = try elf.contents(of: infoSection)
        let abbrev = try elf.contents(of: abbrevSection)
        let strings = try elf.section(named: ".debug_str").map { s throws(BTFError) in try elf.contents(of: s) } ?? []
        let stringOffsets = try elf.section(named: ".debug_str_offsets").map { s throws(BTFError) in try elf.contents(of: s) } ?? []
        let lineStrings = try elf.section(named: ".debug_line_str").map { s throws(BTFError) in try elf.contents(of: s) } ?? []
        var parser = DWARFParser(info: ByteReader(info, byteOrder: elf.byteOrder), abbrev: ByteReader(abbrev, byteOrder: elf.byteOrder),
                                 strings: ByteReader(strings, byteOrder: elf.byteOrder),
                                 stringOffsets: ByteReader(stringOffsets, byteOrder: elf.byteOrder),
                                 lineStrings: ByteReader(lineStrings, byteOrder: elf.byteOrder), file: elf.file)
        try parser.parseUnits()
        entries = parser.entries
        named = parser.named
    }

    /// The names of the structs and unions DWARF describes, sorted (for messages).
    public var structNames: [String] {
        Array(Set(named.filter { [DW.tagStructure, DW.tagUnion].contains(entries[$0.offset]?.tag) }.map(\.name))).sorted()
    }

    /// A BTF holding the struct, union, enum or typedef named `name` and every type it is made of
    /// (pointers become `void *`: they are printed, never followed), or `nil` when DWARF has no
    /// complete type of that name. A struct or union wins over a typedef of the same name.
    public func btf(forTypeNamed name: String) throws(BTFError) -> BTF? {
        let candidates = named.filter { $0.name == name }.compactMap { item -> (Int, Entry)? in
            guard let entry = entries[item.offset], !entry.isDeclaration else { return nil }
            return (item.offset, entry)
        }
        guard let chosen = candidates.first(where: { [DW.tagStructure, DW.tagUnion].contains($0.1.tag) }) ?? candidates.first else { return nil }
        var converter = BTFConversion(entries: entries, file: file)
        try converter.convert(chosen.0)
        return converter.builder.build()
    }
}

/// DWARF constants (the DW_TAG_, DW_AT_, DW_FORM_, DW_ATE_ values of the DWARF 5 standard).
enum DW {
    static let tagArray: UInt64 = 0x01, tagEnumeration: UInt64 = 0x04, tagMember: UInt64 = 0x0d
    static let tagPointer: UInt64 = 0x0f, tagStructure: UInt64 = 0x13, tagSubroutine: UInt64 = 0x15
    static let tagTypedef: UInt64 = 0x16, tagUnion: UInt64 = 0x17, tagSubrange: UInt64 = 0x21
    static let tagBase: UInt64 = 0x24, tagConst: UInt64 = 0x26, tagEnumerator: UInt64 = 0x28
    static let tagVolatile: UInt64 = 0x35, tagRestrict: UInt64 = 0x37, tagAtomic: UInt64 = 0x47

    static let atName: UInt64 = 0x03, atByteSize: UInt64 = 0x0b, atBitOffset: UInt64 = 0x0c, atBitSize: UInt64 = 0x0d
    static let atConstValue: UInt64 = 0x1c, atUpperBound: UInt64 = 0x2f, atCount: UInt64 = 0x37
    static let atMemberLocation: UInt64 = 0x38, atDeclaration: UInt64 = 0x3c, atEncoding: UInt64 = 0x3e
    static let atType: UInt64 = 0x49, atDataBitOffset: UInt64 = 0x6b, atStrOffsetsBase: UInt64 = 0x72

    static let ateBoolean: UInt64 = 0x02, ateFloat: UInt64 = 0x04, ateSigned: UInt64 = 0x05
    static let ateSignedChar: UInt64 = 0x06, ateUnsigned: UInt64 = 0x07, ateUnsignedChar: UInt64 = 0x08
}
