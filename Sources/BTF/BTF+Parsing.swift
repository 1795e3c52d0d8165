extension BTF {
    /// The largest type count libbpf accepts (`BTF_MAX_NR_TYPES`).
    static let maxTypeCount = 0x7fff_ffff

    /// Parses a raw BTF blob (a btfhub `.btf` file, `/sys/kernel/btf/vmlinux`, an ELF `.BTF` section)
    /// in either byte order, validating every record. Errors carry the byte offset and type id.
    public init(parsing bytes: ArraySlice<UInt8>, file: String? = nil) throws(BTFError) {
        do {
            self = try BTF.parse(bytes)
        } catch {
            throw file.map { error.inFile($0) } ?? error
        }
    }

    public init(parsing bytes: [UInt8], file: String? = nil) throws(BTFError) {
        try self.init(parsing: bytes[...], file: file)
    }

    /// Reads a raw BTF file, or the `.BTF` section when the file is an ELF object or vmlinux image.
    public init(contentsOf path: String) throws(BTFError) {
        let bytes = try FileIO.read(path)
        if ELFFile.isELF(bytes) {
            try self.init(elf: try ELFFile(parsing: bytes, file: path))
        } else {
            try self.init(parsing: bytes, file: path)
        }
    }

    /// Reads the `.BTF` section of an ELF file (a BPF object or a vmlinux image).
    public init(elf: ELFFile) throws(BTFError) {
        let path = elf.file ?? "ELF file"
        guard let section = elf.section(named: ".BTF") else {
            throw BTFError("ELF file has no .BTF section (was it compiled with -g?)", file: path)
        }
        let data = try elf.contents(of: section)
        do { self = try BTF.parse(data) } catch {
            var e = error
            e.problem = "in section .BTF: " + e.problem
            e.offset = e.offset.map { $0 + Int(section.offset) }
            throw e.inFile(path)
        }
    }

    private static func parse(_ bytes: ArraySlice<UInt8>) throws(BTFError) -> BTF {
        guard bytes.count >= 8 else { throw BTFError("truncated: \(bytes.count) bytes is smaller than a BTF header", offset: 0) }
        let lo = ByteReader(bytes, byteOrder: .little)
        let order: ByteOrder
        switch lo.get(UInt16.self, at: 0)! {
        case BTFHeader.magic: order = .little
        case BTFHeader.magic.byteSwapped: order = .big
        case let m: throw BTFError("bad magic 0x\(String(m, radix: 16)), expected 0xeb9f", offset: 0)
        }
        let r = ByteReader(bytes, byteOrder: order)
        let version = bytes[bytes.startIndex + 2]
        let flags = bytes[bytes.startIndex + 3]
        guard version == 1 else { throw BTFError("unsupported BTF version \(version)", offset: 2) }
        let hdrLen = Int(r.get(UInt32.self, at: 4)!)
        guard hdrLen >= 24 else { throw BTFError("header length \(hdrLen) is smaller than 24", offset: 4) }
        guard hdrLen <= bytes.count else {
            throw BTFError("truncated: header length \(hdrLen) exceeds the \(bytes.count) bytes present", offset: 4)
        }
        let typeOff = Int(r.get(UInt32.self, at: 8)!), typeLen = Int(r.get(UInt32.self, at: 12)!)
        let strOff = Int(r.get(UInt32.self, at: 16)!), strLen = Int(r.get(UInt32.self, at: 20)!)
        var layoutOff = 0, layoutLen = 0
        if hdrLen >= 32 {
            layoutOff = Int(r.get(UInt32.self, at: 24)!)
            layoutLen = Int(r.get(UInt32.self, at: 28)!)
        }
        // Like libbpf: header bytes this reader does not know must be zero.
        let known = hdrLen >= 32 ? 32 : 24
        for i in known ..< hdrLen where bytes[bytes.startIndex + i] != 0 {
            throw BTFError("unknown non-zero header field at byte \(i)", offset: i)
        }
        let body = bytes.count - hdrLen
        func checkSection(_ name: String, _ off: Int, _ len: Int, field: Int) throws(BTFError) {
            guard let end = checkedAdd(off, len), end <= body else {
                throw BTFError("truncated: \(name) section at \(off)+\(len) past the \(body) bytes after the header",
                               offset: field)
            }
        }
        try checkSection("type", typeOff, typeLen, field: 8)
        try checkSection("string", strOff, strLen, field: 16)
        guard typeOff % 4 == 0 else { throw BTFError("type section offset \(typeOff) is not 4-byte aligned", offset: 8) }
        guard typeLen % 4 == 0 else { throw BTFError("type section length \(typeLen) is not a multiple of 4", offset: 12) }
        guard typeOff + typeLen <= strOff else {
            throw BTFError("type section (\(typeOff)+\(typeLen)) overlaps the string section at \(strOff)", offset: 16)
        }
        var layouts: [BTFKindLayout] = []
        if layoutLen > 0 {
            try checkSection("kind layout", layoutOff, layoutLen, field: 24)
            guard layoutLen % 4 == 0 else { throw BTFError("kind layout length \(layoutLen) is not a multiple of 4", offset: 28) }
            layouts.reserveCapacity(layoutLen / 4)
            for at in stride(from: hdrLen + layoutOff, to: hdrLen + layoutOff + layoutLen, by: 4) {
                layouts.append(BTFKindLayout(infoSize: bytes[bytes.startIndex + at],
                                             elementSize: bytes[bytes.startIndex + at + 1],
                                             flags: r.get(UInt16.self, at: at + 2)!))
            }
        }

        // Strings: libbpf requires a non-empty table that starts and ends with NUL.
        let strStart = hdrLen + strOff
        let strings = Array(bytes[bytes.startIndex + strStart ..< bytes.startIndex + strStart + strLen])
        guard !strings.isEmpty, strings.first == 0, strings.last == 0 else {
            throw BTFError(strings.isEmpty ? "string section is empty"
                           : "string section must start and end with a NUL byte", offset: strStart)
        }

        let typeStart = hdrLen + typeOff
        let words = loadWords(bytes, at: typeStart, count: typeLen / 4, order: order)
        let typeStarts = try indexTypes(words, sectionOffset: typeStart)
        let btf = BTF(byteOrder: order, header: BTFHeader(version: version, flags: flags, headerLength: UInt32(hdrLen)),
                      words: words, typeStarts: typeStarts, strings: strings, kindLayouts: layouts)
        try btf.validate(sectionOffset: typeStart)
        return btf
    }

    /// Copies `count` words starting at byte `at` into host order.
    private static func loadWords(_ bytes: ArraySlice<UInt8>, at: Int, count: Int, order: ByteOrder) -> [UInt32] {
        var words = [UInt32](repeating: 0, count: count)
        words.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[at ..< at + count * 4]))
            }
        }
        if order != .host {
            for i in words.indices { words[i] = words[i].byteSwapped }
        }
        return words
    }

    /// Walks the type section, recording where each type starts; checks kinds and record lengths.
    private static func indexTypes(_ words: [UInt32], sectionOffset: Int) throws(BTFError) -> [UInt32] {
        var starts: [UInt32] = [0]
        starts.reserveCapacity(words.count / 6 + 1)
        var i = 0
        while i < words.count {
            let id = TypeID(UInt32(starts.count))
            guard i + 3 <= words.count else {
                throw BTFError("truncated type record: \(words.count - i) words left, 3 needed",
                               offset: sectionOffset + 4 * i, typeID: id)
            }
            let info = words[i + 1]
            guard let kind = BTFKind(rawValue: UInt8(info >> 24 & 0x1f)) else {
                throw BTFError("invalid kind \(info >> 24 & 0x1f)", offset: sectionOffset + 4 * i + 4, typeID: id)
            }
            let extra = kind.extraWords(vlen: Int(info & 0xffff))
            guard i + 3 + extra <= words.count else {
                throw BTFError("\(kind) with vlen \(info & 0xffff) runs past the end of the type section",
                               offset: sectionOffset + 4 * i, typeID: id)
            }
            guard starts.count < maxTypeCount else { throw BTFError("too many types", offset: sectionOffset + 4 * i) }
            starts.append(UInt32(i))
            i += 3 + extra
        }
        return starts
    }

    /// Checks every string offset and type-id reference, like libbpf's `btf_validate_type`.
    private func validate(sectionOffset: Int) throws(BTFError) {
        let stringCount = UInt32(strings.count)
        let count = UInt32(typeCount)
        for index in 1 ..< typeStarts.count {
            let start = Int(typeStarts[index])
            let info = words[start + 1]
            let kind = BTFKind(rawValue: UInt8(info >> 24 & 0x1f))!
            let vlen = Int(info & 0xffff)
            var bad: (position: Int, problem: String)?
            kind.forEachStringWord(vlen: vlen) { p in
                let off = words[start + p]
                if bad == nil, off >= stringCount {
                    bad = (p, "string offset \(off) is past the \(stringCount)-byte string table")
                }
            }
            kind.forEachTypeIDWord(vlen: vlen) { p in
                let ref = words[start + p]
                if bad == nil, ref >= count {
                    bad = (p, "refers to type \(ref), but only \(count - 1) types exist")
                }
            }
            if let bad {
                throw BTFError(bad.problem, offset: sectionOffset + 4 * (start + bad.position), typeID: TypeID(UInt32(index)))
            }
        }
    }
}
