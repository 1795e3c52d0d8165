// libFuzzer target: the raw BTF reader, and everything that walks a parsed BTF (dump, writer).
import BTF

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBTF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let btf = try? BTF(parsing: bytes, file: "fuzz-input") else { return 0 }
    // A BTF the reader accepted must be safe to dump (cycles, deep chains) and to write back.
    _ = btf.dumpText()
    let written = btf.serialized()
    // What the writer produces must parse again.
    if (try? BTF(parsing: written, file: "round-trip")) == nil {
        fatalError("serialized BTF of an accepted input does not parse again")
    }
    return 0
}
