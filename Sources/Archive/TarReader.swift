import BTF
import CLZMA
import CZlib
import Glibc

// Tar reading in Swift over liblzma (xz) and zlib (gzip): the only formats BTFKit reads (btfhub's
// .btf.tar.xz, packs in tar.xz or bpf-compatible's tar.gz), without libarchive, so that a static
// runner carries no archive library it does not use. Everything else sees `TarReader`,
// `TarMemberHeader` and `TarFailure`, never a liblzma or zlib status code.

/// Reading a tar stream failed: what went wrong and whether the input ended early (as opposed to
/// data that is wrong).
struct TarFailure: Error {
    /// What is wrong, in words.
    var message: String
    /// The input ended before the compressed stream or the tar structure did.
    var isTruncation: Bool
}

/// What a tar member is, from its header's type flag.
enum TarMemberType: Equatable {
    /// A regular file (`0`, NUL, `7`, or an unknown type, as tar readers treat them).
    case regularFile
    /// A directory (`5`).
    case directory
    /// A symbolic link (`2`).
    case symbolicLink
    /// A hard link to an earlier member (`1`).
    case hardLink
    /// A character or block device or a fifo: its `S_IF*` file type bits.
    case special(UInt32)
}

/// The header of one tar member.
struct TarMemberHeader {
    var path: String
    var type: TarMemberType
    /// The member's data size as its header declares it.
    var declaredSize: Int64?
    /// The target of a symbolic or hard link.
    var linkTarget: String?
}

/// A tar archive read forward once: headers with `nextMember()`, the current member's data with
/// `read(into:)`. From an open file descriptor (btfhub kernels: xz only) or from bytes in memory
/// (packs: xz, gzip or plain). ustar, GNU (long names) and pax (extended headers) are understood.
/// Not thread-safe; one per archive.
final class TarReader {
    private let stream: DecompressedStream
    /// Data bytes of the current member not read yet, and the padding after them.
    private var remaining: Int64 = 0
    private var padding: Int64 = 0
    private var ended = false
    /// The descriptor is read in blocks of this size.
    static let blockSize = 1 << 17
    private static let block = 512

    /// Starts reading an xz-compressed tar from `fileDescriptor` (which the caller keeps open and
    /// closes after this reader is gone).
    init(fileDescriptor: Int32) throws(TarFailure) {
        // btfhub archives are tar in xz; accepting nothing else gives a clear error for anything else.
        stream = try DecompressedStream(input: .descriptor(fileDescriptor), allowed: [.xz])
    }

    /// Starts reading a tar (xz- or gzip-compressed, or plain) from a private copy of `bytes`.
    init(bytes: some Collection<UInt8>) throws(TarFailure) {
        stream = try DecompressedStream(input: .memory(Array(bytes)), allowed: [.xz, .gzip, .none])
        // Short data that is neither xz nor gzip is not a tar either (a tar has 512-byte blocks).
        if stream.compression == .none && bytes.count < TarReader.block {
            throw TarFailure(message: "not a tar archive (unrecognized data)", isTruncation: false)
        }
    }

    /// Bytes of tar stream decompressed so far.
    var decompressedBytes: Int64 { stream.produced }

    /// Which compression the archive turned out to have: "xz", "gzip" or "none".
    var compressionName: String { stream.compression.rawValue }

