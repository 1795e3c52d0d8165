/// A section header of an ELF64 file (`Elf64_Shdr`).
public struct ELFSection: Sendable, Equatable {
    public var index: Int
    public var name: String
    public var type: UInt32
    public var flags: UInt64
    public var address: UInt64
    public var offset: UInt64
    public var size: UInt64
    public var link: UInt32
    public var info: UInt32
    public var alignment: UInt64
    public var entrySize: UInt64

    /// `SHT_NOBITS`: occupies no bytes in the file (`.bss`).
    public var hasNoBits: Bool { type == 8 }
}

/// The ELF header fields and section headers of an ELF64 file, every offset checked against the
/// file's size: what `ELFFile` parses from bytes in memory and `ELFSectionFile` from a descriptor.
public struct ELFHeaders: Sendable {
    public let byteOrder: ByteOrder
    /// `e_type` (1 relocatable, 2 executable, 3 shared object).
    public let fileType: UInt16
    /// `e_machine` (247 is EM_BPF, 62 x86-64, 183 AArch64).
    public let machine: UInt16
    /// `e_shoff`: where the section header table starts; 0 when the file has none.
    public let sectionHeaderOffset: UInt64
    /// `e_shstrndx` (from section 0 under extended numbering); `nil` when there are no sections.
    public let nameTableIndex: Int?
    public let sections: [ELFSection]

    public func section(named name: String) -> ELFSection? { sections.first { $0.name == name } }
}

/// The section view of an ELF64 file: enough to find `.BTF`, `.BTF.ext` and embedded archives.
public struct ELFFile: Sendable {
    public let bytes: [UInt8]
    public let headers: ELFHeaders
    /// The file this was read from, for error messages.
    public let file: String?

    public var byteOrder: ByteOrder { headers.byteOrder }
    /// `e_type` (1 relocatable, 2 executable, 3 shared object).
    public var fileType: UInt16 { headers.fileType }
    /// `e_machine` (247 is EM_BPF, 62 x86-64, 183 AArch64).
    public var machine: UInt16 { headers.machine }
    public var sections: [ELFSection] { headers.sections }

    /// Whether `bytes` start with the ELF magic.
    public static func isELF(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x7f && bytes[1] == 0x45 && bytes[2] == 0x4c && bytes[3] == 0x46
    }

    public func section(named name: String) -> ELFSection? { headers.section(named: name) }

    /// The bytes of `section`; empty for `SHT_NOBITS`.
    public func contents(of section: ELFSection) throws(BTFError) -> ArraySlice<UInt8> {
        if section.hasNoBits { return [] }
        // Clamped: a section header of type SHT_NULL is not range-checked when parsed and may hold any offset.
        guard let slice = ByteReader(bytes, byteOrder: byteOrder).slice(at: Int(clamping: section.offset),
                                                                        length: Int(clamping: section.size)) else {
            throw BTFError("section \(section.name) at \(section.offset)+\(section.size) lies outside the \(bytes.count)-byte file",
                           offset: Int(clamping: section.offset), file: file)
        }
        return slice
    }
}

extension ELFFile {
    /// Reads the ELF header and section headers, checking every offset against the file size.
    public init(parsing bytes: [UInt8], file: String? = nil) throws(BTFError) {
        let whole = ByteReader(bytes, byteOrder: .little)
        headers = try ELFHeaders(fileSize: bytes.count, file: file) { (offset, count) throws(BTFError) in
            // Every range asked for was checked against the size; a miss is a bug, reported, not a trap.
            guard let slice = whole.slice(at: offset, length: count) else {
                throw BTFError("internal error: \(count) bytes at \(offset) read past the end", offset: offset, file: file)
            }
            return slice
        }
        self.bytes = bytes
        self.file = file
    }

    /// Reads and parses an ELF64 file.
    public init(contentsOf path: String) throws(BTFError) {
        try self.init(parsing: try FileIO.read(path), file: path)
    }
}

/// An ELF64 file read with `pread`: its ELF header, section header table and name table when
/// made, a section's bytes when asked, nothing else. For large executables (a runner is 16 MB)
/// where one section is wanted and reading the whole file would be waste.
public struct ELFSectionFile {
    public let headers: ELFHeaders
    /// The file, for error messages.
    public let file: String
    private let fd: Int32
    private let fileSize: Int
    private let maxRead: Int

