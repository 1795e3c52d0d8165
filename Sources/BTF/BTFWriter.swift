extension BTF {
    /// Serializes to raw BTF: header, type section, then the string and kind-layout sections (the
    /// latter when there is one, placed as `header.kindLayoutPlacement` says), in `byteOrder`
    /// (default: the order it was read in). Split BTF writes only its own part, as a split file.
    /// A BTF read from a canonical file and written back unchanged is byte-identical.
    public func serialized(byteOrder: ByteOrder? = nil) -> [UInt8] {
        let order = byteOrder ?? self.byteOrder
        // Split BTF writes its own part only; the base stays the base's file.
        let firstWord = split?.wordCount ?? 0
        let ownStrings = strings[(split?.stringLength ?? 0)...]
        let hdrLen = Int(max(header.headerLength, kindLayouts.isEmpty ? 24 : 32))
        let typeLen = (words.count - firstWord) * 4
        let stringLen = ownStrings.count
        let layoutLen = kindLayouts.count * 4
        // Section offsets from the end of the header.
        var stringOff = typeLen, layoutOff = 0
        if layoutLen > 0 {
            switch header.kindLayoutPlacement {
            case .beforeStrings:
                layoutOff = typeLen
                stringOff = typeLen + layoutLen
            case .afterStrings(let padding):
                layoutOff = typeLen + stringLen + max(padding, 0)
            }
        }
        var w = ByteWriter(order: order)
        w.append(BTFHeader.magic)
        w.bytes.append(header.version)
        w.bytes.append(header.flags)
        w.append(UInt32(hdrLen))
        w.append(UInt32(0))                                 // type_off
        w.append(UInt32(typeLen))                           // type_len
        w.append(UInt32(stringOff))                         // str_off
        w.append(UInt32(stringLen))                         // str_len
        if hdrLen >= 32 {
            w.append(UInt32(layoutOff))                     // layout_off
            w.append(UInt32(layoutLen))                     // layout_len
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
        let total = hdrLen + max(stringOff + stringLen, layoutOff + layoutLen)
        return [UInt8](unsafeUninitializedCapacity: total) { dst, initialized in
            let base = UnsafeMutableRawPointer(dst.baseAddress!)
            // Zero padding between the strings and a trailing kind layout; every other byte is copied.
            let gapStart = hdrLen + stringOff + stringLen
            if layoutLen > 0, hdrLen + layoutOff > gapStart {
                (base + gapStart).initializeMemory(as: UInt8.self, repeating: 0, count: hdrLen + layoutOff - gapStart)
            }
            func copy(_ source: UnsafeRawBufferPointer, to offset: Int) {
                if let from = source.baseAddress { (base + offset).copyMemory(from: from, byteCount: source.count) }
            }
            header.withUnsafeBytes { copy($0, to: 0) }
            words.withUnsafeBufferPointer { all in
                let src = UnsafeBufferPointer(rebasing: all[firstWord...])
                if order == .host {
                    copy(UnsafeRawBufferPointer(src), to: hdrLen)
                } else {
                    for i in 0 ..< src.count {
                        (base + hdrLen).storeBytes(of: src[i].byteSwapped, toByteOffset: 4 * i, as: UInt32.self)
                    }
                }
            }
            ownStrings.withUnsafeBytes { copy($0, to: hdrLen + stringOff) }
            layoutBytes.withUnsafeBytes { copy($0, to: hdrLen + layoutOff) }
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
