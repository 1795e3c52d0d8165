import BTF

/// One abbreviation: the tag, whether children follow, and the (attribute, form, implicit value) list.
struct Abbreviation {
    var tag: UInt64
    var hasChildren: Bool
    var attributes: [(attribute: UInt64, form: UInt64, implicit: Int64)]
}

/// An attribute's value as read from its form.
enum AttributeValue {
    case unsigned(UInt64)
    case signed(Int64)
    case string(String)
    case stringIndex(UInt64)     // DW_FORM_strx*: resolved through .debug_str_offsets
    case reference(Int)          // an offset in .debug_info
    case block(ArraySlice<UInt8>)
    case flag(Bool)
    case other
}

extension ByteReader {
    /// An unsigned LEB128 number (bits past 64 dropped), or `nil` past the end.
    mutating func readULEB() -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard let byte = read(UInt8.self) else { return nil }
            if shift < 64 { result |= UInt64(byte & 0x7f) << shift }
            shift += 7
            if byte & 0x80 == 0 { return result }
        }
    }

    /// A signed LEB128 number, or `nil` past the end.
    mutating func readSLEB() -> Int64? {
        var result: Int64 = 0
        var shift: Int64 = 0
        var byte: UInt8 = 0
        repeat {
            guard let next = read(UInt8.self) else { return nil }
            byte = next
            if shift < 64 { result |= Int64(byte & 0x7f) << shift }
            shift += 7
        } while byte & 0x80 != 0
        if shift < 64 && byte & 0x40 != 0 { result |= -(Int64(1) << shift) }
        return result
    }
}

/// Walks `.debug_info` unit by unit, entry by entry, keeping the entries `DWARFTypes` needs.
struct DWARFParser {
    var info: ByteReader
    var abbrev: ByteReader
    let strings: ByteReader
    let stringOffsets: ByteReader
    let lineStrings: ByteReader
    let file: String?
    var entries: [Int: DWARFTypes.Entry] = [:]
    var named: [(name: String, offset: Int)] = []
    private var abbreviationTables: [Int: [UInt64: Abbreviation]] = [:]

    init(info: ByteReader, abbrev: ByteReader, strings: ByteReader, stringOffsets: ByteReader, lineStrings: ByteReader, file: String?) {
        self.info = info
        self.abbrev = abbrev
        self.strings = strings
        self.stringOffsets = stringOffsets
        self.lineStrings = lineStrings
        self.file = file
    }

    func error(_ problem: String, at offset: Int) -> BTFError {
        BTFError(".debug_info: " + problem, offset: offset, file: file)
    }

    mutating func parseUnits() throws(BTFError) {
        info.offset = 0
        while info.remaining > 0 {
            let unitStart = info.offset
            guard var length = info.read(UInt32.self).map(UInt64.init) else { throw error("truncated unit header", at: unitStart) }
            var offsetSize = 4
            if length == 0xffff_ffff {
                guard let long = info.read(UInt64.self) else { throw error("truncated 64-bit unit header", at: unitStart) }
                length = long
                offsetSize = 8
            }
            guard length <= UInt64(info.remaining) else {
                throw error("unit length \(length) runs past the section's end (\(info.remaining) bytes left)", at: unitStart)
            }
            let unitEnd = info.offset + Int(length)
            guard let version = info.read(UInt16.self) else { throw error("truncated unit header", at: unitStart) }
            guard (2 ... 5).contains(version) else { throw error("DWARF version \(version) is not supported (2 to 5 are)", at: unitStart) }
            var addressSize: UInt8 = 8
            var abbrevOffset: UInt64 = 0
            if version >= 5 {
                guard let unitType = info.read(UInt8.self), let size = info.read(UInt8.self), let offset = readOffset(offsetSize) else {
                    throw error("truncated unit header", at: unitStart)
                }
                addressSize = size
                abbrevOffset = offset
                switch unitType {
                case 2, 6: info.offset += 8 + offsetSize   // type units: signature, type offset
                case 4, 5: info.offset += 8                // skeleton, split: dwo id
                default: break
                }
            } else {
                guard let offset = readOffset(offsetSize), let size = info.read(UInt8.self) else { throw error("truncated unit header", at: unitStart) }
                abbrevOffset = offset
                addressSize = size
            }
            guard [1, 2, 4, 8].contains(addressSize) else { throw error("address size \(addressSize) is not 1, 2, 4 or 8", at: unitStart) }
            guard abbrevOffset < UInt64(abbrev.count) else {
                throw error("abbreviation offset \(abbrevOffset) lies outside .debug_abbrev (\(abbrev.count) bytes)", at: unitStart)
            }
            let table = try abbreviations(at: Int(abbrevOffset))
            let unit = Unit(start: unitStart, end: unitEnd, version: version, offsetSize: offsetSize, addressSize: Int(addressSize))
            try parseEntries(unit, table: table)
            info.offset = unitEnd
        }
    }