    /// The next member's header, or `nil` at the end of the archive.
    func nextMember() throws(TarFailure) -> TarMemberHeader? {
        try skipMember()
        var longName: String?, longLink: String?
        var pax: [String: String] = [:]
        while !ended {
            guard let header = try stream.readBlock(count: TarReader.block, atBoundary: true) else {
                ended = true  // no end-of-archive blocks; what was read is whole
                return nil
            }
            if header.allSatisfy({ $0 == 0 }) {
                ended = true
                // The end-of-archive marker: the rest of the stream is padding, but it is read to its
                // end so that a compressed stream cut short or damaged there is still noticed.
                try stream.drain()
                return nil
            }
            try TarReader.verifyChecksum(header, first: stream.produced == Int64(TarReader.block))
            let size = try TarReader.size(header)
            let flag = header[156]
            switch flag {
            case UInt8(ascii: "x"), UInt8(ascii: "g"), UInt8(ascii: "L"), UInt8(ascii: "K"):
                // Extended headers: their data describes the next member (`g`, global, is ignored).
                guard size <= 1 << 20 else { throw TarFailure(message: "an extended tar header of \(size) bytes", isTruncation: false) }
                let data = try readData(size)
                if flag == UInt8(ascii: "x") { pax.merge(try TarReader.paxRecords(data)) { $1 } }
                if flag == UInt8(ascii: "L") { longName = TarReader.string(data[...]) }
                if flag == UInt8(ascii: "K") { longLink = TarReader.string(data[...]) }
                continue
            default:
                break
            }
            var path = TarReader.string(header[0 ..< 100])
            if header[257 ..< 262].elementsEqual("ustar".utf8) {
                let prefix = TarReader.string(header[345 ..< 500])
                if !prefix.isEmpty { path = prefix + "/" + path }
            }
            path = pax["path"] ?? longName ?? path
            var link = TarReader.string(header[157 ..< 257])
            link = pax["linkpath"] ?? longLink ?? link
            var declared = size
            if let paxSize = pax["size"] {
                guard let value = Int64(paxSize), value >= 0 else { throw TarFailure(message: "pax size \"\(paxSize)\" is not a size", isTruncation: false) }
                declared = value
            }
            let type: TarMemberType
            switch flag {
            case UInt8(ascii: "1"): type = .hardLink
            case UInt8(ascii: "2"): type = .symbolicLink
            case UInt8(ascii: "3"): type = .special(0o020000)
            case UInt8(ascii: "4"): type = .special(0o060000)
            case UInt8(ascii: "5"): type = .directory
            case UInt8(ascii: "6"): type = .special(0o010000)
            default: type = path.hasSuffix("/") ? .directory : .regularFile
            }
            // Links and directories carry no data, whatever their size field says.
            remaining = (type == .regularFile) ? declared : 0
            padding = (type == .regularFile) ? (Int64(TarReader.block) - declared % Int64(TarReader.block)) % Int64(TarReader.block) : 0
            return TarMemberHeader(path: path, type: type, declaredSize: declared,
                                   linkTarget: (type == .hardLink || type == .symbolicLink) ? link : nil)
        }
        return nil
    }

