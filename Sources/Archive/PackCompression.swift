import BTF
import CLZMA
import CZlib

// The packer's compression, fed piece by piece so that no pack is ever whole in memory before it
// is compressed: xz's "extreme" preset with a dictionary sized to the input (liblzma), and gzip -9
// for bpf-compatible's tar.gz (zlib). TarArchiveWriter feeds them; a PackSink takes their output.
// TarReader.swift holds the decoding side.

/// Where a pack's bytes go: memory (a pack embedded in a runner, tests), or an output file written
/// atomically (`btf-pack`), so that the pack need not be held in memory at all.
final class PackSink {
    private let file: FileIO.AtomicFile?
    /// What was written, when in memory.
    private(set) var bytes: [UInt8] = []
    /// How many bytes were written.
    private(set) var count = 0

    /// A sink into memory.
    init() { file = nil }

    /// A sink into `file`, which the caller commits.
    init(file: FileIO.AtomicFile) { self.file = file }

    func write(_ buffer: UnsafeRawBufferPointer) throws(PackError) {
        count += buffer.count
        guard let file else {
            bytes.append(contentsOf: buffer)
            return
        }
        do { try file.write(buffer) } catch { throw PackError(.unreadable, error.problem, file: file.path) }
    }
}

/// A compressor (or none) fed piece by piece; its output goes to a `PackSink`.
protocol PackEncoder: AnyObject {
    /// Compresses `input` (output may be held back until more comes or `finish`).
    func encode(_ input: UnsafeRawBufferPointer) throws(PackError)
    /// Ends the stream, writing what is held back and the trailer.
    func finish() throws(PackError)
}

/// No compression: a plain tar.
final class PlainPackEncoder: PackEncoder {
    private let sink: PackSink
    init(sink: PackSink) { self.sink = sink }
    func encode(_ input: UnsafeRawBufferPointer) throws(PackError) { try sink.write(input) }
    func finish() {}
}

/// The size of the output buffer both encoders fill before handing it to the sink.
private let encoderChunkSize = 64 << 10

/// xz compression tuned for packs: small inputs made of many similar BTF files. One .xz stream,
/// preset 9 plus `extreme` (xz -9e), CRC64, the dictionary cut down to the smallest power of two
/// that holds the input (at least 64 KiB): a smaller one changes nothing in the output's size for
/// such inputs but caps what a decoder allocates, which matters to the runtime's memory budget,
/// and what this encoder allocates (about 12 times the dictionary). The input's size must be known
/// before the first byte (`inputSize`); the tar writer computes it from the members' sizes.
final class PackXZ: PackEncoder {
    /// `LZMA_PRESET_EXTREME`; a macro with a cast that Swift does not import.
    private static let presetExtreme: UInt32 = 1 << 31
    /// `LZMA_FILTER_LZMA2`.
    private static let filterLZMA2: lzma_vli = 0x21
    /// `LZMA_VLI_UNKNOWN`, which ends a filter chain.
    private static let filterChainEnd: lzma_vli = .max
    /// `LZMA_CHECK_CRC64`, xz's default integrity check.
    private static let checkCRC64 = lzma_check(rawValue: 4)

    // On the heap: liblzma keeps pointers into the stream while it runs.
    private let stream: UnsafeMutablePointer<lzma_stream>
    private let sink: PackSink
    private let output: UnsafeMutableRawBufferPointer
    /// The dictionary chosen, in bytes.
    let dictionarySize: Int

    init(inputSize: Int, sink: PackSink, preset: UInt32 = 9, extreme: Bool = true) throws(PackError) {
        var options = lzma_options_lzma()
        guard lzma_lzma_preset(&options, preset | (extreme ? PackXZ.presetExtreme : 0)) == 0 else {
            throw PackError(.compression, "liblzma rejects preset \(preset)\(extreme ? "e" : "")", file: "(xz)")
        }
        var dictionary: UInt32 = 64 << 10
        while Int(dictionary) < inputSize && dictionary < options.dict_size { dictionary <<= 1 }
        options.dict_size = min(dictionary, options.dict_size)
        dictionarySize = Int(options.dict_size)
        // lc/lp/pb stay at xz's defaults: on 85 trimmed btfhub kernels lp=2/pb=2 (4-byte records)
        // and lc=0..4 all came out 0.5-2.5% larger, and a delta filter 30-50% larger.
        self.sink = sink
        output = UnsafeMutableRawBufferPointer.allocate(byteCount: encoderChunkSize, alignment: 16)
        stream = UnsafeMutablePointer<lzma_stream>.allocate(capacity: 1)
        stream.initialize(to: lzma_stream())  // LZMA_STREAM_INIT is all zeros
        // liblzma copies the options while it initialises the encoder.
        let status = withUnsafeMutablePointer(to: &options) { optionsPointer in
            var filters = [lzma_filter(id: PackXZ.filterLZMA2, options: UnsafeMutableRawPointer(optionsPointer)),
                           lzma_filter(id: PackXZ.filterChainEnd, options: nil)]
            return lzma_stream_encoder(stream, &filters, PackXZ.checkCRC64)
        }
        // On failure deinit frees what was allocated (lzma_end of a stream never started does nothing).
        guard status == LZMA_OK else {
            throw PackError(.compression, "liblzma cannot start an xz encoder (lzma_ret \(status.rawValue))", file: "(xz)")
        }
    }

