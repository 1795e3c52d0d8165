extension BTF {
    /// Serializes to raw BTF: header, type section, string section, then the kind-layout section
    /// (when the header is 32 bytes long), in `byteOrder` (default: the order it was read in).
    /// A BTF read from a canonical file and written back unchanged is byte-identical.
    public func serialized(byteOrder: ByteOrder? = nil) -> [UInt8] {
        let order = byteOrder ?? self.byteOrder
        let hdrLen = Int(max(header.headerLength, kindLayouts.isEmpty ? 24 : 32))
        let typeLen = words.count * 4
        let layoutLen = kindLayouts.count * 4
        var out = [UInt8]()
        out.reserveCapacity(hdrLen + typeLen + strings.count + layoutLen)
        var w = ByteWriter(order: order)
        w.append(BTFHeader.magic)
        w.bytes.append(header.version)
        w.bytes.append(header.flags)
        w.append(UInt32(hdrLen))
        w.append(UInt32(0))                                 // type_off
        w.append(UInt32(typeLen))                           // type_len
        w.append(UInt32(typeLen))                           // str_off
        w.append(UInt32(strings.count))                     // str_len
        if hdrLen >= 32 {
            w.append(UInt32(layoutLen == 0 ? 0 : typeLen + strings.count))  // layout_off
            w.append(UInt32(layoutLen))                                     // layout_len
        }
        while w.bytes.count < hdrLen { w.bytes.append(0) }
        out = w.bytes
        out.append(contentsOf: repeatElement(0, count: typeLen))
        out.withUnsafeMutableBytes { dst in
            let base = dst.baseAddress! + hdrLen
            if order == .host {
                words.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: typeLen) }
            } else {
                for (i, word) in words.enumerated() {
                    base.storeBytes(of: word.byteSwapped, toByteOffset: 4 * i, as: UInt32.self)
                }
            }
        }
        out.append(contentsOf: strings)
        var layout = ByteWriter(order: order)
        for entry in kindLayouts {
            layout.bytes.append(entry.infoSize)
            layout.bytes.append(entry.elementSize)
            layout.append(entry.flags)
        }
        out.append(contentsOf: layout.bytes)
        return out
    }
}

/// Appends integers in a chosen byte order.
struct ByteWriter {
    var order: ByteOrder
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        let v = order == .little ? value.littleEndian : value.bigEndian
        withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) }
    }
}
