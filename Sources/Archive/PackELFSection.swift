import BTF
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Putting a pack into an ELF64 file after linking, and finding it again.
///
/// Embedding never touches the input: the output is the input's bytes unchanged, followed by a
/// copy of the section name table with the new name added, the new section's data, and a new
/// section header table listing every old section plus the new one (a non-allocated
/// `SHT_PROGBITS` section, so the loader ignores it and the program runs exactly as before).
/// The old name and header tables stay behind as unreferenced bytes; `strip` drops them.
public enum ELFSectionEmbedder {
    /// The section BTFKit's packs go into, both post-link and through `emit-asm`.
    public static let packSectionName = ".btfkit.pack"

    /// Adds section `name` holding `data` to the ELF64 file at `inputPath`, writing the result
    /// atomically to `outputPath` with the input's permissions. Refuses an output path that is the
    /// input itself, files that are not ELF64, and files that already have a section of that name.
    public static func embed(_ data: [UInt8], sectionName name: String = packSectionName,
                             into inputPath: String, output outputPath: String) throws(PackError) {
        if let input = FileIO.realPath(inputPath), let output = FileIO.realPath(outputPath), input == output {
            throw PackError(.unreadable, "the output would replace the input", file: inputPath)
        }
        var status = stat()
        guard stat(inputPath, &status) == 0 else {
            throw PackError(.unreadable, "cannot stat: \(errnoText())", file: inputPath)
        }
        let input: [UInt8]
        do { input = try FileIO.read(inputPath) } catch { throw PackError(.unreadable, error.problem, file: inputPath) }
        let output = try appendingSection(named: name, data: data, to: input, file: inputPath)
        do {
            try FileIO.writeAtomically(output, to: outputPath, mode: status.st_mode & 0o7777)
        } catch {
            throw PackError(.unreadable, error.problem, file: outputPath)
        }
    }

    /// `elf` with section `name` holding `data` appended (see the type's description).
    public static func appendingSection(named name: String, data: [UInt8], to elf: [UInt8], file: String) throws(PackError) -> [UInt8] {
        let layout = try ELFSectionTable(elf, file: file)
        if layout.sections.contains(where: { $0.name == name }) {
            throw PackError(.sectionExists, "already has a section \(name); embed into the original executable", file: file)
        }
        let order = layout.byteOrder
        var output = elf
        func pad(to alignment: Int) { while output.count % alignment != 0 { output.append(0) } }

        // The new name table: the old one plus the new name.
        pad(to: 8)
        let names = layout.sections[layout.nameTableIndex]
        let newNameTableOffset = output.count
        output.append(contentsOf: elf[Int(names.offset) ..< Int(names.offset + names.size)])
        let newNameOffset = output.count - newNameTableOffset
        output.append(contentsOf: Array(name.utf8) + [0])
        let newNameTableSize = output.count - newNameTableOffset

        pad(to: 16)
        let dataOffset = output.count
        output.append(contentsOf: data)

        // The new section header table: the old headers, the name table's moved, then the new section.
        pad(to: 8)
        let tableOffset = output.count
        var headers = layout.rawHeaders
        let newCount = headers.count + 1
        ELFSectionTable.patch64(&headers[layout.nameTableIndex], at: 0x18, UInt64(newNameTableOffset), order)
        ELFSectionTable.patch64(&headers[layout.nameTableIndex], at: 0x20, UInt64(newNameTableSize), order)
        var header = [UInt8](repeating: 0, count: 64)
        ELFSectionTable.patch32(&header, at: 0x00, UInt32(newNameOffset), order)        // sh_name
        ELFSectionTable.patch32(&header, at: 0x04, 1, order)                            // sh_type = SHT_PROGBITS
        ELFSectionTable.patch64(&header, at: 0x18, UInt64(dataOffset), order)           // sh_offset
        ELFSectionTable.patch64(&header, at: 0x20, UInt64(data.count), order)           // sh_size
        ELFSectionTable.patch64(&header, at: 0x30, 16, order)                           // sh_addralign
        headers.append(header)
        // Past SHN_LORESERVE section counts and the name table index move into section 0's header.
        let loReserve = 0xff00
        if newCount >= loReserve {
            ELFSectionTable.patch64(&headers[0], at: 0x20, UInt64(newCount), order)
        }
        if layout.nameTableIndex >= loReserve {
            ELFSectionTable.patch32(&headers[0], at: 0x28, UInt32(layout.nameTableIndex), order)
        }
        for h in headers { output.append(contentsOf: h) }

        ELFSectionTable.patch64(&output, at: 0x28, UInt64(tableOffset), order)                                  // e_shoff
        ELFSectionTable.patch16(&output, at: 0x3C, newCount >= loReserve ? 0 : UInt16(newCount), order)       // e_shnum
        ELFSectionTable.patch16(&output, at: 0x3E, layout.nameTableIndex >= loReserve ? 0xffff : UInt16(layout.nameTableIndex), order)
        return output
    }
}

