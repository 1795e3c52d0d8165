import BTF
@testable import TestSupport
import Testing

/// `BTF.readBlob` (a blob read front to back, its sections straight into a `BTF`'s arrays, as
/// btf-trim decompresses a kernel) must be `BTF(parsing:)` by other means: every blob, good or
/// damaged, parses to the same BTF or fails with the same error, whichever way it was read.
@Suite("A blob read front to back parses exactly as the same bytes read whole")
struct StreamedBlobTests {
    /// What a blob reads as: the BTF written back, or the error's text.
    enum Outcome: Equatable {
        case parsed([UInt8])
        case failed(String)
    }

    /// How `readBlob` took the blob.
    enum Path { case sections, bytes }

    /// `bytes` read through `readBlob` from a source that hands out exactly what is asked, then
    /// parsed; also checks that the whole blob, and no more, was read.
    static func streamed(_ bytes: [UInt8], file: String = "blob.btf") throws -> (Outcome, Path) {
        var position = 0
        let blob = try BTF.readBlob(size: bytes.count) { (buffer: UnsafeMutableRawBufferPointer) throws(SourceEnded) in
            guard position + buffer.count <= bytes.count else { throw SourceEnded() }
            bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[position ..< position + buffer.count])) }
            position += buffer.count
        }
        #expect(position == bytes.count, "\(file): \(position) of \(bytes.count) bytes read")
        switch blob {
        case .sections(let sections):
            #expect(sections.blobSize == bytes.count)
            do { return (.parsed(try BTF(sections: sections, file: file).serialized()), .sections) } catch {
                return (.failed(error.description), .sections)
            }
        case .bytes(let read):
            #expect(read == bytes, "\(file): the bytes handed back are the blob")
            return (whole(read, file: file), .bytes)
        }
    }

    static func whole(_ bytes: [UInt8], file: String = "blob.btf") -> Outcome {
        do { return .parsed(try BTF(parsing: bytes, file: file).serialized()) } catch { return .failed(error.description) }
    }

    struct SourceEnded: Error {}

    /// Checks one blob both ways; returns the path `readBlob` took.
    @discardableResult
    static func expectSame(_ bytes: [UInt8], _ what: String) throws -> Path {
        let (outcome, path) = try streamed(bytes, file: what)
        #expect(outcome == whole(bytes, file: what), "\(what) (read as \(path))")
        return path
    }

    @Test("a real kernel, and every kind in both byte orders, stream their sections and parse the same")
    func goodBlobs() throws {
        let (kernel, name) = try MalformedInputTests.realKernelBTF()
        #expect(try Self.expectSame(kernel, name) == .sections)
        for order in [ByteOrder.little, .big] {
            let bytes = AllKindsBTF.build().serialized(byteOrder: order)
            #expect(try Self.expectSame(bytes, "all-kinds \(order)") == .sections)
        }
    }

    @Test("a kind-layout section between types and strings, after the strings, and gaps between sections")
    func sectionPlacements() throws {
        let sample = AllKindsBTF.build()
        let types = sample.words, strings = sample.strings
        let layouts: [UInt8] = [0, 0, 0, 0, 4, 0, 0, 0]
        /// Header (32 bytes), then each section at the offset given (after the header).
        func assemble(typeOff: Int, strOff: Int, layoutOff: Int, layoutLen: Int, total: Int) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: 32 + total)
            bytes[0] = 0x9f; bytes[1] = 0xeb; bytes[2] = 1
            for (at, value) in [(4, 32), (8, typeOff), (12, types.count * 4), (16, strOff), (20, strings.count),
                                (24, layoutOff), (28, layoutLen)] {
                MalformedInputTests.store(UInt32(value), at: at, in: &bytes)
            }
            for (i, word) in types.enumerated() { MalformedInputTests.store(word, at: 32 + typeOff + 4 * i, in: &bytes) }
            bytes.replaceSubrange(32 + strOff ..< 32 + strOff + strings.count, with: strings)
            if layoutLen > 0 { bytes.replaceSubrange(32 + layoutOff ..< 32 + layoutOff + layoutLen, with: layouts.prefix(layoutLen)) }
            return bytes
        }
        let t = types.count * 4, s = strings.count
        let placements: [(String, [UInt8])] = [
            ("layout between types and strings", assemble(typeOff: 0, strOff: t + 8, layoutOff: t, layoutLen: 8, total: t + 8 + s)),
            ("layout after the strings", assemble(typeOff: 0, strOff: t, layoutOff: t + s, layoutLen: 8, total: t + s + 8)),
            ("gaps before and between sections, and after the last",
             assemble(typeOff: 16, strOff: t + 40, layoutOff: t + 24, layoutLen: 8, total: t + 40 + s + 12)),
            ("no layout, an empty one at a wild offset", assemble(typeOff: 0, strOff: t, layoutOff: 0x40000, layoutLen: 0, total: t + s)),
        ]
        for (what, bytes) in placements {
            #expect(try Self.expectSame(bytes, what) == .sections, "\(what)")
            if case .failed(let error) = Self.whole(bytes) { Issue.record("\(what) must parse: \(error)") }
        }
        // A layout overlapping the types is read whole, so the error is the one BTF(parsing:) gives.
        let overlapping = assemble(typeOff: 0, strOff: t, layoutOff: 4, layoutLen: 8, total: t + s)
        #expect(try Self.expectSame(overlapping, "layout overlapping the types") == .bytes)
    }

    @Test("damaged headers and records fail with the same error either way")
    func damagedBlobs() throws {
        let good = AllKindsBTF.build().serialized(byteOrder: .little)
        let size = good.count
        func mutated(_ change: (inout [UInt8]) -> Void) -> [UInt8] {
            var copy = good
            change(&copy)
            return copy
        }
        let cases: [(String, [UInt8])] = [
            ("empty", []), ("shorter than a header", Array(good.prefix(12))), ("header only", Array(good.prefix(24))),
            ("bad magic", mutated { $0[0] = 0x9e }), ("bad version", mutated { $0[2] = 2 }),
            ("header length too small", mutated { MalformedInputTests.store(16, at: 4, in: &$0) }),
            ("header length past the end", mutated { MalformedInputTests.store(UInt32(size + 1), at: 4, in: &$0) }),
            ("header length 4 GiB", mutated { MalformedInputTests.store(.max, at: 4, in: &$0) }),
            ("longer header, non-zero unknown bytes", Array(MalformedInputTests.withLongHeader(good, extra: [0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0]))),
            ("type section past the end", mutated { MalformedInputTests.store(UInt32(size), at: 12, in: &$0) }),
            ("string section past the end", mutated { MalformedInputTests.store(.max, at: 20, in: &$0) }),
            ("overlapping sections", mutated { MalformedInputTests.store(8, at: 16, in: &$0); MalformedInputTests.store(8, at: 20, in: &$0) }),
            ("type length not a multiple of 4", mutated { MalformedInputTests.store(10, at: 12, in: &$0) }),
            ("an invalid kind", mutated { $0[24 + 7] = 0x7f }),
            ("cut one byte short", Array(good.dropLast())),
        ]
        for (what, bytes) in cases { try Self.expectSame(bytes, what) }
        // Random damage, both byte orders: 1-3 flipped bits, half of them in the first 256 bytes.
        var rng = SeededGenerator(seed: 0x5712_ea4d)
        for order in [ByteOrder.little, .big] {
            let original = AllKindsBTF.build().serialized(byteOrder: order)
            for round in 0 ..< 600 {
                var bytes = original
                for _ in 0 ..< Int.random(in: 1 ... 3, using: &rng) {
                    let limit = Bool.random(using: &rng) ? min(bytes.count, 256) : bytes.count
                    bytes[Int.random(in: 0 ..< limit, using: &rng)] ^= 1 << UInt8.random(in: 0 ..< 8, using: &rng)
                }
                try Self.expectSame(bytes, "flip round \(round) (\(order))")
            }
        }
    }

    @Test("a source that fails part way: its own error comes out of readBlob")
    func failingSource() throws {
        let (kernel, _) = try MalformedInputTests.realKernelBTF()
        for failAt in [0, 10, 24, 4096, kernel.count / 2, kernel.count - 1] {
            var position = 0
            #expect(throws: SourceEnded.self) {
                try BTF.readBlob(size: kernel.count) { (buffer: UnsafeMutableRawBufferPointer) throws(SourceEnded) in
                    guard position + buffer.count <= failAt else { throw SourceEnded() }
                    position += buffer.count
                }
            }
        }
    }
}
