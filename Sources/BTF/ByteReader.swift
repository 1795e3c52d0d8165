/// A bounds-checked, endian-aware cursor over bytes.
///
/// Every read checks its bounds and returns `nil` past the end instead of trapping; parsers turn a
/// `nil` into an error that knows its offset. Offsets are always relative to the start of `bytes`.
public struct ByteReader {
    public let bytes: ArraySlice<UInt8>
    public let byteOrder: ByteOrder
    /// The position of the next read, counted from the start of `bytes`.
    public var offset: Int

    public init(_ bytes: ArraySlice<UInt8>, byteOrder: ByteOrder, offset: Int = 0) {
        self.bytes = bytes
        self.byteOrder = byteOrder
        self.offset = offset
    }

    public init(_ bytes: [UInt8], byteOrder: ByteOrder, offset: Int = 0) {
        self.init(bytes[...], byteOrder: byteOrder, offset: offset)
    }

    /// The number of bytes in the whole buffer.
    public var count: Int { bytes.count }
    /// The bytes left after `offset`.
    public var remaining: Int { max(0, bytes.count - offset) }

    /// Whether `length` bytes starting at `at` lie inside the buffer (no overflow).
    public func contains(_ at: Int, length: Int) -> Bool {
        guard at >= 0, length >= 0 else { return false }
        let (end, overflow) = at.addingReportingOverflow(length)
        return !overflow && end <= bytes.count
    }

    /// Reads an unsigned integer at `at` without moving the cursor.
    @inline(__always)
    public func get<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, at: Int) -> T? {
        let size = MemoryLayout<T>.size
        guard contains(at, length: size) else { return nil }
        var value: T = 0
        let base = bytes.startIndex + at
        if byteOrder == .little {
            for i in stride(from: size - 1, through: 0, by: -1) { value = value << 8 | T(bytes[base + i]) }
        } else {
            for i in 0..<size { value = value << 8 | T(bytes[base + i]) }
        }
        return value
    }

    /// Reads an unsigned integer and advances the cursor.
    @inline(__always)
    public mutating func read<T: FixedWidthInteger & UnsignedInteger>(_ type: T.Type) -> T? {
        guard let value = get(type, at: offset) else { return nil }
        offset += MemoryLayout<T>.size
        return value
    }

    /// The bytes in `at ..< at + length`, or `nil` if any lies outside the buffer.
    public func slice(at: Int, length: Int) -> ArraySlice<UInt8>? {
        guard contains(at, length: length) else { return nil }
        let start = bytes.startIndex + at
        return bytes[start ..< start + length]
    }

    /// A NUL-terminated string of bytes starting at `at` (without the NUL), or `nil` if unterminated.
    public func cString(at: Int) -> ArraySlice<UInt8>? {
        guard at >= 0, at < bytes.count else { return nil }
        let start = bytes.startIndex + at
        guard let end = bytes[start...].firstIndex(of: 0) else { return nil }
        return bytes[start ..< end]
    }
}

/// Checked arithmetic on untrusted sizes: `nil` on overflow instead of a trap.
@inline(__always)
func checkedAdd(_ a: Int, _ b: Int) -> Int? {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? nil : r
}

@inline(__always)
func checkedMul(_ a: Int, _ b: Int) -> Int? {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    return o ? nil : r
}
