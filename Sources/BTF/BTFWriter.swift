extension BTF {
    /// Serializes to raw BTF: header, type section, string section, then the kind-layout section
    /// (when the header is 32 bytes long), in `byteOrder` (default: the order it was read in).
    /// A BTF read from a canonical file and written back unchanged is byte-identical.
    public func serialized(byteOrder: ByteOrder? = nil) -> [UInt8] {
        let order = byteOrder ?? self.byteOrder
        let hdrLen = Int(max(header.headerLength, kindLayouts.isEmpty ? 24 : 32))
        let typeLen = words.count * 4
        let layoutLen = kindLayouts.count * 4
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
        var layout = ByteWriter(order: order)
        for entry in kindLayouts {
            layout.bytes.append(entry.infoSize)
            layout.bytes.append(entry.elementSize)
            layout.append(entry.flags)
        }
        // One allocation filled by bulk copies: a 44 MB kernel must not be appended byte by byte
        // (that took 15 s in a debug build).
        let header = w.bytes, layoutBytes = layout.bytes
        let total = hdrLen + typeLen + strings.count + layoutLen
        return [UInt8](unsafeUninitializedCapacity: total) { dst, initialized in
            let base = UnsafeMutableRawPointer(dst.baseAddress!)
            func copy(_ source: UnsafeRawBufferPointer, to offset: Int) {
                if let from = source.baseAddress { (base + offset).copyMemory(from: from, byteCount: source.count) }
            }
            header.withUnsafeBytes { copy($0, to: 0) }
            if order == .host {
                words.withUnsafeBytes { copy($0, to: hdrLen) }
            } else {
                words.withUnsafeBufferPointer { src in
                    for i in 0 ..< src.count {
                        (base + hdrLen).storeBytes(of: src[i].byteSwapped, toByteOffset: 4 * i, as: UInt32.self)
                    }
                }
            }
            strings.withUnsafeBytes { copy($0, to: hdrLen + typeLen) }
            layoutBytes.withUnsafeBytes { copy($0, to: hdrLen + typeLen + strings.count) }
            initialized = total
        }
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
