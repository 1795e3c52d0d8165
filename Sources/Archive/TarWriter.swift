// Tar writing for packs, in Swift (ustar, pax extended headers for long names), streamed through
// the pack's compression (PackCompression.swift) into a PackSink. TarReader.swift is the reading side.

/// The compression applied while writing a tar.
enum TarWriterCompression {
    /// A bare tar stream.
    case none
    /// gzip at `level` (1-9), without a timestamp or file name in the gzip header.
    case gzip(level: Int)
    /// xz -9e (`PackXZ`), its dictionary sized for a tar of `tarSize` bytes (`TarArchiveWriter.size`).
    case xz(tarSize: Int)
}

/// A tar archive written member by member, with fixed ownership, permissions and times so that
/// the same members always give the same bytes. Each member goes through the compression to the
/// sink as it is added: only the member being added is in memory. Not thread-safe; one per archive.
final class TarArchiveWriter {
    private let sink: PackSink
    private let encoder: any PackEncoder
    private static let block = 512
    private static let zeros = [UInt8](repeating: 0, count: block)

    /// A writer into `sink` (by default, into memory: `finish()` returns the archive).
    init(compression: TarWriterCompression, into sink: PackSink = PackSink()) throws(PackError) {
        self.sink = sink
        switch compression {
        case .none: encoder = PlainPackEncoder(sink: sink)
        case .gzip(let level): encoder = try PackGzip(level: level, sink: sink)
        case .xz(let tarSize): encoder = try PackXZ(inputSize: tarSize, sink: sink)
        }
    }

    /// Adds a regular file `path` holding `contents` (mode 0644, owner root:root, mtime 0).
    func addFile(path: String, contents: [UInt8]) throws(PackError) {
        try emit(TarArchiveWriter.headers(path: path, type: UInt8(ascii: "0"), size: contents.count, link: ""))
        try emit(contents)
        try emit(Array(TarArchiveWriter.zeros.prefix(TarArchiveWriter.padding(contents.count))))
    }

    /// Adds `path` as a hard link to the earlier member `target` (tar type '1', no data of its own).
    func addHardLink(path: String, target: String) throws(PackError) {
        try emit(TarArchiveWriter.headers(path: path, type: UInt8(ascii: "1"), size: 0, link: target))
    }

    /// Writes the end-of-archive marker (two zero blocks) and ends the compression; returns the
    /// whole archive when the sink is memory (empty otherwise).
    @discardableResult
    func finish() throws(PackError) -> [UInt8] {
        try emit(TarArchiveWriter.zeros + TarArchiveWriter.zeros)
        try encoder.finish()
        return sink.bytes
    }

    /// The size of a plain tar of `members` (a path, a hard link target or `nil`, the size of the
    /// file's data): what `.xz(tarSize:)` needs before the first member is written.
    static func size(of members: some Sequence<(path: String, link: String?, size: Int)>) -> Int {
        members.reduce(2 * block) { total, member in
            let link = member.link ?? ""
            let size = member.link == nil ? member.size : 0
            return total + headers(path: member.path, type: 0, size: size, link: link).count + size + padding(size)
        }
    }

    private func emit(_ bytes: [UInt8]) throws(PackError) {
        try bytes.withUnsafeBytes { buffer in Result { () throws(PackError) in try encoder.encode(buffer) } }.get()
    }

    /// Zero bytes after `size` bytes of data, up to the next block.
    private static func padding(_ size: Int) -> Int { (block - size % block) % block }

    /// A ustar header; a path or link that does not fit ustar's fields first gets a pax extended
    /// header (`x`) carrying it, as pax-restricted writers do.
    private static func headers(path: String, type: UInt8, size: Int, link: String) -> [UInt8] {
        var tar: [UInt8] = []
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
            tar += [UInt8](repeating: 0, count: padding(records.count))
        }
        let (prefix, name) = split ?? ([], Array(path.utf8.suffix(100)))
        tar += TarArchiveWriter.header(name: name, prefix: prefix, type: type, size: size, link: Array(link.utf8.prefix(100)))
        return tar
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
}