    /// Reads the current member's next bytes into `buffer`; returns how many, 0 at the end of the member.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TarFailure) -> Int {
        guard remaining > 0, buffer.count > 0 else { return 0 }
        let wanted = Int(min(Int64(buffer.count), remaining))
        let n = try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0 ..< wanted]))
        if n == 0 { throw TarFailure(message: "truncated tar archive: a member's data ends early", isTruncation: true) }
        remaining -= Int64(n)
        return n
    }

    /// Decompresses past the rest of the current member without keeping it.
    func skipMember() throws(TarFailure) {
        let total = remaining + padding
        remaining = 0
        padding = 0
        if total > 0 { try stream.skip(total) }
    }

    /// `size` bytes of the stream (an extended header's data) and their padding.
    private func readData(_ size: Int64) throws(TarFailure) -> [UInt8] {
        let padded = Int((size + 511) / 512 * 512)
        guard let data = try stream.readBlock(count: padded, atBoundary: false) else { return [] }
        return Array(data.prefix(Int(size)))
    }

    /// The header's checksum (field at 148, octal) against the sum of its bytes with that field as spaces.
    private static func verifyChecksum(_ header: [UInt8], first: Bool) throws(TarFailure) {
        var sum = 0, signedSum = 0  // some old writers summed signed chars; tar accepts both
        for (i, byte) in header.enumerated() {
            sum += (148 ..< 156).contains(i) ? 0x20 : Int(byte)
            signedSum += (148 ..< 156).contains(i) ? 0x20 : Int(Int8(bitPattern: byte))
        }
        guard let stored = octal(header[148 ..< 156]), stored == Int64(sum) || stored == Int64(signedSum) else {
            throw TarFailure(message: first ? "not a tar archive (unrecognized data)" : "damaged tar header (checksum mismatch)", isTruncation: false)
        }
    }

    /// The size field (124, 12 bytes): octal, or base-256 when its first byte has the high bit set.
    private static func size(_ header: [UInt8]) throws(TarFailure) -> Int64 {
        let field = header[124 ..< 136]
        if field.first! & 0x80 != 0 {
            var value: Int64 = Int64(field.first! & 0x7f)
            for byte in field.dropFirst() {
                guard value < Int64.max >> 8 else { throw TarFailure(message: "tar member size out of range", isTruncation: false) }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        guard let value = octal(field) else { throw TarFailure(message: "damaged tar header (size field)", isTruncation: false) }
        return value
    }

    /// An octal number field: leading spaces, digits, then NULs or spaces; empty means 0.
    private static func octal(_ field: ArraySlice<UInt8>) -> Int64? {
        var value: Int64 = 0
        var digits = field.drop { $0 == 0x20 }
        if let end = digits.firstIndex(where: { $0 == 0 || $0 == 0x20 }) { digits = digits[..<end] }
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "7"), value < Int64.max >> 3 else { return nil }
            value = value << 3 | Int64(byte - UInt8(ascii: "0"))
        }
        return value
    }

    /// A NUL-terminated string field.
    private static func string(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// pax records: "LENGTH KEY=VALUE\n", LENGTH counting the whole record.
    private static func paxRecords(_ data: [UInt8]) throws(TarFailure) -> [String: String] {
        var records: [String: String] = [:]
        var at = 0
        while at < data.count, data[at] != 0 {
            guard let space = data[at...].firstIndex(of: 0x20),
                  let length = Int(String(decoding: data[at ..< space], as: UTF8.self)), length > space - at + 2, at + length <= data.count,
                  let equals = data[(space + 1) ..< (at + length)].firstIndex(of: UInt8(ascii: "=")) else {
                throw TarFailure(message: "damaged pax extended header", isTruncation: false)
            }
            records[String(decoding: data[(space + 1) ..< equals], as: UTF8.self)] =
                String(decoding: data[(equals + 1) ..< (at + length - 1)], as: UTF8.self)
            at += length
        }
        return records
    }
}

/// The decompressed bytes of an input, pulled as needed.
private final class DecompressedStream {
    enum Input {
        case descriptor(Int32)
        case memory([UInt8])
    }

    enum Compression: String {
        case xz, gzip, none
    }

    private(set) var compression: Compression = .none
    /// Decompressed bytes handed out so far.
    private(set) var produced: Int64 = 0
    private let input: Input
    /// Compressed input read from the descriptor (or the whole input in memory), and how much of it is used.
    private var inputBuffer: [UInt8]
    private var inputUsed = 0
    private var inputEnded = false
    private var decoder: Decoder
    /// Decompressed bytes waiting to be handed out (`outputFilled` of them), for reads smaller than
    /// `directReadSize`; larger reads are decompressed straight into the caller's buffer.
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
    private var outputFilled = 0
    private var outputUsed = 0
    private var streamEnded = false
    /// Reads at least this large skip `output`: a kernel's `.btf` member is decompressed into its
    /// final buffer, with no copy through a staging buffer.
    private static let directReadSize = 1 << 16

    private enum Decoder {
        case none
        case xz(UnsafeMutablePointer<lzma_stream>)
        case gzip(UnsafeMutablePointer<z_stream>)
    }

