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

/// The section view of an ELF64 file: enough to find `.BTF`, `.BTF.ext` and embedded archives.
public struct ELFFile: Sendable {
    public let bytes: [UInt8]
    public let byteOrder: ByteOrder
    /// `e_type` (1 relocatable, 2 executable, 3 shared object).
    public let fileType: UInt16
    /// `e_machine` (247 is EM_BPF, 62 x86-64, 183 AArch64).
    public let machine: UInt16
    public let sections: [ELFSection]
    /// The file this was read from, for error messages.
    public let file: String?

    /// Whether `bytes` start with the ELF magic.
    public static func isELF(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x7f && bytes[1] == 0x45 && bytes[2] == 0x4c && bytes[3] == 0x46
    }

    public func section(named name: String) -> ELFSection? { sections.first { $0.name == name } }

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
    static let sectionHeaderSize = 64
    static let maxSections = 1 << 20

    /// Reads the ELF header and section headers, checking every offset against the file size.
    public init(parsing bytes: [UInt8], file: String? = nil) throws(BTFError) {
        func fail(_ what: String, _ offset: Int) -> BTFError { BTFError(what, offset: offset, file: file) }
        guard ELFFile.isELF(bytes) else { throw fail("not an ELF file (bad magic)", 0) }
        // The class before the length: a minimal ELF32 header is 52 bytes, and is ELF32 first.
        guard bytes.count >= 5 else { throw fail("truncated ELF header: \(bytes.count) bytes, 64 needed", 0) }
        guard bytes[4] == 2 else {
            throw fail(bytes[4] == 1 ? "32-bit ELF is not supported; BTFKit reads ELF64" : "bad ELF class \(bytes[4])", 4)
        }
        guard bytes.count >= 64 else { throw fail("truncated ELF header: \(bytes.count) bytes, 64 needed", 0) }
        let order: ByteOrder
        switch bytes[5] {
        case 1: order = .little
        case 2: order = .big
        default: throw fail("bad ELF data encoding \(bytes[5])", 5)
        }
        let r = ByteReader(bytes, byteOrder: order)
        let fileType = r.get(UInt16.self, at: 16)!
        let machine = r.get(UInt16.self, at: 18)!
        let shoff = r.get(UInt64.self, at: 0x28)!
        let shentsize = Int(r.get(UInt16.self, at: 0x3A)!)
        var shnum = Int(r.get(UInt16.self, at: 0x3C)!)
        var shstrndx = Int(r.get(UInt16.self, at: 0x3E)!)
        var sections: [ELFSection] = []
        if shoff != 0 {
            guard shentsize == ELFFile.sectionHeaderSize else { throw fail("section header size \(shentsize), expected 64", 0x3A) }
            guard shoff < UInt64(bytes.count) else { throw fail("section header table at \(shoff) is past the end of the file", 0x28) }
            let tableStart = Int(shoff)
            func header(_ i: Int) throws(BTFError) -> ELFSection {
                let at = tableStart + i * 64
                guard r.contains(at, length: 64) else { throw fail("section header \(i) lies outside the file", at) }
                return ELFSection(index: i, name: "", type: r.get(UInt32.self, at: at + 4)!,
                                  flags: r.get(UInt64.self, at: at + 8)!, address: r.get(UInt64.self, at: at + 16)!,
                                  offset: r.get(UInt64.self, at: at + 24)!, size: r.get(UInt64.self, at: at + 32)!,
                                  link: r.get(UInt32.self, at: at + 40)!, info: r.get(UInt32.self, at: at + 44)!,
                                  alignment: r.get(UInt64.self, at: at + 48)!, entrySize: r.get(UInt64.self, at: at + 56)!)
            }
            // Extended numbering: counts that do not fit 16 bits live in section 0.
            if shnum == 0 || shstrndx == 0xffff {
                let first = try header(0)
                if shnum == 0 { shnum = Int(clamping: first.size) }
                if shstrndx == 0xffff { shstrndx = Int(first.link) }
            }
            guard shnum <= ELFFile.maxSections, let tableEnd = checkedAdd(tableStart, shnum * 64), tableEnd <= bytes.count else {
                throw fail("section header table (\(shnum) entries at \(shoff)) runs past the end of the file", 0x28)
            }
            var nameOffsets: [UInt32] = []
            for i in 0 ..< shnum {
                var s = try header(i)
                s.index = i
                nameOffsets.append(r.get(UInt32.self, at: tableStart + i * 64)!)
                if !s.hasNoBits && s.type != 0 {
                    guard r.contains(Int(clamping: s.offset), length: Int(clamping: s.size)) else {
                        throw fail("section \(i) at \(s.offset)+\(s.size) lies outside the \(bytes.count)-byte file",
                                   tableStart + i * 64 + 24)
                    }
                }
                sections.append(s)
            }
            if shnum > 0 {
                guard shstrndx < shnum else { throw fail("section name table index \(shstrndx) out of range", 0x3E) }
                let names = sections[shstrndx]
                let namesReader = ByteReader(bytes, byteOrder: order)
                for i in sections.indices {
                    // Clamped and compared relative to the table: its header may be SHT_NULL or NOBITS, unchecked.
                    let at = checkedAdd(Int(clamping: names.offset), Int(nameOffsets[i]))
                    guard nameOffsets[i] < names.size, let at, let name = namesReader.cString(at: at),
                          Int(nameOffsets[i]) + name.count < Int(clamping: names.size) else {
                        throw fail("section \(i) has a name offset \(nameOffsets[i]) outside the name table", tableStart + i * 64)
                    }
                    sections[i].name = String(decoding: name, as: UTF8.self)
                }
            }
        }
        self.bytes = bytes
        self.byteOrder = order
        self.fileType = fileType
        self.machine = machine
        self.sections = sections
        self.file = file
    }

    /// Reads and parses an ELF64 file.
    public init(contentsOf path: String) throws(BTFError) {
        try self.init(parsing: try FileIO.read(path), file: path)
    }
}
