extension BTF {
    /// A raw BTF blob read once, front to back, with its sections already in the arrays a `BTF`
    /// keeps (types in host order): `BTF(sections:)` checks and indexes them without copying.
    /// Only the header has been checked so far.
    public struct Sections: Sendable {
        let layout: SectionLayout
        let words: [UInt32]
        let strings: [UInt8]
        let kindLayoutBytes: [UInt8]
        /// The blob's size in bytes.
        public let blobSize: Int
        /// The type section's length in bytes, as the header declares it.
        public var typeSectionLength: Int { layout.typeLength }
    }

    /// A blob as `readBlob` read it: sections, or for anything not laid out as raw BTF with sections
    /// in file order (an ELF file, a damaged header, overlapping sections), all of its bytes.
    public enum StreamedBlob: Sendable {
        case sections(Sections)
        case bytes([UInt8])
    }

    /// Reads a blob of `size` bytes from a source that can only be read forward, such as a kernel's
    /// `.btf` member being decompressed: the header first, then each section straight into its
    /// array (no whole-blob buffer, no copy of the type section). `read` fills its buffer whole or
    /// throws. What the header says is checked as `BTF(parsing:)` checks it; a blob this reader
    /// cannot stream is returned as bytes, for `BTF(parsing:)` to judge, so both paths raise the
    /// same errors.
    public static func readBlob<Failure: Error>(size: Int, from read: (UnsafeMutableRawBufferPointer) throws(Failure) -> Void)
        throws(Failure) -> StreamedBlob {
        var head: [UInt8] = try readArray(count: min(size, 24), from: read)
        guard let headerLength = headerField(head, at: 4), headerLength >= 24, headerLength <= min(size, maxStreamedHeaderLength) else {
            return .bytes(try readRest(size: size, after: head, from: read))
        }
        head += try readArray(count: headerLength - head.count, from: read) as [UInt8]
        let parsedLayout = head.withUnsafeBytes { try? parseHeader($0, totalSize: size) }
        guard let layout = parsedLayout, let order = sectionsInFileOrder(layout) else {
            return .bytes(try readRest(size: size, after: head, from: read))
        }
        var position = headerLength
        var words: [UInt32] = [], strings: [UInt8] = [], kindLayoutBytes: [UInt8] = []
        for section in order {
            try skip(section.start - position, from: read)
            switch section.kind {
            case .types:
                words = try readArray(count: layout.typeLength / 4, from: read)
                if layout.order != .host { words = words.map(\.byteSwapped) }
            case .strings:
                strings = try readArray(count: layout.stringLength, from: read)
            case .kindLayout:
                kindLayoutBytes = try readArray(count: layout.kindLayoutLength, from: read)
            }
            position = section.start + section.length
        }
        try skip(size - position, from: read)
        return .sections(Sections(layout: layout, words: words, strings: strings, kindLayoutBytes: kindLayoutBytes, blobSize: size))
    }

    /// Checks and indexes a blob's sections as `BTF(parsing:)` does its bytes, with the same errors.
    public init(sections: Sections, file: String? = nil) throws(BTFError) {
        do {
            self = try BTF.parseSections(sections.layout, words: sections.words, strings: sections.strings,
                                         kindLayoutBytes: sections.kindLayoutBytes, base: nil)
        } catch {
            throw file.map { error.inFile($0) } ?? error
        }
    }

    /// A header longer than this (real ones are 24 or 32 bytes) is left to `BTF(parsing:)`.
    private static let maxStreamedHeaderLength = 4096

    private enum SectionKind { case types, strings, kindLayout }

    /// The non-empty sections sorted by where they start, or `nil` when two overlap (only a damaged
    /// or hand-made blob does that; `BTF(parsing:)` then reads it from one buffer).
    private static func sectionsInFileOrder(_ layout: SectionLayout) -> [(kind: SectionKind, start: Int, length: Int)]? {
        let sections = [(kind: SectionKind.types, start: layout.typeStart, length: layout.typeLength),
                        (kind: .strings, start: layout.stringStart, length: layout.stringLength),
                        (kind: .kindLayout, start: layout.kindLayoutStart, length: layout.kindLayoutLength)]
            .filter { $0.length > 0 }
            .sorted { $0.start < $1.start }
        var end = Int(layout.header.headerLength)
        for section in sections {
            guard section.start >= end else { return nil }
            end = section.start + section.length
        }
        return sections
    }

    private static func readArray<Element: FixedWidthInteger, Failure: Error>(
        count: Int, from read: (UnsafeMutableRawBufferPointer) throws(Failure) -> Void) throws(Failure) -> [Element] {
        var failure: Failure?
        let array = [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(Failure) { try read(UnsafeMutableRawBufferPointer(buffer)) } catch { failure = error; return }
            initialized = count
        }
        if let failure { throw failure }
        return array
    }

    /// Reads past `count` bytes, keeping none.
    private static func skip<Failure: Error>(_ count: Int, from read: (UnsafeMutableRawBufferPointer) throws(Failure) -> Void) throws(Failure) {
        guard count > 0 else { return }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: min(count, 1 << 16), alignment: 16)
        defer { scratch.deallocate() }
        var left = count
        while left > 0 {
            let n = min(left, scratch.count)
            try read(UnsafeMutableRawBufferPointer(rebasing: scratch[0 ..< n]))
            left -= n
        }
    }

    /// The whole blob as bytes: `head`, already read, then the rest.
    private static func readRest<Failure: Error>(size: Int, after head: [UInt8],
                                                 from read: (UnsafeMutableRawBufferPointer) throws(Failure) -> Void) throws(Failure) -> [UInt8] {
        var failure: Failure?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            head.withUnsafeBytes { raw.copyMemory(from: $0) }
            do throws(Failure) { try read(UnsafeMutableRawBufferPointer(rebasing: raw[head.count...])) } catch { failure = error; return }
            initialized = size
        }
        if let failure { throw failure }
        return bytes
    }
}
