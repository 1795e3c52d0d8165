// libFuzzer target: the ELF reader, then what a BPF object load does with it (.BTF and .BTF.ext),
// and what `btf-pack embed` does with an executable (append a section, then read it back).
import Archive
import BTF

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzELF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let elf = try? ELFFile(parsing: bytes, file: "fuzz-input")
    // The embedder reads its input on its own; an input both accept must stay readable once embedded into.
    if let embedded = try? ELFSectionEmbedder.appendingSection(named: ".btfkit.pack", data: [1, 2, 3], to: bytes, file: "fuzz-input"),
       elf != nil, (try? ELFFile(parsing: embedded, file: "embedded")) == nil {
        fatalError("the embedder wrote an ELF file the reader refuses, from an input the reader accepted")
    }
    guard let elf else { return 0 }
    for section in elf.sections { _ = try? elf.contents(of: section) }
    // The same steps as BPFObject(contentsOf:), without the file.
    if let btf = try? BTF(elf: elf) { _ = btf.dumpText() }
    if let section = elf.section(named: ".BTF.ext"), let contents = try? elf.contents(of: section) {
        _ = try? BTFExt(parsing: contents, file: "fuzz-input")
    }
    // The object validation btf-run and btf-pack runner do before libbpf (ids, offsets, access strings, cycles).
    if let object = try? BPFObject(parsing: bytes, path: "fuzz-input") { _ = object.libbpfHazards() }
    return 0
}