    struct Unit {
        var start: Int
        var end: Int
        var version: UInt16
        var offsetSize: Int
        var addressSize: Int
        var stringOffsetsBase: UInt64? = nil
    }

    mutating func readOffset(_ size: Int) -> UInt64? {
        size == 8 ? info.read(UInt64.self) : info.read(UInt32.self).map(UInt64.init)
    }

    mutating func abbreviations(at start: Int) throws(BTFError) -> [UInt64: Abbreviation] {
        if let known = abbreviationTables[start] { return known }
        var table: [UInt64: Abbreviation] = [:]
        abbrev.offset = start
        while true {
            let at = abbrev.offset
            guard let code = abbrev.readULEB() else { throw BTFError(".debug_abbrev: truncated table", offset: at, file: file) }
            if code == 0 { break }
            guard let tag = abbrev.readULEB(), let children = abbrev.read(UInt8.self) else {
                throw BTFError(".debug_abbrev: truncated abbreviation \(code)", offset: at, file: file)
            }
            var attributes: [(UInt64, UInt64, Int64)] = []
            while true {
                guard let attribute = abbrev.readULEB(), let form = abbrev.readULEB() else {
                    throw BTFError(".debug_abbrev: truncated abbreviation \(code)", offset: at, file: file)
                }
                if attribute == 0 && form == 0 { break }
                var implicit: Int64 = 0
                if form == 0x21 {  // DW_FORM_implicit_const: the value lives here
                    guard let value = abbrev.readSLEB() else { throw BTFError(".debug_abbrev: truncated abbreviation \(code)", offset: at, file: file) }
                    implicit = value
                }
                attributes.append((attribute, form, implicit))
            }
            table[code] = Abbreviation(tag: tag, hasChildren: children != 0, attributes: attributes)
        }
        abbreviationTables[start] = table
        return table
    }

    mutating func parseEntries(_ unitHeader: Unit, table: [UInt64: Abbreviation]) throws(BTFError) {
        var unit = unitHeader
        var parents: [Int?] = []
        while info.offset < unit.end {
            let offset = info.offset
            guard let code = info.readULEB() else { throw error("truncated entry", at: offset) }
            if code == 0 {
                if !parents.isEmpty { parents.removeLast() }
                continue
            }
            guard let abbreviation = table[code] else { throw error("entry uses abbreviation \(code), which its table does not define", at: offset) }
            var entry = DWARFTypes.Entry(tag: abbreviation.tag)
            var pendingName: UInt64?
            for (attribute, form, implicit) in abbreviation.attributes {
                let value = try readValue(form: form, implicit: implicit, unit: unit)
                guard info.offset <= unit.end else { throw error("entry runs past its unit's end", at: offset) }
                switch (attribute, value) {
                case (DW.atName, .string(let text)): entry.name = text
                case (DW.atName, .stringIndex(let index)): pendingName = index
                case (DW.atStrOffsetsBase, .unsigned(let base)): unit.stringOffsetsBase = base
                case (DW.atByteSize, _): entry.byteSize = value.unsignedValue
                case (DW.atType, .reference(let target)): entry.type = target
                case (DW.atMemberLocation, .block(let block)): entry.memberLocation = Self.plusUConst(block)
                case (DW.atMemberLocation, _): entry.memberLocation = value.unsignedValue
                case (DW.atBitSize, _): entry.bitSize = value.unsignedValue
                case (DW.atDataBitOffset, _): entry.dataBitOffset = value.unsignedValue
                case (DW.atBitOffset, _): entry.bitOffset = value.unsignedValue
                case (DW.atCount, _): entry.count = value.unsignedValue
                case (DW.atUpperBound, .signed(let bound)): entry.upperBound = bound
                case (DW.atUpperBound, .unsigned(let bound)): entry.upperBound = Int64(bitPattern: bound)
                case (DW.atEncoding, _): entry.encoding = value.unsignedValue
                case (DW.atConstValue, .signed(let v)): entry.constValue = v
                case (DW.atConstValue, .unsigned(let v)): entry.constValue = Int64(bitPattern: v)
                case (DW.atDeclaration, .flag(let flag)): entry.isDeclaration = flag
                default: break
                }
            }
            if let pendingName { entry.name = try indexedString(pendingName, unit: unit, at: offset) }
            if let parent = parents.last ?? nil { entries[parent]?.children.append(offset) }
            if [DW.tagStructure, DW.tagUnion, DW.tagEnumeration, DW.tagTypedef].contains(entry.tag), let name = entry.name {
                named.append((name, offset))
            }
            entries[offset] = entry
            if abbreviation.hasChildren { parents.append(offset) }
        }
    }

