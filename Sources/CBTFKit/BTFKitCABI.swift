import BTF
import BTFRuntime
import CLibBPF
import Synchronization
import Glibc

// The C ABI declared in include/btfkit.h: thin wrappers over BTFRuntime's RuntimeBTF.

/// The RuntimeBTF values handed out to C, keyed by the address of the path string given to C, so
/// that `btfkit_clean_core_btf` can find what to release from `opts->btf_custom_path` alone.
private let handedOut = Mutex<[UInt: RuntimeBTF]>([:])
/// The last failure's message as a C string (owned here; replaced on the next failure).
private let lastError = Mutex<UInt?>(nil)

/// What the last `btfkit_ensure_core_btf*` call decided (or, on failure, tried), for
/// `btfkit_last_step`, `btfkit_last_entry` and `btfkit_last_explanation`.
private struct LastSelection {
    var step: Int32 = 0
    /// C strings owned here, replaced on the next call.
    var entry: UInt?
    var explanation: UInt?
}
private let lastSelection = Mutex(LastSelection())

private func recordSelection(step: Int32, entry: String, explanation: [String]) {
    let entryCopy = strdup(entry).map { UInt(bitPattern: $0) }
    let text = explanation.joined(separator: "\n")
    let explanationCopy = strdup(text).map { UInt(bitPattern: $0) }
    lastSelection.withLock { last in
        for old in [last.entry, last.explanation] {
            if let old { free(UnsafeMutablePointer<CChar>(bitPattern: old)) }
        }
        last = LastSelection(step: step, entry: entryCopy, explanation: explanationCopy)
    }
}

/// Warnings go to standard error, as libbpf's default print does: a C program that never asks
/// should still learn that its BTF belongs to another distribution or a neighbouring release.
private func printWarnings(_ warnings: [String]) {
    for warning in warnings {
        try? writeAll(2, Array("btfkit: warning: \(warning)\n".utf8))
    }
}

private func recordError(_ message: String) {
    let copy = strdup(message).map { UInt(bitPattern: $0) }
    lastError.withLock { previous in
        if let previous { free(UnsafeMutablePointer<CChar>(bitPattern: previous)) }
        previous = copy
    }
}

/// Whether `opts` is large enough (per its `sz`) to hold `btf_custom_path`.
private func optsHoldCustomPath(_ opts: UnsafeMutablePointer<bpf_object_open_opts>) -> Bool {
    guard let offset = MemoryLayout<bpf_object_open_opts>.offset(of: \.btf_custom_path) else { return false }
    return opts.pointee.sz >= offset + MemoryLayout<UnsafePointer<CChar>?>.size
}

private func ensure(_ opts: UnsafeMutablePointer<bpf_object_open_opts>?, pack: PackSource, objectPath: String? = nil) -> Int32 {
    guard let opts else { recordError("btfkit_ensure_core_btf: opts is NULL"); return -EINVAL }
    guard optsHoldCustomPath(opts) else {
        recordError("btfkit_ensure_core_btf: opts->sz (\(opts.pointee.sz)) is too small for btf_custom_path; declare opts with LIBBPF_OPTS")
        return -EINVAL
    }
    // A second ensure on the same opts first releases what the first one set up.
    btfkit_clean_core_btf(opts)
    var options = RuntimeBTFOptions()
    options.pack = pack
    options.object = objectPath.map { .file($0) }
    do {
        let chosen = try RuntimeBTF.ensure(options)
        recordSelection(step: chosen.selection.step.cValue, entry: chosen.selection.entry?.description ?? "",
                        explanation: chosen.selection.explanation)
        printWarnings(chosen.selection.warnings)
        guard let path = chosen.customPath else { return 0 }  // the kernel's own BTF: nothing to set
        guard let cPath = strdup(path) else { chosen.release(); recordError("out of memory"); return -ENOMEM }
        handedOut.withLock { $0[UInt(bitPattern: cPath)] = chosen }
        opts.pointee.btf_custom_path = UnsafePointer(cPath)
        return 0
    } catch {
        recordSelection(step: 0, entry: "", explanation: error.explanation.isEmpty ? [error.message] : error.explanation)
        recordError(error.message + (error.remedy.map { "; " + hint(for: $0) } ?? ""))
        return -error.errnoCode
    }
}

