// libFuzzer target: the DWARF reader on a BPF object (.debug_info, .debug_abbrev, .debug_str,
// .debug_str_offsets), then every struct it names turned into BTF, which must be BTF the BTF
// reader's own dump can walk.
import BTF
import DWARF

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDWARF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let elf = try? ELFFile(parsing: bytes, file: "fuzz-input"), let types = try? DWARFTypes(elf: elf) else { return 0 }
    for name in types.structNames.prefix(64) {
        if let btf = try? types.btf(forTypeNamed: name) { _ = btf.dumpText() }
    }
    return 0
}
