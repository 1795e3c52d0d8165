/// The kind of a CO-RE relocation (`enum bpf_core_relo_kind`).
public enum CORERelocationKind: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case fieldByteOffset = 0    // BPF_CORE_FIELD_BYTE_OFFSET
    case fieldByteSize = 1      // BPF_CORE_FIELD_BYTE_SIZE
    case fieldExists = 2        // BPF_CORE_FIELD_EXISTS
    case fieldSigned = 3        // BPF_CORE_FIELD_SIGNED
    case fieldLShiftU64 = 4     // BPF_CORE_FIELD_LSHIFT_U64
    case fieldRShiftU64 = 5     // BPF_CORE_FIELD_RSHIFT_U64
    case typeIDLocal = 6        // BPF_CORE_TYPE_ID_LOCAL
    case typeIDTarget = 7       // BPF_CORE_TYPE_ID_TARGET
    case typeExists = 8         // BPF_CORE_TYPE_EXISTS
    case typeSize = 9           // BPF_CORE_TYPE_SIZE
    case enumValueExists = 10   // BPF_CORE_ENUMVAL_EXISTS
    case enumValue = 11         // BPF_CORE_ENUMVAL_VALUE
    case typeMatches = 12       // BPF_CORE_TYPE_MATCHES

    /// libbpf's name for the kind, as printed in its debug log (`byte_off`, `type_exists` ...).
    public var description: String {
        switch self {
        case .fieldByteOffset: "byte_off"
        case .fieldByteSize: "byte_sz"
        case .fieldExists: "field_exists"
        case .fieldSigned: "signed"
        case .fieldLShiftU64: "lshift_u64"
        case .fieldRShiftU64: "rshift_u64"
        case .typeIDLocal: "local_type_id"
        case .typeIDTarget: "target_type_id"
        case .typeExists: "type_exists"
        case .typeSize: "type_size"
        case .enumValueExists: "enumval_exists"
        case .enumValue: "enumval_value"
        case .typeMatches: "type_matches"
        }
    }

    public var isFieldBased: Bool { rawValue <= 5 }
    public var isTypeBased: Bool { self == .typeIDLocal || self == .typeIDTarget || self == .typeExists || self == .typeSize || self == .typeMatches }
    public var isEnumValueBased: Bool { self == .enumValueExists || self == .enumValue }
}

/// One CO-RE relocation record (`struct bpf_core_relo`) of a program section.
public struct CORERelocation: Sendable, Equatable {
    /// Byte offset of the instruction within its section.
    public var instructionOffset: UInt32
    /// The local (program-side) root type of the access.
    public var typeID: TypeID
    /// The access string (`"0:1:2"`), as an offset into the object's `.BTF` string table.
    public var accessStringOffset: StringOffset
    public var kind: CORERelocationKind
}

/// A `bpf_func_info` record: which BTF FUNC describes the function starting at `instructionOffset`.
public struct FuncInfo: Sendable, Equatable {
    public var instructionOffset: UInt32
    public var typeID: TypeID
}

/// A `bpf_line_info` record.
public struct LineInfo: Sendable, Equatable {
    public var instructionOffset: UInt32
    public var fileNameOffset: StringOffset
    public var lineOffset: StringOffset
    /// `line_col`: line number in the upper 22 bits, column in the lower 10.
    public var lineColumn: UInt32
    public var line: UInt32 { lineColumn >> 10 }
    public var column: UInt32 { lineColumn & 0x3ff }
}

/// The records of one kind that belong to one program section (`btf_ext_info_sec`).
public struct BTFExtSection<Record: Sendable & Equatable>: Sendable, Equatable {
    /// The ELF section the records belong to, as an offset into the `.BTF` string table.
    public var sectionNameOffset: StringOffset
    public var records: [Record]
}

/// A parsed `.BTF.ext` section: func_info, line_info and CO-RE relocations per program section.
public struct BTFExt: Sendable {
    public var byteOrder: ByteOrder
    public var funcInfo: [BTFExtSection<FuncInfo>]
    public var lineInfo: [BTFExtSection<LineInfo>]
    public var coreRelocations: [BTFExtSection<CORERelocation>]
}