    /// Reads the headers of the file open as `fd` (which stays the caller's to close), of
    /// `fileSize` bytes (its `fstat` size). No single read is larger than `maxRead` bytes: a
    /// header asking for more is an error. Errors name `file`; a failed read carries its `Errno`
    /// as `systemError`.
    public init(fileDescriptor fd: Int32, fileSize: Int, file: String, maxRead: Int = FileIO.defaultReadLimit) throws(BTFError) {
        headers = try ELFHeaders(fileSize: fileSize, file: file) { (offset, count) throws(BTFError) in
            try ELFSectionFile.read(fd, count, at: offset, file: file, maxRead: maxRead)[...]
        }
        self.fd = fd
        self.fileSize = fileSize
        self.file = file
        self.maxRead = maxRead
    }

    public func section(named name: String) -> ELFSection? { headers.section(named: name) }

    /// The bytes of `section`; empty for `SHT_NOBITS`.
    public func contents(of section: ELFSection) throws(BTFError) -> [UInt8] {
        if section.hasNoBits { return [] }
        // A section header of type SHT_NULL is not range-checked when parsed and may hold any offset.
        guard section.offset <= UInt64(fileSize), section.size <= UInt64(fileSize) - section.offset else {
            throw BTFError("section \(section.name) at \(section.offset)+\(section.size) lies outside the \(fileSize)-byte file",
                           offset: Int(clamping: section.offset), file: file)
        }
        return try ELFSectionFile.read(fd, Int(section.size), at: Int(section.offset), file: file, maxRead: maxRead)
    }

    /// `count` bytes at `offset`, which the headers placed inside the file.
    private static func read(_ fd: Int32, _ count: Int, at offset: Int, file: String, maxRead: Int) throws(BTFError) -> [UInt8] {
        guard count <= maxRead else {
            throw BTFError("a header points to \(count) bytes at offset \(offset), past the limit of \(maxRead) bytes", offset: offset, file: file)
        }
        var bytes = [UInt8](repeating: 0, count: count)
        // withUnsafeMutableBytes rethrows untyped: carry the Errno out in a Result.
        let done = bytes.withUnsafeMutableBytes { buffer in Result { () throws(Errno) in try readFully(fd, into: buffer, at: offset) } }
        switch done {
        case .failure(let failure):
            var error = BTFError("read failed: \(failure)", offset: offset, file: file)
            error.systemError = failure
            throw error
        case .success(let read) where read < count:
            throw BTFError("ends at \(offset + read) bytes, inside the \(count) bytes at offset \(offset) that its headers list "
                           + "(it changed while being read)", offset: offset + read, file: file)
        case .success:
            return bytes
        }
    }
}

extension ELFHeaders {
    static let sectionHeaderSize = 64
    static let maxSections = 1 << 20