    /// `DW_OP_plus_uconst N`, the DWARF 2 spelling of a member's offset.
    static func plusUConst(_ block: ArraySlice<UInt8>) -> UInt64? {
        var reader = ByteReader(block, byteOrder: .little)
        guard reader.read(UInt8.self) == 0x23 else { return nil }
        return reader.readULEB()
    }

    func indexedString(_ index: UInt64, unit: Unit, at offset: Int) throws(BTFError) -> String {
        let base = unit.stringOffsetsBase ?? UInt64(unit.offsetSize == 8 ? 16 : 8)
        let (scaled, overflow) = index.multipliedReportingOverflow(by: UInt64(unit.offsetSize))
        guard !overflow, let position = Int(exactly: base &+ scaled), base &+ scaled >= base,
              let stringOffset = unit.offsetSize == 8 ? stringOffsets.get(UInt64.self, at: position) : stringOffsets.get(UInt32.self, at: position).map(UInt64.init)
        else { throw error("string index \(index) lies outside .debug_str_offsets (\(stringOffsets.count) bytes)", at: offset) }
        return try string(at: stringOffset, in: strings, section: ".debug_str", entry: offset)
    }

    func string(at position: UInt64, in section: ByteReader, section name: String, entry: Int) throws(BTFError) -> String {
        guard let at = Int(exactly: position), let bytes = section.cString(at: at) else {
            throw error("string offset \(position) lies outside \(name) (\(section.count) bytes) or is unterminated", at: entry)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func readValue(form: UInt64, implicit: Int64, unit: Unit) throws(BTFError) -> AttributeValue {
        let at = info.offset
        func truncated() -> BTFError { error("attribute of form 0x\(String(form, radix: 16)) runs past the section's end", at: at) }
        func block(_ length: UInt64?) throws(BTFError) -> AttributeValue {
            guard let length, let count = Int(exactly: length), let bytes = info.slice(at: info.offset, length: count) else { throw truncated() }
            info.offset += count
            return .block(bytes)
        }
        func reference(_ relative: UInt64?) throws(BTFError) -> AttributeValue {
            guard let relative, let target = Int(exactly: UInt64(unit.start) &+ relative), target >= unit.start else { throw truncated() }
            return .reference(target)
        }
        switch form {
        case 0x01: info.offset += unit.addressSize; return .other                       // addr
        case 0x03: return try block(info.read(UInt16.self).map(UInt64.init))            // block2
        case 0x04: return try block(info.read(UInt32.self).map(UInt64.init))            // block4
        case 0x05: guard let v = info.read(UInt16.self) else { throw truncated() }; return .unsigned(UInt64(v))
        case 0x06: guard let v = info.read(UInt32.self) else { throw truncated() }; return .unsigned(UInt64(v))
        case 0x07: guard let v = info.read(UInt64.self) else { throw truncated() }; return .unsigned(v)
        case 0x08:                                                                      // string (inline)
            guard let bytes = info.cString(at: info.offset) else { throw truncated() }
            info.offset += bytes.count + 1
            return .string(String(decoding: bytes, as: UTF8.self))
        case 0x09, 0x18: return try block(info.readULEB())                             // block, exprloc
        case 0x0a: return try block(info.read(UInt8.self).map(UInt64.init))             // block1
        case 0x0b: guard let v = info.read(UInt8.self) else { throw truncated() }; return .unsigned(UInt64(v))
        case 0x0c: guard let v = info.read(UInt8.self) else { throw truncated() }; return .flag(v != 0)
        case 0x0d: guard let v = info.readSLEB() else { throw truncated() }; return .signed(v)
        case 0x0e:                                                                      // strp
            guard let v = readOffset(unit.offsetSize) else { throw truncated() }
            return .string(try string(at: v, in: strings, section: ".debug_str", entry: at))
        case 0x1f:                                                                      // line_strp
            guard let v = readOffset(unit.offsetSize) else { throw truncated() }
            return .string(try string(at: v, in: lineStrings, section: ".debug_line_str", entry: at))
        case 0x0f: guard let v = info.readULEB() else { throw truncated() }; return .unsigned(v)
        case 0x10:                                                                      // ref_addr: from the section start
            guard let v = unit.version <= 2 ? (unit.addressSize == 8 ? info.read(UInt64.self) : info.read(UInt32.self).map(UInt64.init)) : readOffset(unit.offsetSize),
                  let target = Int(exactly: v) else { throw truncated() }
            return .reference(target)
        case 0x11: return try reference(info.read(UInt8.self).map(UInt64.init))
        case 0x12: return try reference(info.read(UInt16.self).map(UInt64.init))
        case 0x13: return try reference(info.read(UInt32.self).map(UInt64.init))
        case 0x14: return try reference(info.read(UInt64.self))
        case 0x15: return try reference(info.readULEB())
        case 0x16:                                                                      // indirect: the form comes first
            guard let actual = info.readULEB(), actual != 0x16 else { throw truncated() }
            return try readValue(form: actual, implicit: implicit, unit: unit)
        case 0x17, 0x1d:                                                                // sec_offset, strp_sup
            guard let v = readOffset(unit.offsetSize) else { throw truncated() }
            return form == 0x17 ? .unsigned(v) : .other
        case 0x19: return .flag(true)                                                   // flag_present
        case 0x1a: guard let v = info.readULEB() else { throw truncated() }; return .stringIndex(v)
        case 0x1b, 0x22, 0x23: guard info.readULEB() != nil else { throw truncated() }; return .other  // addrx, loclistx, rnglistx
        case 0x1c: guard info.read(UInt32.self) != nil else { throw truncated() }; return .other       // ref_sup4
        case 0x1e: guard info.slice(at: info.offset, length: 16) != nil else { throw truncated() }; info.offset += 16; return .other
        case 0x20, 0x24: guard info.read(UInt64.self) != nil else { throw truncated() }; return .other // ref_sig8, ref_sup8
        case 0x21: return .signed(implicit)
        case 0x25: guard let v = info.read(UInt8.self) else { throw truncated() }; return .stringIndex(UInt64(v))
        case 0x26: guard let v = info.read(UInt16.self) else { throw truncated() }; return .stringIndex(UInt64(v))
        case 0x27:
            guard let bytes = info.slice(at: info.offset, length: 3) else { throw truncated() }
            info.offset += 3
            let b = Array(bytes)
            return .stringIndex(info.byteOrder == .little ? UInt64(b[0]) | UInt64(b[1]) << 8 | UInt64(b[2]) << 16 : UInt64(b[2]) | UInt64(b[1]) << 8 | UInt64(b[0]) << 16)
        case 0x28: guard let v = info.read(UInt32.self) else { throw truncated() }; return .stringIndex(UInt64(v))
        case 0x29: info.offset += 1; return .other
        case 0x2a: info.offset += 2; return .other
        case 0x2b: info.offset += 3; return .other
        case 0x2c: info.offset += 4; return .other
        default: throw error("unknown attribute form 0x\(String(form, radix: 16))", at: at)
        }
    }
}

extension AttributeValue {
    var unsignedValue: UInt64? {
        switch self {
        case .unsigned(let v): v
        case .signed(let v): v < 0 ? nil : UInt64(v)
        default: nil
        }
    }
}