    init(input: Input, allowed: Set<Compression>) throws(TarFailure) {
        self.input = input
        switch input {
        case .memory(let bytes):
            inputBuffer = bytes
            inputEnded = true
        case .descriptor:
            inputBuffer = []
        }
        decoder = .none
        // The first bytes say the compression: xz's magic FD 37 7A 58 5A 00, gzip's 1F 8B.
        try fillInput(atLeast: 6)
        let head = inputBuffer.prefix(6)
        let found: Compression = head.elementsEqual([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) ? .xz
            : head.starts(with: [0x1f, 0x8b]) ? .gzip : .none
        guard allowed.contains(found) else {
            throw TarFailure(message: head.isEmpty ? "empty input" : "not an xz stream (unrecognized data)", isTruncation: head.isEmpty)
        }
        compression = found
        switch found {
        case .xz:
            let stream = UnsafeMutablePointer<lzma_stream>.allocate(capacity: 1)
            stream.initialize(to: lzma_stream())  // LZMA_STREAM_INIT is all zeros
            // No memory limit: packs and btfhub files use at most a 64 MiB dictionary; the caller caps the output.
            guard lzma_stream_decoder(stream, .max, 0) == LZMA_OK else {
                stream.deallocate()
                throw TarFailure(message: "liblzma cannot start an xz decoder", isTruncation: false)
            }
            decoder = .xz(stream)
        case .gzip:
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            // windowBits 15 + 16: a gzip wrapper, not zlib's.
            guard inflateInit2_(stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                stream.deallocate()
                throw TarFailure(message: "zlib cannot start a gzip decoder", isTruncation: false)
            }
            decoder = .gzip(stream)
        case .none:
            break
        }
    }

    deinit {
        switch decoder {
        case .xz(let stream): lzma_end(stream); stream.deallocate()
        case .gzip(let stream): inflateEnd(stream); stream.deallocate()
        case .none: break
        }
        output.deallocate()
    }

    /// Exactly `count` bytes; `nil` when the stream ends right here (only allowed `atBoundary`,
    /// otherwise and in the middle a truncation).
    func readBlock(count: Int, atBoundary: Bool) throws(TarFailure) -> [UInt8]? {
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
        defer { block.deallocate() }
        var filled = 0
        while filled < count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: block[filled...]))
            if n == 0 {
                if filled == 0 && atBoundary { return nil }
                throw TarFailure(message: "truncated tar archive: the input ends inside a header", isTruncation: true)
            }
            filled += n
        }
        return Array(block)
    }

    /// Decompresses to the end of the stream, keeping nothing.
    func drain() throws(TarFailure) {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { scratch.deallocate() }
        var drained = 0
        while true {
            let n = try read(into: scratch)
            if n == 0 { return }
            drained += n
            // Real archives end with a few blocks of zeros; far more is a decompression bomb.
            if drained > 16 << 20 { throw TarFailure(message: "more than 16 MiB of data after the end of the tar archive", isTruncation: false) }
        }
    }

    /// Decompresses past `count` bytes.
    func skip(_ count: Int64) throws(TarFailure) {
        var left = count
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { scratch.deallocate() }
        while left > 0 {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0 ..< Int(min(left, Int64(scratch.count)))]))
            if n == 0 { throw TarFailure(message: "truncated tar archive: a member's data ends early", isTruncation: true) }
            left -= Int64(n)
        }
    }

    /// Up to `buffer.count` decompressed bytes; 0 only at the end of the stream.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TarFailure) -> Int {
        guard buffer.count > 0 else { return 0 }
        if case .none = decoder {
            try fillInput(atLeast: 1)
            let n = min(buffer.count, inputBuffer.count - inputUsed)
            inputBuffer.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[inputUsed ..< inputUsed + n])) }
            inputUsed += n
            produced += Int64(n)
            return n
        }
        if outputUsed == outputFilled {
            if streamEnded { return 0 }
            if buffer.count >= Self.directReadSize {
                let n = try decode(into: buffer)
                produced += Int64(n)
                return n
            }
            outputFilled = try decode(into: output)
            outputUsed = 0
            if outputFilled == 0 { return 0 }
        }
        let n = min(buffer.count, outputFilled - outputUsed)
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: output[outputUsed ..< outputUsed + n]))
        outputUsed += n
        produced += Int64(n)
        return n
    }

    /// Runs the decoder over the input into `target` until it produces output or the stream ends;
    /// returns how many bytes it wrote (0 only at the end of the stream).
    private func decode(into target: UnsafeMutableRawBufferPointer) throws(TarFailure) -> Int {
        var made = 0
        while made == 0 && !streamEnded {
            try fillInput(atLeast: 1)
            let available = inputBuffer.count - inputUsed
            let finishing = inputEnded
            var consumed = 0
            var failure: TarFailure?
            let outBuffer = target.bindMemory(to: UInt8.self)
            inputBuffer.withUnsafeBufferPointer { inBuffer in
                let next = inBuffer.baseAddress.map { $0 + inputUsed }
                switch decoder {
                case .xz(let stream):
                    stream.pointee.next_in = next
                    stream.pointee.avail_in = available
                    stream.pointee.next_out = outBuffer.baseAddress
                    stream.pointee.avail_out = outBuffer.count
                    let status = lzma_code(stream, finishing ? LZMA_FINISH : LZMA_RUN)
                    consumed = available - stream.pointee.avail_in
                    made = outBuffer.count - stream.pointee.avail_out
                    switch status {
                    case LZMA_OK: break
                    case LZMA_STREAM_END: streamEnded = true
                    case LZMA_BUF_ERROR:
                        if made == 0 { failure = TarFailure(message: "truncated xz stream: the input ends before the stream does", isTruncation: true) }
                    case LZMA_MEMLIMIT_ERROR, LZMA_MEM_ERROR: failure = TarFailure(message: "liblzma is out of memory", isTruncation: false)
                    case LZMA_FORMAT_ERROR: failure = TarFailure(message: "not an xz stream", isTruncation: false)
                    case LZMA_OPTIONS_ERROR: failure = TarFailure(message: "unsupported xz options", isTruncation: false)
                    default: failure = TarFailure(message: "damaged xz data (lzma_ret \(status.rawValue))", isTruncation: false)
                    }
                case .gzip(let stream):
                    stream.pointee.next_in = UnsafeMutablePointer(mutating: next)
                    stream.pointee.avail_in = UInt32(min(available, Int(UInt32.max)))
                    stream.pointee.next_out = outBuffer.baseAddress
                    let room = UInt32(min(outBuffer.count, Int(UInt32.max)))
                    stream.pointee.avail_out = room
                    let given = Int(stream.pointee.avail_in)
                    let status = inflate(stream, Z_NO_FLUSH)
                    consumed = given - Int(stream.pointee.avail_in)
                    made = Int(room - stream.pointee.avail_out)
                    switch status {
                    case Z_OK: break
                    case Z_STREAM_END: streamEnded = true
                    case Z_BUF_ERROR:
                        if made == 0 && finishing { failure = TarFailure(message: "truncated gzip stream: the input ends before the stream does", isTruncation: true) }
                    case Z_MEM_ERROR: failure = TarFailure(message: "zlib is out of memory", isTruncation: false)
                    default:
                        let text = stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
                        failure = TarFailure(message: "damaged gzip data (\(text))", isTruncation: false)
                    }
                case .none:
                    break
                }
            }
            inputUsed += consumed
            if let failure { throw failure }
            if !streamEnded, made == 0, consumed == 0, finishing, inputUsed == inputBuffer.count {
                throw TarFailure(message: "truncated \(compression.rawValue) stream: the input ends before the stream does", isTruncation: true)
            }
        }
        return made
    }

    /// Reads more of the descriptor until `count` unused input bytes are there or it ends.
    private func fillInput(atLeast count: Int) throws(TarFailure) {
        guard case .descriptor(let fd) = input else { return }
        if inputUsed > 0 && inputUsed == inputBuffer.count {
            inputBuffer.removeAll(keepingCapacity: true)
            inputUsed = 0
        }
        while !inputEnded && inputBuffer.count - inputUsed < count {
            var block = [UInt8](repeating: 0, count: TarReader.blockSize)
            let n: Int
            do { n = try block.withUnsafeMutableBytes { (buffer) throws(Errno) in try retryingOnInterrupt { readDescriptor(fd, buffer) } } } catch {
                throw TarFailure(message: "cannot read: \(error)", isTruncation: false)
            }
            if n == 0 { inputEnded = true; break }
            inputBuffer.append(contentsOf: block[0 ..< n])
        }
    }
}

/// `read(2)` into `buffer` (outside the classes, whose own `read` methods would shadow it).
private func readDescriptor(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
    read(fd, buffer.baseAddress, buffer.count)
}
