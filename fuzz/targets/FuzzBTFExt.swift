// libFuzzer target: the .BTF.ext reader (func info, line info, CO-RE relocation records).
import BTF

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBTFExt(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let ext = try? BTFExt(parsing: bytes[...], file: "fuzz-input") else { return 0 }
    // Touch every record so that lazily computed fields are exercised too.
    var total = 0
    for section in ext.coreRelocations {
        for record in section.records { total &+= Int(record.kind.rawValue) &+ Int(record.instructionOffset) }
    }
    for section in ext.lineInfo {
        for record in section.records { total &+= Int(record.line) &+ Int(record.column) }
    }
    for section in ext.funcInfo { total &+= section.records.count }
    return total == Int.min ? 1 : 0
}
