import CZlib

// Tar writing for packs, in Swift (ustar, pax extended headers for long names), with zlib for
// bpf-compatible's gzip; xz is applied afterwards by PackXZ. TarReader.swift is the reading side.

/// The compression applied while writing a tar.
enum TarWriterCompression {
    /// A bare tar stream (compressed afterwards by the caller, e.g. with liblzma's extreme presets).
    case none
    /// gzip at `level` (1-9), without a timestamp or file name in the gzip header.
    case gzip(level: Int)
}

/// A tar archive written into memory, member by member, with fixed ownership, permissions and
/// times so that the same members always give the same bytes. Not thread-safe; one per archive.
final class TarArchiveWriter {
    private let compression: TarWriterCompression
    private var tar: [UInt8] = []
    private static let block = 512

    init(compression: TarWriterCompression) throws(TarFailure) {
        if case .gzip(let level) = compression, !(1 ... 9).contains(level) {
            throw TarFailure(message: "gzip level \(level) is not 1-9", isTruncation: false)
        }
        self.compression = compression
    }

    /// Adds a regular file `path` holding `contents` (mode 0644, owner root:root, mtime 0).
    func addFile(path: String, contents: [UInt8]) throws(TarFailure) {
        try appendHeader(path: path, type: UInt8(ascii: "0"), size: contents.count, link: "")
        tar += contents
        tar += [UInt8](repeating: 0, count: (TarArchiveWriter.block - contents.count % TarArchiveWriter.block) % TarArchiveWriter.block)
    }

    /// Adds `path` as a hard link to the earlier member `target` (tar type '1', no data of its own).
    func addHardLink(path: String, target: String) throws(TarFailure) {
        try appendHeader(path: path, type: UInt8(ascii: "1"), size: 0, link: target)
    }

    /// Writes the end-of-archive marker (two zero blocks), compresses, and returns the whole archive.
    func finish() throws(TarFailure) -> [UInt8] {
        let whole = tar + [UInt8](repeating: 0, count: 2 * TarArchiveWriter.block)
        switch compression {
        case .none: return whole
        case .gzip(let level): return try TarArchiveWriter.gzip(whole, level: level)
        }
    }

    /// A ustar header; a path or link that does not fit ustar's fields first gets a pax extended
    /// header (`x`) carrying it, as pax-restricted writers do.
    private func appendHeader(path: String, type: UInt8, size: Int, link: String) throws(TarFailure) {
        let split = TarArchiveWriter.ustarSplit(path)
        let linkFits = link.utf8.count <= 100
        if split == nil || !linkFits {
            var records: [UInt8] = []
            if split == nil { records += TarArchiveWriter.paxRecord("path", path) }
            if !linkFits { records += TarArchiveWriter.paxRecord("linkpath", link) }
            let name = "PaxHeader/" + String(decoding: Array(path.utf8.suffix(90)), as: UTF8.self)
            tar += TarArchiveWriter.header(name: Array(name.utf8.prefix(100)), prefix: [], type: UInt8(ascii: "x"),
                                           size: records.count, link: [])
            tar += records
            tar += [UInt8](repeating: 0, count: (TarArchiveWriter.block - records.count % TarArchiveWriter.block) % TarArchiveWriter.block)
        }
        let (prefix, name) = split ?? ([], Array(path.utf8.suffix(100)))
        tar += TarArchiveWriter.header(name: name, prefix: prefix, type: type, size: size, link: Array(link.utf8.prefix(100)))
    }

    /// `path` as ustar's prefix (up to 155 bytes) and name (up to 100), split at a slash; `nil`
    /// when it cannot be.
    private static func ustarSplit(_ path: String) -> (prefix: [UInt8], name: [UInt8])? {
        let bytes = Array(path.utf8)
        if bytes.count <= 100 { return ([], bytes) }
        for slash in bytes.indices.reversed() where bytes[slash] == UInt8(ascii: "/") {
            if slash <= 155 && bytes.count - slash - 1 <= 100 && slash + 1 < bytes.count {
                return (Array(bytes[..<slash]), Array(bytes[(slash + 1)...]))
            }
        }
        return nil
    }

    /// "LENGTH key=value\n", LENGTH counting itself.
    private static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n".utf8.count
        var length = body + 1
        while String(length).utf8.count + body != length { length = String(length).utf8.count + body }
        return Array("\(length) \(key)=\(value)\n".utf8)
    }

    /// One 512-byte ustar header: mode 0644, root:root (0/0), mtime 0.
    private static func header(name: [UInt8], prefix: [UInt8], type: UInt8, size: Int, link: [UInt8]) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: block)
        func put(_ bytes: [UInt8], at offset: Int) { for (i, b) in bytes.enumerated() { h[offset + i] = b } }
        func octal(_ value: Int, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8)
        }
        put(name, at: 0)
        put(octal(0o644, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)
        h[156] = type
        put(link, at: 157)
        put(Array("ustar\u{0}00".utf8), at: 257)
        put(Array("root".utf8), at: 265)
        put(Array("root".utf8), at: 297)
        put(octal(0, width: 8), at: 329)
        put(octal(0, width: 8), at: 337)
        put(prefix, at: 345)
        // The checksum is the byte sum with its own field as spaces: six digits, NUL, space.
        for i in 148 ..< 156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7) + [0, 0x20], at: 148)
        return h
    }

    /// `input` as one gzip member at `level`: zlib's gzip wrapper (mtime 0, no name), windowBits 15.
    private static func gzip(_ input: [UInt8], level: Int) throws(TarFailure) -> [UInt8] {
        // On the heap: zlib's state points back at the stream and checks that it has not moved.
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        // Z_DEFLATED = 8, memLevel 8, windowBits 15 + 16 for the gzip wrapper.
        guard deflateInit2_(stream, Int32(level), 8, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw TarFailure(message: "zlib cannot start a gzip encoder", isTruncation: false)
        }
        defer { deflateEnd(stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(stream, UInt(input.count))) + 64)
        var input = input
        let status = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.pointee.next_in = inBuffer.baseAddress
                stream.pointee.avail_in = UInt32(inBuffer.count)
                stream.pointee.next_out = outBuffer.baseAddress
                stream.pointee.avail_out = UInt32(outBuffer.count)
                return deflate(stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw TarFailure(message: "zlib failed to compress (status \(status))", isTruncation: false) }
        output.removeSubrange(Int(stream.pointee.total_out)...)
        return output
    }
}