/// Reading one named section out of an ELF64 file without reading the rest of it: the ELF header,
/// the section header table, the name table and the section, each with `pread`.
public enum ELFSectionReader {
    /// The bytes of section `name` in the ELF64 file at `path`.
    /// Errors: `.unreadable`, `.notELF`, `.noSection`.
    public static func contents(ofSection name: String = ELFSectionEmbedder.packSectionName, inFile path: String,
                                maxSize: Int = BTFPack.defaultMaxExpandedSize) throws(PackError) -> [UInt8] {
        let fd: Int32
        let fileSize: Int
        do {
            let opened = try FileIO.openRegularFile(path)
            (fd, fileSize) = (opened.fd, Int(opened.status.st_size))
        } catch {
            throw PackError(.unreadable, error.problem, file: path)
        }
        defer { close(fd) }
        func readAt(_ offset: UInt64, _ count: Int) throws(PackError) -> [UInt8] {
            guard count >= 0, count <= maxSize, offset <= UInt64(Int.max) else {
                throw PackError(.notELF, "a header points to \(count) bytes at offset \(offset), past the limit", file: path)
            }
            var bytes = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw PackError(.unreadable, "read failed: \(errnoText())", file: path) }
                if n == 0 { throw PackError(.notELF, "ends at \(offset + UInt64(done)) bytes, inside a header or section it lists", file: path) }
                done += n
            }
            return bytes
        }
        // A short file still gets its magic and class judged (an ELF32 header is 52 bytes).
        let elfHeader = try readAt(0, min(64, fileSize))
        let header = try ELFSectionTable.Header(elfHeader, file: path)
        var count = header.sectionCount
        var nameTableIndex = header.nameTableIndex
        if count == 0 || nameTableIndex == 0xffff {
            // Extended numbering: the real values sit in section 0's header.
            let first = try readAt(header.tableOffset, 64)
            let reader = ByteReader(first, byteOrder: header.byteOrder)
            if count == 0 { count = Int(reader.get(UInt64.self, at: 0x20) ?? 0) }
            if nameTableIndex == 0xffff { nameTableIndex = Int(reader.get(UInt32.self, at: 0x28) ?? 0) }
        }
        guard count > 0, nameTableIndex < count, count <= 1 << 20 else {
            throw PackError(.notELF, "no usable section header table", file: path)
        }
        let table = try readAt(header.tableOffset, count * 64)
        let sections = try ELFSectionTable.sections(table, count: count, byteOrder: header.byteOrder, file: path)
        let names = sections[nameTableIndex]
        let nameBytes = try readAt(names.offset, Int(clamping: names.size))
        for section in sections where ELFSectionTable.name(at: section.nameOffset, in: nameBytes) == name {
            if section.type == 8 { return [] }  // SHT_NOBITS: no bytes in the file
            return try readAt(section.offset, Int(clamping: section.size))
        }
        throw PackError(.noSection, "has no section \(name)", file: path)
    }
}

/// An ELF64 file's section header table, parsed just enough to find and copy sections.
struct ELFSectionTable {
    struct Section {
        var nameOffset: UInt32
        var name: String
        var type: UInt32
        var offset: UInt64
        var size: UInt64
    }

    /// The fields of the ELF header that locate the section header table.
    struct Header {
        var byteOrder: ByteOrder
        var tableOffset: UInt64
        var sectionCount: Int
        var nameTableIndex: Int

