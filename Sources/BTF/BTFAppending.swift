extension BTF {
    /// The `.BTF` section `section` with every type of `other` appended after its own: existing type
    /// ids and string offsets stay what they were (`.BTF.ext` and CO-RE relocations refer to them),
    /// `other`'s references are shifted past the existing types and its strings appended.
    public static func appending(_ other: BTF, toSection section: [UInt8], byteOrder: ByteOrder, file: String? = nil) throws(BTFError) -> [UInt8] {
        let existing = try BTF(parsing: section, file: file)
        let r = ByteReader(section, byteOrder: byteOrder)
        guard let headerLength = r.get(UInt32.self, at: 4), let typeOffset = r.get(UInt32.self, at: 8),
              let typeLength = r.get(UInt32.self, at: 12), let stringOffset = r.get(UInt32.self, at: 16),
              let stringLength = r.get(UInt32.self, at: 20) else { throw BTFError("BTF header is truncated", file: file) }
        // Only the plain layout (header, types, strings, nothing else) can be extended in place.
        guard headerLength == 24, typeOffset == 0, stringOffset == typeLength,
              24 + Int(typeLength) + Int(stringLength) == section.count else {
            throw BTFError("cannot append types: the BTF is not laid out as header, types, strings", file: file)
        }
        let shift = UInt32(existing.typeCount - 1)
        var newStrings: [UInt8] = []
        var placed: [ArraySlice<UInt8>: UInt32] = [:]
        var types = ByteWriter(order: byteOrder)
        for id in other.typeIDs {
            var record = other.record(id)
            record.forEachTypeIDSlot { if $0 != .void { $0 = TypeID($0.rawValue + shift) } }
            record.forEachStringSlot { offset in
                guard !offset.isEmpty else { return }
                let start = Int(offset.rawValue)
                let text = other.strings[start ..< (other.strings[start...].firstIndex(of: 0) ?? other.strings.endIndex)]
                if let at = placed[text] { offset = StringOffset(at); return }
                let at = stringLength + UInt32(newStrings.count)
                newStrings += text + [0]
                placed[text] = at
                offset = StringOffset(at)
            }
            for word in [record.nameOffset.rawValue, record.info, record.sizeOrType] + record.extra { types.append(word) }
        }
        var header = ByteWriter(order: byteOrder)
        let newTypeLength = typeLength + UInt32(types.bytes.count)
        for word in [newTypeLength, newTypeLength, stringLength + UInt32(newStrings.count)] { header.append(word) }
        var output = Array(section[0 ..< 12]) + header.bytes
        output += section[24 ..< 24 + Int(typeLength)]
        output += types.bytes
        output += section[(24 + Int(typeLength))...]
        output += newStrings
        return output
    }
}