extension BTFExt {
    /// Parses a `.BTF.ext` blob. Each subsection's declared `rec_size` is honoured: records may be
    /// longer than the fields known here (newer compilers), never shorter.
    public init(parsing bytes: ArraySlice<UInt8>, file: String? = nil) throws(BTFError) {
        func fail(_ what: String, _ offset: Int) -> BTFError { BTFError(what, offset: offset, file: file) }
        guard bytes.count >= 8 else { throw fail("truncated .BTF.ext header: \(bytes.count) bytes", 0) }
        let order: ByteOrder
        switch ByteReader(bytes, byteOrder: .little).get(UInt16.self, at: 0)! {
        case BTFHeader.magic: order = .little
        case BTFHeader.magic.byteSwapped: order = .big
        case let m: throw fail(".BTF.ext has bad magic 0x\(String(m, radix: 16))", 0)
        }
        let r = ByteReader(bytes, byteOrder: order)
        let version = bytes[bytes.startIndex + 2]
        guard version == 1 else { throw fail("unsupported .BTF.ext version \(version)", 2) }
        let hdrLen = Int(r.get(UInt32.self, at: 4)!)
        guard hdrLen >= 24, hdrLen <= bytes.count else {
            throw fail("bad .BTF.ext header length \(hdrLen) for \(bytes.count) bytes", 4)
        }
        func subsection(at field: Int) throws(BTFError) -> (start: Int, length: Int)? {
            guard field + 8 <= hdrLen else { return nil }
            let off = Int(r.get(UInt32.self, at: field)!), len = Int(r.get(UInt32.self, at: field + 4)!)
            guard len > 0 else { return nil }
            guard let start = checkedAdd(hdrLen, off), let end = checkedAdd(start, len), end <= bytes.count else {
                throw fail("subsection at \(off)+\(len) runs past the end of .BTF.ext", field)
            }
            return (start, len)
        }
        byteOrder = order
        funcInfo = try BTFExt.parseInfo(r, subsection(at: 8), minRecordSize: 8, fail: fail) { r, at in
            FuncInfo(instructionOffset: r.get(UInt32.self, at: at)!, typeID: TypeID(r.get(UInt32.self, at: at + 4)!))
        }
        lineInfo = try BTFExt.parseInfo(r, subsection(at: 16), minRecordSize: 16, fail: fail) { r, at in
            LineInfo(instructionOffset: r.get(UInt32.self, at: at)!,
                     fileNameOffset: StringOffset(r.get(UInt32.self, at: at + 4)!),
                     lineOffset: StringOffset(r.get(UInt32.self, at: at + 8)!),
                     lineColumn: r.get(UInt32.self, at: at + 12)!)
        }
        var relocationError: BTFError?
        coreRelocations = try BTFExt.parseInfo(r, subsection(at: 24), minRecordSize: 16, fail: fail) { r, at in
            let rawKind = r.get(UInt32.self, at: at + 12)!
            guard let kind = CORERelocationKind(rawValue: rawKind) else {
                if relocationError == nil { relocationError = fail("unknown CO-RE relocation kind \(rawKind)", at + 12) }
                return CORERelocation(instructionOffset: 0, typeID: .void, accessStringOffset: .empty, kind: .fieldByteOffset)
            }
            return CORERelocation(instructionOffset: r.get(UInt32.self, at: at)!,
                                  typeID: TypeID(r.get(UInt32.self, at: at + 4)!),
                                  accessStringOffset: StringOffset(r.get(UInt32.self, at: at + 8)!), kind: kind)
        }
        if let relocationError { throw relocationError }
    }

    /// Reads one info subsection: a `rec_size` word, then per program section a name offset, a
    /// record count and that many records.
    private static func parseInfo<Record>(
        _ r: ByteReader, _ range: (start: Int, length: Int)?, minRecordSize: Int,
        fail: (String, Int) -> BTFError, record: (ByteReader, Int) -> Record
    ) throws(BTFError) -> [BTFExtSection<Record>] {
        guard let range else { return [] }
        let end = range.start + range.length
        guard range.length >= 4 else { throw fail("info subsection too short for its record size", range.start) }
        let recordSize = Int(r.get(UInt32.self, at: range.start)!)
        guard recordSize >= minRecordSize, recordSize % 4 == 0 else {
            throw fail("record size \(recordSize) is invalid (at least \(minRecordSize), a multiple of 4)", range.start)
        }
        var sections: [BTFExtSection<Record>] = []
        var at = range.start + 4
        while at < end {
            guard at + 8 <= end else { throw fail("truncated info section header", at) }
            let nameOffset = StringOffset(r.get(UInt32.self, at: at)!)
            let count = Int(r.get(UInt32.self, at: at + 4)!)
            guard count > 0 else { throw fail("info section with zero records", at + 4) }
            at += 8
            guard let bytes = checkedMul(count, recordSize), let recordsEnd = checkedAdd(at, bytes), recordsEnd <= end else {
                throw fail("\(count) records of \(recordSize) bytes run past the end of the subsection", at - 4)
            }
            var records: [Record] = []
            records.reserveCapacity(count)
            for i in 0 ..< count { records.append(record(r, at + i * recordSize)) }
            sections.append(BTFExtSection(sectionNameOffset: nameOffset, records: records))
            at = recordsEnd
        }
        return sections
    }
}