        init(_ bytes: [UInt8], file: String) throws(PackError) {
            guard bytes.count >= 4, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
                throw PackError(.notELF, "not an ELF file (no \\x7fELF magic)", file: file)
            }
            // The class before the length: a minimal ELF32 header is 52 bytes, and is ELF32 first.
            guard bytes.count >= 5 else { throw PackError(.notELF, "truncated ELF header: \(bytes.count) bytes, 64 needed", file: file) }
            guard bytes[4] == 2 else {
                throw PackError(.notELF, bytes[4] == 1 ? "a 32-bit ELF file; only ELF64 is supported" : "bad ELF class \(bytes[4])", file: file)
            }
            guard bytes.count >= 64 else { throw PackError(.notELF, "truncated ELF header: \(bytes.count) bytes, 64 needed", file: file) }
            switch bytes[5] {
            case 1: byteOrder = .little
            case 2: byteOrder = .big
            default: throw PackError(.notELF, "unknown ELF data encoding \(bytes[5])", file: file)
            }
            let reader = ByteReader(bytes, byteOrder: byteOrder)
            tableOffset = reader.get(UInt64.self, at: 0x28) ?? 0
            let entrySize = reader.get(UInt16.self, at: 0x3A) ?? 0
            sectionCount = Int(reader.get(UInt16.self, at: 0x3C) ?? 0)
            nameTableIndex = Int(reader.get(UInt16.self, at: 0x3E) ?? 0)
            guard tableOffset != 0 else { throw PackError(.notELF, "has no section header table", file: file) }
            guard entrySize == 64 else { throw PackError(.notELF, "section headers of \(entrySize) bytes, not 64", file: file) }
        }
    }

    var byteOrder: ByteOrder
    var sections: [Section]
    /// The section headers as found, 64 bytes each.
    var rawHeaders: [[UInt8]]
    var nameTableIndex: Int

    init(_ elf: [UInt8], file: String) throws(PackError) {
        let header = try Header(elf, file: file)
        byteOrder = header.byteOrder
        let reader = ByteReader(elf, byteOrder: byteOrder)
        var count = header.sectionCount
        nameTableIndex = header.nameTableIndex
        if count == 0 || nameTableIndex == 0xffff {
            guard header.tableOffset <= UInt64(elf.count), let first = reader.slice(at: Int(header.tableOffset), length: 64) else {
                throw PackError(.notELF, "the section header table lies past the end of the file", file: file)
            }
            let firstReader = ByteReader(first, byteOrder: byteOrder)
            if count == 0 { count = Int(clamping: firstReader.get(UInt64.self, at: 0x20) ?? 0) }
            if nameTableIndex == 0xffff { nameTableIndex = Int(firstReader.get(UInt32.self, at: 0x28) ?? 0) }
        }
        guard count > 0, nameTableIndex < count, count <= 1 << 20, header.tableOffset <= UInt64(elf.count),
              let table = reader.slice(at: Int(header.tableOffset), length: count * 64) else {
            throw PackError(.notELF, "no usable section header table (\(count) headers at offset \(header.tableOffset))", file: file)
        }
        rawHeaders = (0 ..< count).map { Array(table[(table.startIndex + $0 * 64) ..< (table.startIndex + $0 * 64 + 64)]) }
        sections = try ELFSectionTable.sections(Array(table), count: count, byteOrder: byteOrder, file: file)
        let names = sections[nameTableIndex]
        guard names.offset <= UInt64(elf.count), names.size <= UInt64(elf.count) - names.offset else {
            throw PackError(.notELF, "the section name table lies past the end of the file", file: file)
        }
        let nameBytes = Array(elf[Int(names.offset) ..< Int(names.offset + names.size)])
        for i in sections.indices { sections[i].name = ELFSectionTable.name(at: sections[i].nameOffset, in: nameBytes) ?? "" }
        // Sections with data must lie inside the file, or the copy would be of something else.
        for section in sections where section.type != 8 && section.type != 0 {
            guard section.offset <= UInt64(elf.count), section.size <= UInt64(elf.count) - section.offset else {
                throw PackError(.notELF, "section \(section.name) lies past the end of the file", file: file)
            }
        }
    }

    static func sections(_ table: [UInt8], count: Int, byteOrder: ByteOrder, file: String) throws(PackError) -> [Section] {
        let reader = ByteReader(table, byteOrder: byteOrder)
        return (0 ..< count).map { i in
            let base = i * 64
            return Section(nameOffset: reader.get(UInt32.self, at: base) ?? 0, name: "",
                           type: reader.get(UInt32.self, at: base + 0x04) ?? 0,
                           offset: reader.get(UInt64.self, at: base + 0x18) ?? 0,
                           size: reader.get(UInt64.self, at: base + 0x20) ?? 0)
        }
    }

    static func name(at offset: UInt32, in table: [UInt8]) -> String? {
        guard Int(offset) < table.count else { return nil }
        let bytes = table[Int(offset)...].prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func patch16(_ bytes: inout [UInt8], at offset: Int, _ value: UInt16, _ order: ByteOrder) {
        patch(&bytes, at: offset, UInt64(value), width: 2, order)
    }

    static func patch32(_ bytes: inout [UInt8], at offset: Int, _ value: UInt32, _ order: ByteOrder) {
        patch(&bytes, at: offset, UInt64(value), width: 4, order)
    }

    static func patch64(_ bytes: inout [UInt8], at offset: Int, _ value: UInt64, _ order: ByteOrder) {
        patch(&bytes, at: offset, value, width: 8, order)
    }

    private static func patch(_ bytes: inout [UInt8], at offset: Int, _ value: UInt64, width: Int, _ order: ByteOrder) {
        for i in 0 ..< width {
            let byte = UInt8(truncatingIfNeeded: value >> (8 * i))
            bytes[offset + (order == .little ? i : width - 1 - i)] = byte
        }
    }
}
