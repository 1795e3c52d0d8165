// libFuzzer target: the pack reader (xz or gzip tar of trimmed BTF), whole-pack and single-kernel lookups.
import Archive
import BTF

/// A small cap, so that the fuzzer finds bombs quickly and never runs out of memory on one.
private let fuzzMaxExpandedSize = 8 << 20
private let probe = KernelIdentity(distro: "ubuntu", version: "20.04", arch: "x86_64", release: "5.4.0-1-generic")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPack(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let pack = try? BTFPack(bytes: bytes, source: "fuzz-input", maxExpandedSize: fuzzMaxExpandedSize) {
        // What the runtime does next: take an entry and parse it as BTF.
        for identity in pack.identities {
            if let btf = pack.btf(for: identity) { _ = try? BTF(parsing: btf, file: identity.description) }
        }
        _ = pack.missingEntryError(for: probe)
        if let first = pack.identities.first {
            _ = try? BTFPack.btf(for: first, inPack: bytes, source: "fuzz-input", maxExpandedSize: fuzzMaxExpandedSize)
        }
    }
    _ = try? BTFPack.btf(for: probe, inPack: bytes, source: "fuzz-input", maxExpandedSize: fuzzMaxExpandedSize)
    return 0
}
