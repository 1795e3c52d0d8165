import BTF
import Glibc

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
        let parsed: ELFFile
        do { parsed = try ELFFile(parsing: elf, file: file) } catch { throw ELFSectionReader.packError(error, file: file) }
        let layout = try ELFSectionTable(parsed, file: file)
        if parsed.sections.contains(where: { $0.name == name }) {
            throw PackError(.sectionExists, "already has a section \(name); embed into the original executable", file: file)
        }
        let order = layout.byteOrder
        var output = elf
        func pad(to alignment: Int) { while output.count % alignment != 0 { output.append(0) } }

        // The new name table: the old one plus the new name.
        pad(to: 8)
        let names = parsed.sections[layout.nameTableIndex]
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
/// the section header table, the name table and the section, each with `pread` (`ELFSectionFile`).
public enum ELFSectionReader {
    /// The bytes of section `name` in the ELF64 file at `path`; no read is larger than `maxSize`.
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
        let elf: ELFSectionFile
        do { elf = try ELFSectionFile(fileDescriptor: fd, fileSize: fileSize, file: path, maxRead: maxSize) } catch {
            throw packError(error, file: path)
        }
        try ELFSectionTable.checkUsable(elf.headers, file: path)
        guard let section = elf.section(named: name) else { throw PackError(.noSection, "has no section \(name)", file: path) }
        do { return try elf.contents(of: section) } catch { throw packError(error, file: path) }
    }

    /// A `BTFError` of the ELF reader as a `PackError`: `.unreadable` when a read failed, else
    /// `.notELF`, with the offset the reader named.
    static func packError(_ error: BTFError, file: String) -> PackError {
        PackError(error.systemError == nil ? .notELF : .unreadable,
                  (error.offset.map { "offset \($0): " } ?? "") + error.problem, file: file)
    }
}

/// What the embedder needs of a parsed ELF64 file beyond `ELFFile`: the section headers as found
/// (64 bytes each, copied into the new table) and the name table, which must lie in the file.
struct ELFSectionTable {
    var byteOrder: ByteOrder
    /// The section headers as found, 64 bytes each.
    var rawHeaders: [[UInt8]]
    var nameTableIndex: Int

    init(_ elf: ELFFile, file: String) throws(PackError) {
        try ELFSectionTable.checkUsable(elf.headers, file: file)
        let headers = elf.headers
        byteOrder = headers.byteOrder
        nameTableIndex = headers.nameTableIndex ?? 0
        let tableStart = Int(headers.sectionHeaderOffset)  // inside the file: ELFFile checked it
        rawHeaders = headers.sections.indices.map { Array(elf.bytes[(tableStart + $0 * 64) ..< (tableStart + $0 * 64 + 64)]) }
        // The name table is copied, so it must lie in the file (ELFFile reads only the names it holds).
        let names = headers.sections[nameTableIndex]
        guard names.offset <= UInt64(elf.bytes.count), names.size <= UInt64(elf.bytes.count) - names.offset else {
            throw PackError(.notELF, "the section name table lies past the end of the file", file: file)
        }
    }

    /// Refuses a file without a section header table: there is nothing to find or add a section to.
    static func checkUsable(_ headers: ELFHeaders, file: String) throws(PackError) {
        guard headers.sectionHeaderOffset != 0 else { throw PackError(.notELF, "has no section header table", file: file) }
        guard headers.nameTableIndex != nil else {
            throw PackError(.notELF, "no usable section header table (0 headers at offset \(headers.sectionHeaderOffset))", file: file)
        }
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
