// libFuzzer target: the ELF reader, then what a BPF object load does with it (.BTF and .BTF.ext).
import BTF

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzELF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let elf = try? ELFFile(parsing: bytes, file: "fuzz-input") else { return 0 }
    for section in elf.sections { _ = try? elf.contents(of: section) }
    // The same steps as BPFObject(contentsOf:), without the file.
    if let btf = try? BTF(elf: elf) { _ = btf.dumpText() }
    if let section = elf.section(named: ".BTF.ext"), let contents = try? elf.contents(of: section) {
        _ = try? BTFExt(parsing: contents, file: "fuzz-input")
    }
    return 0
}
