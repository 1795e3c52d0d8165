// libFuzzer target: the pack reader (xz or gzip tar of trimmed BTF), whole-pack and single-kernel lookups.
//
// The first input byte picks the mode:
//   even: the rest is the pack as stored (tar.xz or tar.gz): mostly exercises the decompressors'
//         integrity checks, since a mutated xz block fails its CRC.
//   odd:  the rest is a bare tar, wrapped here in gzip (stored, level 0) before reading: the tar
//         headers, paths, links and sizes are what the fuzzer mutates.
import Archive
import BTF
import CZlib

/// A small cap, so that the fuzzer finds bombs quickly and never runs out of memory on one.
private let fuzzMaxExpandedSize = 8 << 20
private let probe = KernelIdentity(distro: "ubuntu", version: "20.04", arch: "x86_64", release: "5.4.0-1-generic")

/// `bytes` in a gzip stream, stored without compression.
private func gzipStored(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
    var stream = z_stream()
    guard deflateInit2_(&stream, 0, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        fatalError("deflateInit2 failed")
    }
    defer { deflateEnd(&stream) }
    var input = Array(bytes)
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 64)
    let produced = input.withUnsafeMutableBufferPointer { inBuffer in
        output.withUnsafeMutableBufferPointer { outBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = UInt32(inBuffer.count)
            stream.next_out = outBuffer.baseAddress
            stream.avail_out = UInt32(outBuffer.count)
            guard deflate(&stream, Z_FINISH) == Z_STREAM_END else { fatalError("deflate did not finish") }
            return outBuffer.count - Int(stream.avail_out)
        }
    }
    return Array(output[..<produced])
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPack(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let mode = input.first else { return 0 }
    let bytes = mode & 1 == 1 ? gzipStored(input[1...]) : Array(input[1...])
    if let pack = try? BTFPack(bytes: bytes, source: "fuzz-input", maxExpandedSize: fuzzMaxExpandedSize) {
        // What the runtime does next: take an entry and parse it as BTF.
        for identity in pack.identities {
            if let btf = pack.btf(for: identity) { _ = try? BTF(parsing: btf, file: identity.description) }
        }
        _ = pack.missingEntryError(for: probe)
        if let first = pack.identities.first {
            _ = try? BTFPack.btf(for: first, inPack: bytes, source: "fuzz-input", maxExpandedSize: fuzzMaxExpandedSize)
        }
    }
    _ = try? BTFPack.btf(for: probe, inPack: bytes, source: "fuzz-input", maxExpandedSize: fuzzMaxExpandedSize)
    return 0
}