    /// Parses the ELF header and the section headers of a file of `fileSize` bytes, checking every
    /// offset against that size. `read(offset, count)` gives bytes the checks placed inside the
    /// file: the first 64, section header 0 under extended numbering, the section header table
    /// and the name table, each once.
    init(fileSize: Int, file: String?, read: (_ offset: Int, _ count: Int) throws(BTFError) -> ArraySlice<UInt8>) throws(BTFError) {
        func fail(_ what: String, _ offset: Int) -> BTFError { BTFError(what, offset: offset, file: file) }
        /// Whether `size` bytes at `offset` lie inside the file.
        func inside(_ offset: UInt64, _ size: UInt64) -> Bool { offset <= UInt64(fileSize) && size <= UInt64(fileSize) - offset }
        let head = Array(try read(0, min(fileSize, 64)))
        guard ELFFile.isELF(head) else { throw fail("not an ELF file (bad magic)", 0) }
        // The class before the length: a minimal ELF32 header is 52 bytes, and is ELF32 first.
        guard head.count >= 5 else { throw fail("truncated ELF header: \(head.count) bytes, 64 needed", 0) }
        guard head[4] == 2 else {
            throw fail(head[4] == 1 ? "32-bit ELF is not supported; BTFKit reads ELF64" : "bad ELF class \(head[4])", 4)
        }
        guard head.count >= 64 else { throw fail("truncated ELF header: \(head.count) bytes, 64 needed", 0) }
        let order: ByteOrder
        switch head[5] {
        case 1: order = .little
        case 2: order = .big
        default: throw fail("bad ELF data encoding \(head[5])", 5)
        }
        let r = ByteReader(head, byteOrder: order)
        let shoff = r.get(UInt64.self, at: 0x28)!
        let shentsize = Int(r.get(UInt16.self, at: 0x3A)!)
        var shnum = Int(r.get(UInt16.self, at: 0x3C)!)
        var shstrndx = Int(r.get(UInt16.self, at: 0x3E)!)
        var sections: [ELFSection] = []
        var nameTableIndex: Int?
        /// Section header `i`, at `base` of `table`.
        func header(_ i: Int, _ table: ByteReader, at base: Int) -> ELFSection {
            ELFSection(index: i, name: "", type: table.get(UInt32.self, at: base + 4)!,
                       flags: table.get(UInt64.self, at: base + 8)!, address: table.get(UInt64.self, at: base + 16)!,
                       offset: table.get(UInt64.self, at: base + 24)!, size: table.get(UInt64.self, at: base + 32)!,
                       link: table.get(UInt32.self, at: base + 40)!, info: table.get(UInt32.self, at: base + 44)!,
                       alignment: table.get(UInt64.self, at: base + 48)!, entrySize: table.get(UInt64.self, at: base + 56)!)
        }
        if shoff != 0 {
            let size = ELFHeaders.sectionHeaderSize
            guard shentsize == size else { throw fail("section header size \(shentsize), expected 64", 0x3A) }
            guard shoff < UInt64(fileSize) else { throw fail("section header table at \(shoff) is past the end of the file", 0x28) }
            let tableStart = Int(shoff)
            // Extended numbering: counts that do not fit 16 bits live in section 0.
            if shnum == 0 || shstrndx == 0xffff {
                guard inside(shoff, UInt64(size)) else { throw fail("section header 0 lies outside the file", tableStart) }
                let first = header(0, ByteReader(try read(tableStart, size), byteOrder: order), at: 0)
                if shnum == 0 { shnum = Int(clamping: first.size) }
                if shstrndx == 0xffff { shstrndx = Int(first.link) }
            }
            guard shnum <= ELFHeaders.maxSections, inside(shoff, UInt64(shnum * size)) else {
                throw fail("section header table (\(shnum) entries at \(shoff)) runs past the end of the file", 0x28)
            }
            let table = ByteReader(try read(tableStart, shnum * size), byteOrder: order)
            var nameOffsets: [UInt32] = []
            for i in 0 ..< shnum {
                let s = header(i, table, at: i * size)
                nameOffsets.append(table.get(UInt32.self, at: i * size)!)
                if !s.hasNoBits && s.type != 0 {
                    guard inside(s.offset, s.size) else {
                        throw fail("section \(i) at \(s.offset)+\(s.size) lies outside the \(fileSize)-byte file", tableStart + i * size + 24)
                    }
                }
                sections.append(s)
            }
            if shnum > 0 {
                guard shstrndx < shnum else { throw fail("section name table index \(shstrndx) out of range", 0x3E) }
                nameTableIndex = shstrndx
                // The name table's own header may be SHT_NULL or NOBITS, unchecked: only what lies in the file is read.
                let names = sections[shstrndx]
                let namesStart = Int(clamping: names.offset)
                let namesBytes = namesStart < fileSize ? try read(namesStart, Int(clamping: min(names.size, UInt64(fileSize - namesStart)))) : []
                let namesReader = ByteReader(namesBytes, byteOrder: order)
                for i in sections.indices {
                    guard nameOffsets[i] < names.size, let name = namesReader.cString(at: Int(nameOffsets[i])),
                          Int(nameOffsets[i]) + name.count < Int(clamping: names.size) else {
                        throw fail("section \(i) has a name offset \(nameOffsets[i]) outside the name table", tableStart + i * size)
                    }
                    sections[i].name = String(decoding: name, as: UTF8.self)
                }
            }
        }
        self.byteOrder = order
        self.fileType = r.get(UInt16.self, at: 16)!
        self.machine = r.get(UInt16.self, at: 18)!
        self.sectionHeaderOffset = shoff
        self.nameTableIndex = nameTableIndex
        self.sections = sections
    }
}
