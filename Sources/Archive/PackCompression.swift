import CLZMA

// The only liblzma encoding call of the packer: xz's "extreme" preset with a dictionary sized to
// the input, over the plain tar TarArchiveWriter writes.

/// xz compression of a whole buffer, tuned for packs: small inputs made of many similar BTF files.
enum PackXZ {
    /// `LZMA_PRESET_EXTREME`; a macro with a cast that Swift does not import.
    private static let presetExtreme: UInt32 = 1 << 31
    /// `LZMA_FILTER_LZMA2`.
    private static let filterLZMA2: lzma_vli = 0x21
    /// `LZMA_VLI_UNKNOWN`, which ends a filter chain.
    private static let filterChainEnd: lzma_vli = .max
    /// `LZMA_CHECK_CRC64`, xz's default integrity check.
    private static let checkCRC64 = lzma_check(rawValue: 4)

    /// Compresses `input` into one .xz stream with preset 9 plus `extreme` (xz -9e), the
    /// dictionary cut down to the smallest power of two that holds the input (at least 64 KiB).
    /// A smaller dictionary changes nothing in the output's size for such inputs but caps what a
    /// decoder allocates, which matters to the runtime's memory budget.
    static func compress(_ input: [UInt8], preset: UInt32 = 9, extreme: Bool = true) throws(PackError) -> [UInt8] {
        var options = lzma_options_lzma()
        guard lzma_lzma_preset(&options, preset | (extreme ? presetExtreme : 0)) == 0 else {
            throw PackError(.compression, "liblzma rejects preset \(preset)\(extreme ? "e" : "")", file: "(xz)")
        }
        var dictionary: UInt32 = 64 << 10
        while Int(dictionary) < input.count && dictionary < options.dict_size { dictionary <<= 1 }
        options.dict_size = min(dictionary, options.dict_size)
        // lc/lp/pb stay at xz's defaults: on 85 trimmed btfhub kernels lp=2/pb=2 (4-byte records)
        // and lc=0..4 all came out 0.5-2.5% larger, and a delta filter 30-50% larger.

        var output = [UInt8](repeating: 0, count: lzma_stream_buffer_bound(input.count))
        var outputCount = 0
        let status = withUnsafeMutablePointer(to: &options) { optionsPointer in
            var filters = [lzma_filter(id: filterLZMA2, options: UnsafeMutableRawPointer(optionsPointer)),
                           lzma_filter(id: filterChainEnd, options: nil)]
            return input.withUnsafeBufferPointer { inputBuffer in
                output.withUnsafeMutableBufferPointer { outputBuffer in
                    lzma_stream_buffer_encode(&filters, checkCRC64, nil, inputBuffer.baseAddress, inputBuffer.count,
                                              outputBuffer.baseAddress, &outputCount, outputBuffer.count)
                }
            }
        }
        guard status == LZMA_OK else {
            throw PackError(.compression, "liblzma failed to compress (lzma_ret \(status.rawValue))", file: "(xz)")
        }
        output.removeSubrange(outputCount...)
        return output
    }
}