    deinit {
        lzma_end(stream)
        stream.deallocate()
        output.deallocate()
    }

    func encode(_ input: UnsafeRawBufferPointer) throws(PackError) {
        guard !input.isEmpty else { return }
        try run(input, action: LZMA_RUN)
    }

    func finish() throws(PackError) {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), action: LZMA_FINISH)
    }

    /// Runs `lzma_code` over `input` until it is consumed (LZMA_RUN) or the stream ends
    /// (LZMA_FINISH), handing each full output buffer to the sink.
    private func run(_ input: UnsafeRawBufferPointer, action: lzma_action) throws(PackError) {
        stream.pointee.next_in = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_in = input.count
        while true {
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = output.count
            let status = lzma_code(stream, action)
            let produced = output.count - stream.pointee.avail_out
            if produced > 0 { try sink.write(UnsafeRawBufferPointer(rebasing: output[..<produced])) }
            switch status {
            case LZMA_STREAM_END:
                return
            case LZMA_OK:
                // Everything taken and nothing left to write out: more input may come.
                if action == LZMA_RUN && stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return }
            default:
                throw PackError(.compression, "liblzma failed to compress (lzma_ret \(status.rawValue))", file: "(xz)")
            }
        }
    }

    /// `input` compressed into one .xz stream as a pack is (tests build odd packs with it).
    static func compress(_ input: [UInt8], preset: UInt32 = 9, extreme: Bool = true) throws(PackError) -> [UInt8] {
        let sink = PackSink()
        let encoder = try PackXZ(inputSize: input.count, sink: sink, preset: preset, extreme: extreme)
        try input.withUnsafeBytes { buffer in Result { () throws(PackError) in try encoder.encode(buffer) } }.get()
        try encoder.finish()
        return sink.bytes
    }
}

/// gzip at a level (1-9), without a timestamp or file name in the header, so that the same input
/// always gives the same bytes: zlib's gzip wrapper (mtime 0, no name), windowBits 15, memLevel 8.
final class PackGzip: PackEncoder {
    // On the heap: zlib's state points back at the stream and checks that it has not moved.
    private let stream: UnsafeMutablePointer<z_stream>
    private let sink: PackSink
    private let output: UnsafeMutableRawBufferPointer

    init(level: Int, sink: PackSink) throws(PackError) {
        guard (1 ... 9).contains(level) else { throw PackError(.compression, "gzip level \(level) is not 1-9", file: "(gzip)") }
        self.sink = sink
        output = UnsafeMutableRawBufferPointer.allocate(byteCount: encoderChunkSize, alignment: 16)
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // Z_DEFLATED = 8, memLevel 8, windowBits 15 + 16 for the gzip wrapper.
        // On failure deinit frees what was allocated (deflateEnd of a stream never started does nothing).
        guard deflateInit2_(stream, Int32(level), 8, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw PackError(.compression, "zlib cannot start a gzip encoder", file: "(gzip)")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }

    func encode(_ input: UnsafeRawBufferPointer) throws(PackError) {
        guard !input.isEmpty else { return }
        try run(input, flush: Z_NO_FLUSH)
    }

    func finish() throws(PackError) {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH)
    }

    /// Runs `deflate` over `input` until it is consumed (Z_NO_FLUSH) or the stream ends (Z_FINISH).
    private func run(_ input: UnsafeRawBufferPointer, flush: Int32) throws(PackError) {
        // zlib's next_in is not const; it does not write through it.
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        var remaining = input.count
        while true {
            // avail_in is 32 bits: hand over at most 1 GiB at a time.
            let offered = min(remaining, 1 << 30)
            stream.pointee.avail_in = UInt32(offered)
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(output.count)
            let status = deflate(stream, flush)
            let produced = output.count - Int(stream.pointee.avail_out)
            remaining -= offered - Int(stream.pointee.avail_in)
            if produced > 0 { try sink.write(UnsafeRawBufferPointer(rebasing: output[..<produced])) }
            switch status {
            case Z_STREAM_END:
                return
            case Z_OK, Z_BUF_ERROR:
                // Z_BUF_ERROR: no progress possible, which with Z_NO_FLUSH means all input is taken.
                if flush == Z_NO_FLUSH && remaining == 0 && stream.pointee.avail_out > 0 { return }
                if status == Z_BUF_ERROR && flush == Z_FINISH {
                    throw PackError(.compression, "zlib failed to finish the gzip stream", file: "(gzip)")
                }
            default:
                throw PackError(.compression, "zlib failed to compress (status \(status))", file: "(gzip)")
            }
        }
    }
}
