import BTF

/// Turns DWARF type entries into BTF records, dependencies first (so every reference is to a
/// type already added). Pointers become `void *`, which also breaks every cycle C allows; a cycle
/// through values (impossible in C) is an error, as is nesting deeper than `maxDepth`.
struct BTFConversion {
    let entries: [Int: DWARFTypes.Entry]
    let file: String?
    var builder = BTFBuilder()
    private var converted: [Int: TypeID] = [:]
    private var inProgress: Set<Int> = []
    private var indexType: TypeID?
    static let maxDepth = 64

    init(entries: [Int: DWARFTypes.Entry], file: String?) {
        self.entries = entries
        self.file = file
    }

    func error(_ problem: String, at offset: Int) -> BTFError {
        BTFError(".debug_info: " + problem, offset: offset, file: file)
    }

    /// The BTF id of the entry at `offset` (void, 0, for `nil`).
    @discardableResult
    mutating func convert(_ offset: Int?, depth: Int = 0) throws(BTFError) -> TypeID {
        guard let offset else { return TypeID(0) }
        if let done = converted[offset] { return done }
        guard let entry = entries[offset] else { throw error("a type reference points at offset \(offset), where no entry starts", at: offset) }
        guard depth < Self.maxDepth, !inProgress.contains(offset) else {
            throw error("type nesting deeper than \(Self.maxDepth) or a cycle through values at this entry", at: offset)
        }
        inProgress.insert(offset)
        defer { inProgress.remove(offset) }
        let name = builder.addString(entry.name ?? "")
        let id: TypeID
        switch entry.tag {
        case DW.tagBase:
            let size = UInt32(clamping: entry.byteSize ?? 0)
            if entry.encoding == DW.ateFloat {
                id = builder.add(TypeRecord(kind: .float, name: name, sizeOrType: size))
            } else {
                var encoding: UInt32 = 0
                if entry.encoding == DW.ateSigned || entry.encoding == DW.ateSignedChar { encoding = 1 }  // BTF_INT_SIGNED
                if entry.encoding == DW.ateBoolean { encoding = 4 }                                      // BTF_INT_BOOL
                id = builder.add(TypeRecord(kind: .int, name: name, sizeOrType: size, extra: [encoding << 24 | min(size * 8, 128)]))
            }
        case DW.tagPointer:
            id = builder.add(TypeRecord(kind: .pointer, name: .empty, sizeOrType: 0))  // void *: printed, never followed
        case DW.tagTypedef, DW.tagConst, DW.tagVolatile, DW.tagRestrict:
            let target = try convert(entry.type, depth: depth + 1)
            let kind: BTFKind = switch entry.tag {
            case DW.tagTypedef: .typedef
            case DW.tagConst: .const
            case DW.tagVolatile: .volatile
            default: .restrict
            }
            id = builder.add(TypeRecord(kind: kind, name: entry.tag == DW.tagTypedef ? name : .empty, sizeOrType: target.rawValue))
        case DW.tagAtomic:
            id = try convert(entry.type, depth: depth + 1)
        case DW.tagStructure, DW.tagUnion:
            let isUnion = entry.tag == DW.tagUnion
            if entry.isDeclaration {
                id = builder.add(TypeRecord(kind: .forward, name: name, kindFlag: isUnion, sizeOrType: 0))
                break
            }
            var members: [(name: StringOffset, type: TypeID, bitOffset: UInt64, bitSize: UInt64)] = []
            for child in entry.children {
                guard let member = entries[child], member.tag == DW.tagMember else { continue }
                let type = try convert(member.type, depth: depth + 1)
                var bitOffset = (member.memberLocation ?? 0) &* 8
                if let dataBitOffset = member.dataBitOffset {
                    bitOffset = dataBitOffset
                } else if let old = member.bitOffset, let bits = member.bitSize {
                    // DWARF 2/3: counted from the high bit of a storage unit of byte_size bytes (little-endian).
                    let storage = (member.byteSize ?? entries[member.type ?? -1]?.byteSize ?? 0) &* 8
                    bitOffset = bitOffset &+ storage &- old &- bits
                }
                members.append((builder.addString(member.name ?? ""), type, bitOffset, member.bitSize ?? 0))
            }
            let bitfields = members.contains { $0.bitSize > 0 }
            var extra: [UInt32] = []
            for member in members {
                guard !bitfields || (member.bitOffset < 1 << 24 && member.bitSize < 256) else {
                    throw error("bitfield at bit \(member.bitOffset) of \(member.bitSize) bits does not fit BTF's member encoding", at: offset)
                }
                extra += [member.name.rawValue, member.type.rawValue,
                          bitfields ? UInt32(member.bitSize) << 24 | UInt32(member.bitOffset) : UInt32(clamping: member.bitOffset)]
            }
            id = builder.add(TypeRecord(kind: isUnion ? .union : .structure, name: name, vlen: members.count, kindFlag: bitfields,
                                        sizeOrType: UInt32(clamping: entry.byteSize ?? 0), extra: extra))
        case DW.tagArray:
            var element = try convert(entry.type, depth: depth + 1)
            let dimensions = entry.children.compactMap { entries[$0] }.filter { $0.tag == DW.tagSubrange }.map { range -> UInt32 in
                if let count = range.count { return UInt32(clamping: count) }
                if let bound = range.upperBound, bound >= 0 { return UInt32(clamping: bound + 1) }
                return 0  // a flexible array
            }
            let index = arrayIndexType()
            // int a[2][3] is an array of 2 arrays of 3: built from the innermost dimension out.
            for count in (dimensions.isEmpty ? [0] : dimensions).reversed() {
                element = builder.add(TypeRecord(kind: .array, name: .empty, sizeOrType: 0, extra: [element.rawValue, index.rawValue, count]))
            }
            id = element
        case DW.tagEnumeration:
            let size = entry.byteSize ?? 4
            let values = entry.children.compactMap { entries[$0] }.filter { $0.tag == DW.tagEnumerator }
            let underlying = entry.type.flatMap { entries[$0] }
            let signed = values.contains { ($0.constValue ?? 0) < 0 }
                || underlying?.encoding == DW.ateSigned || underlying?.encoding == DW.ateSignedChar
            var extra: [UInt32] = []
            for value in values {
                let raw = UInt64(bitPattern: value.constValue ?? 0)
                extra.append(builder.addString(value.name ?? "").rawValue)
                extra.append(UInt32(truncatingIfNeeded: raw))
                if size > 4 { extra.append(UInt32(truncatingIfNeeded: raw >> 32)) }
            }
            id = builder.add(TypeRecord(kind: size > 4 ? .enum64 : .enumeration, name: name, vlen: values.count, kindFlag: signed,
                                        sizeOrType: UInt32(clamping: size), extra: extra))
        case DW.tagSubroutine:
            id = builder.add(TypeRecord(kind: .functionPrototype, name: .empty, sizeOrType: 0))
        default:
            id = TypeID(0)  // a kind BTF has no use for here (unspecified_type ...): void
        }
        converted[offset] = id
        return id
    }

    /// clang's index type for arrays: `__ARRAY_SIZE_TYPE__`, a 4-byte unsigned int.
    private mutating func arrayIndexType() -> TypeID {
        if let indexType { return indexType }
        let id = builder.add(TypeRecord(kind: .int, name: builder.addString("__ARRAY_SIZE_TYPE__"), sizeOrType: 4, extra: [32]))
        indexType = id
        return id
    }
}
