/// Writing a BPF object without its DWARF: the runner embeds only what libbpf reads
/// (programs, their `.rel` sections, maps, license, `.BTF`, `.BTF.ext`, `.symtab`, `.strtab`).
extension ELFFile {
    /// Whether libbpf never reads section `s`: DWARF (`.debug_*`) and its relocations.
    static func isDebugSection(_ s: ELFSection) -> Bool {
        s.name.hasPrefix(".debug_") || s.name.hasPrefix(".rel.debug_") || s.name.hasPrefix(".rela.debug_")
    }

    /// The object's bytes without its `.debug_*` sections and their relocation sections. Every other
    /// section keeps its bytes (or takes `replacing[name]`), its flags and alignment; section
    /// indices in `sh_link`, a relocation section's `sh_info` and the symbols' `st_shndx` are
    /// renumbered. Symbol indices do not change (relocations and `.llvm_addrsig` refer to them): a
    /// symbol of a removed section (its STT_SECTION symbol) becomes a local undefined one.
    public func strippingDebugSections(replacing: [String: [UInt8]] = [:]) throws(BTFError) -> [UInt8] {
        func fail(_ what: String) -> BTFError { BTFError("cannot strip the debug sections: \(what)", file: file) }
        guard bytes.count >= 64, bytes[4] == 2 else { throw fail("not a 64-bit ELF file") }
        guard fileType == 1 else { throw fail("not a relocatable object (ELF type \(fileType))") }
        let r = ByteReader(bytes, byteOrder: byteOrder)
        guard r.get(UInt64.self, at: 0x20) == 0, r.get(UInt16.self, at: 0x38) == 0 else { throw fail("it has program headers") }
        guard sections.count < 0xff00, let shstrndx = r.get(UInt16.self, at: 0x3E), Int(shstrndx) < sections.count else {
            throw fail("extended section numbering is not supported")
        }
        let isRelocation: (ELFSection) -> Bool = { $0.type == 9 || $0.type == 4 }
        // A relocation section applying to a removed section goes too.
        var removed = Set(sections.filter { $0.index != 0 && ELFFile.isDebugSection($0) }.map(\.index))
        for s in sections where isRelocation(s) && removed.contains(Int(s.info)) { removed.insert(s.index) }
        guard !removed.contains(Int(shstrndx)) else { throw fail("the section name table is a debug section") }
        var newIndex: [Int: Int] = [:]
        for s in sections where !removed.contains(s.index) { newIndex[s.index] = newIndex.count }

        var output = Array(bytes[0 ..< 64])
        var headers: [(nameOffset: UInt32, header: ELFSection)] = []
        for s in sections where !removed.contains(s.index) {
            var h = s
            h.index = newIndex[s.index]!
            if s.index != 0 {
                if s.link != 0 {
                    guard let link = newIndex[Int(s.link)] else { throw fail("section \(s.name) links to a removed section") }
                    h.link = UInt32(link)
                }
                if isRelocation(s) || s.flags & 0x40 != 0 {  // SHF_INFO_LINK: sh_info is a section index
                    guard let info = newIndex[Int(s.info)] else { throw fail("section \(s.name) applies to a removed section") }
                    h.info = UInt32(info)
                }
                let alignment = max(1, Int(clamping: s.alignment))
                while output.count % alignment != 0 { output.append(0) }
                h.offset = UInt64(output.count)
                if !s.hasNoBits {
                    var data = Array(try contents(of: s))
                    if let replacement = replacing[s.name] {
                        data = replacement
                        h.size = UInt64(data.count)
                    }
                    if s.type == 2 { data = try renumberingSymbols(data, of: s, newIndex: newIndex) }  // SHT_SYMTAB
                    output += data
                }
            }
            let nameOffset = r.get(UInt32.self, at: Int(clamping: self.headers.sectionHeaderOffset) + s.index * 64)!
            headers.append((nameOffset, h))
        }
        guard sections.allSatisfy({ $0.type != 18 }) else { throw fail("SHT_SYMTAB_SHNDX is not supported") }
        while output.count % 8 != 0 { output.append(0) }
        let tableOffset = output.count
        var w = ByteWriter(order: byteOrder)
        for (nameOffset, h) in headers {
            for v in [nameOffset, h.type] { w.append(v) }
            for v in [h.flags, h.address, h.offset, h.size] { w.append(v) }
            for v in [h.link, h.info] { w.append(v) }
            for v in [h.alignment, h.entrySize] { w.append(v) }
        }
        output += w.bytes
        var header = ByteWriter(order: byteOrder)
        header.append(UInt64(tableOffset))
        output.replaceSubrange(0x28 ..< 0x30, with: header.bytes)
        var counts = ByteWriter(order: byteOrder)
        counts.append(UInt16(headers.count)); counts.append(UInt16(newIndex[Int(shstrndx)]!))
        output.replaceSubrange(0x3C ..< 0x40, with: counts.bytes)
        return output
    }

    /// `.symtab`'s bytes with each symbol's section index renumbered.
    private func renumberingSymbols(_ data: [UInt8], of s: ELFSection, newIndex: [Int: Int]) throws(BTFError) -> [UInt8] {
        guard data.count % 24 == 0 else { throw BTFError("cannot strip the debug sections: \(s.name) is not a whole number of symbols", file: file) }
        var out = data
        let r = ByteReader(data, byteOrder: byteOrder)
        for at in stride(from: 0, to: data.count, by: 24) {
            let shndx = Int(r.get(UInt16.self, at: at + 6)!)
            guard shndx != 0, shndx < 0xff00 else { continue }
            var w = ByteWriter(order: byteOrder)
            if let index = newIndex[shndx] {
                w.append(UInt16(index))
            } else {
                out[at + 4] = 0  // STB_LOCAL, STT_NOTYPE: no longer names a section
                w.append(UInt16(0))
                out.replaceSubrange(at + 8 ..< at + 24, with: [UInt8](repeating: 0, count: 16))
            }
            out.replaceSubrange(at + 6 ..< at + 8, with: w.bytes)
        }
        return out
    }
}