/// What a C program's builder does about a runtime error, with the commands that do it.
private func hint(for remedy: BTFRuntimeError.Remedy) -> String {
    switch remedy {
    case .embedPack:
        "add one with `btf-pack embed PACK --into BINARY -o OUT` or link the output of `btf-pack emit-asm`"
    case .repackForObject:
        "trim the kernels again for this object (`btf-trim OBJ TREE -o DIR`, `btf-pack DIR -o PACK`) and embed the new pack "
            + "(`btf-pack embed PACK --into BINARY -o OUT --object OBJ`), or set \(PackFreshness.allowStaleVariable)=1 to use it anyway"
    }
}

/// `int btfkit_ensure_core_btf(struct bpf_object_open_opts *opts)`: see btfkit.h.
@_cdecl("btfkit_ensure_core_btf")
public func btfkit_ensure_core_btf(_ opts: UnsafeMutablePointer<bpf_object_open_opts>?) -> Int32 {
    ensure(opts, pack: .embedded)
}

/// `int btfkit_ensure_core_btf_opts(opts, const struct btfkit_ensure_opts *ensure_opts)`: see btfkit.h.
@_cdecl("btfkit_ensure_core_btf_opts")
public func btfkit_ensure_core_btf_opts(_ opts: UnsafeMutablePointer<bpf_object_open_opts>?, _ ensureOpts: UnsafeRawPointer?) -> Int32 {
    // struct btfkit_ensure_opts { size_t sz; const char *object_path; }: read by offset, each field
    // only when sz says the caller's struct has it (btfkit.h is for C compilers, not imported here).
    var objectPath: String?
    if let ensureOpts {
        let size = ensureOpts.load(as: Int.self)
        let pathOffset = MemoryLayout<Int>.size
        if size >= pathOffset + MemoryLayout<UnsafePointer<CChar>?>.size,
           let path = ensureOpts.load(fromByteOffset: pathOffset, as: UnsafePointer<CChar>?.self) {
            objectPath = String(cString: path)
        }
    }
    return ensure(opts, pack: .embedded, objectPath: objectPath)
}

/// `int btfkit_ensure_core_btf_from_pack(opts, const void *pack, size_t size)`: see btfkit.h.
@_cdecl("btfkit_ensure_core_btf_from_pack")
public func btfkit_ensure_core_btf_from_pack(_ opts: UnsafeMutablePointer<bpf_object_open_opts>?,
                                             _ pack: UnsafeRawPointer?, _ size: Int) -> Int32 {
    guard let pack, size > 0 else { recordError("btfkit_ensure_core_btf_from_pack: empty pack"); return -EINVAL }
    let bytes = [UInt8](UnsafeRawBufferPointer(start: pack, count: size))
    return ensure(opts, pack: .bytes(bytes, description: "the pack at \(pack) (\(size) bytes)"))
}

/// `void btfkit_clean_core_btf(struct bpf_object_open_opts *opts)`: see btfkit.h.
@_cdecl("btfkit_clean_core_btf")
public func btfkit_clean_core_btf(_ opts: UnsafeMutablePointer<bpf_object_open_opts>?) {
    guard let opts, optsHoldCustomPath(opts), let path = opts.pointee.btf_custom_path else { return }
    let key = UInt(bitPattern: path)
    guard let chosen = handedOut.withLock({ $0.removeValue(forKey: key) }) else { return }  // not ours
    chosen.release()
    free(UnsafeMutableRawPointer(mutating: path))
    opts.pointee.btf_custom_path = nil
}

/// `int btfkit_last_step(void)`: see btfkit.h.
@_cdecl("btfkit_last_step")
public func btfkit_last_step() -> Int32 {
    lastSelection.withLock { $0.step }
}

/// `const char *btfkit_last_entry(void)`: see btfkit.h.
@_cdecl("btfkit_last_entry")
public func btfkit_last_entry() -> UnsafePointer<CChar> {
    cString(lastSelection.withLock { $0.entry })
}

/// `const char *btfkit_last_explanation(void)`: see btfkit.h.
@_cdecl("btfkit_last_explanation")
public func btfkit_last_explanation() -> UnsafePointer<CChar> {
    cString(lastSelection.withLock { $0.explanation })
}

/// The C string at `address`, or "" when there is none.
private func cString(_ address: UInt?) -> UnsafePointer<CChar> {
    if let address, let pointer = UnsafePointer<CChar>(bitPattern: address) { return pointer }
    let empty: StaticString = ""  // a NUL-terminated constant in the binary, valid forever
    return UnsafeRawPointer(empty.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// `const char *btfkit_last_error(void)`: see btfkit.h.
@_cdecl("btfkit_last_error")
public func btfkit_last_error() -> UnsafePointer<CChar> {
    cString(lastError.withLock { $0 })
}
