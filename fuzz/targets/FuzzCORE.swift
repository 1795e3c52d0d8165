// libFuzzer target: the CO-RE engine and the minimizer on fuzzed BTF.
//
// The first input byte picks the mode:
//   even: the rest is a target (kernel) BTF; the real BPF objects' relocations are resolved against
//         it and the kernel is trimmed for them (Trimmer.trim), as btf-trim does per kernel.
//   odd:  the next 4 bytes (little-endian) give the length L of a local BTF, which replaces the
//         first object's own .BTF; the remaining bytes are the target BTF. The object's real
//         .BTF.ext relocations then point into fuzzed local types.
// The objects come from BTFKIT_FUZZ_OBJECTS (colon-separated .bpf.o paths), set by fuzz/run.sh.
import BTF
import CORE
import Trim

import Glibc

private let fixedObjects: [BPFObject] = {
    guard let list = getenv("BTFKIT_FUZZ_OBJECTS").map({ String(cString: $0) }), !list.isEmpty else {
        fatalError("set BTFKIT_FUZZ_OBJECTS to colon-separated BPF object paths (fuzz/run.sh does)")
    }
    return list.split(separator: ":").map { path in
        do { return try BPFObject(contentsOf: String(path)) } catch { fatalError("\(error)") }
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCORE(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let mode = bytes.first else { return 0 }
    var objects = fixedObjects
    var targetBytes = bytes[1...]
    if mode & 1 == 1 {
        guard bytes.count >= 5 else { return 0 }
        let localLength = Int(bytes[1]) | Int(bytes[2]) << 8 | Int(bytes[3]) << 16 | Int(bytes[4]) << 24
        guard localLength <= bytes.count - 5 else { return 0 }
        let localBytes = bytes[5 ..< 5 + localLength]
        guard let local = try? BTF(parsing: localBytes, file: "fuzz-local") else { return 0 }
        objects = [objects[Int(mode >> 1) % objects.count]]
        objects[0].btf = local
        targetBytes = bytes[(5 + localLength)...]
    }
    guard let target = try? BTF(parsing: targetBytes, file: "fuzz-target") else { return 0 }
    let trimmer = Trimmer(objects: objects)
    guard let result = try? trimmer.trim(kernel: target) else { return 0 }
    // The minimized BTF must be a valid BTF on its own.
    if (try? BTF(parsing: result.minimized.serialized(), file: "minimized")) == nil {
        fatalError("minimized BTF does not parse")
    }
    return 0
}
