/// Builds a BTF in memory: strings are deduplicated, types are appended in id order.
///
/// ```swift
/// var b = BTFBuilder()
/// let int = b.add(TypeRecord(kind: .int, name: b.addString("int"), sizeOrType: 4, extra: [0x0100_0020]))
/// let btf = b.build()
/// ```
public struct BTFBuilder: Sendable {
    private var words: [UInt32] = []
    private var typeStarts: [UInt32] = [0]
    private var strings: [UInt8] = [0]
    private var stringOffsets: [ArraySlice<UInt8>: StringOffset] = [[]: .empty]
    public var byteOrder: ByteOrder
    public var header: BTFHeader
    /// The kind-layout section to write (`btf_layout` per kind number); with one, records of kinds
    /// BTFKit does not know can be added, sized as their entry says.
    public var kindLayouts: [BTFKindLayout] = []

    public init(byteOrder: ByteOrder = .host, header: BTFHeader = BTFHeader()) {
        self.byteOrder = byteOrder
        self.header = header
    }

    /// The id the next added type will get.
    public var nextTypeID: TypeID { TypeID(UInt32(typeStarts.count)) }

    /// Adds a string (without its NUL) once and returns its offset.
    public mutating func addString<S: Collection<UInt8>>(_ bytes: S) -> StringOffset {
        let key = ArraySlice(bytes)
        if let existing = stringOffsets[key] { return existing }
        let offset = StringOffset(UInt32(strings.count))
        strings.append(contentsOf: key)
        strings.append(0)
        stringOffsets[key] = offset
        return offset
    }

    public mutating func addString(_ text: String) -> StringOffset { addString(Array(text.utf8)) }

    /// Appends a type record and returns its id. Its references must be ids of this builder.
    @discardableResult
    public mutating func add(_ record: TypeRecord) -> TypeID {
        let id = nextTypeID
        typeStarts.append(UInt32(words.count))
        words.append(record.nameOffset.rawValue)
        words.append(record.info)
        words.append(record.sizeOrType)
        words.append(contentsOf: record.extra)
        return id
    }

    /// The finished BTF.
    public func build() -> BTF {
        BTF(byteOrder: byteOrder, header: header, words: words, typeStarts: typeStarts,
            strings: strings, kindLayouts: kindLayouts)
    }
}
