import Archive
import BTF
import CLinuxShims
import Glibc

/// Where a chosen BTF blob lives while libbpf reads it: an anonymous memory file reached through
/// `/proc/self/fd/N`, or, where memfd is unavailable, a private (0600) temporary file.
public struct ExposedBTFFile: Sendable {
    /// The descriptor holding the bytes (the memfd, or the open temporary file).
    public let fileDescriptor: Int32
    /// The path to give libbpf.
    public let path: String
    /// The temporary file to remove on release; `nil` for a memfd.
    public let temporaryPath: String?

    // Linux's values for the memfd and sealing constants (uapi; Swift's Glibc does not import them).
    private static let mfdCloexec: UInt32 = 0x0001
    private static let mfdAllowSealing: UInt32 = 0x0002
    private static let fAddSeals: Int32 = 1033
    private static let allSeals: Int32 = 0x1 | 0x2 | 0x4 | 0x8  // F_SEAL_SEAL | SHRINK | GROW | WRITE

    /// Writes `bytes` to a sealed memfd; falls back to `mkstemp` in `$TMPDIR` (else /tmp) when
    /// memfd is unavailable, or when `forceTemporaryFile` (tests) asks for it.
    public static func expose(_ bytes: [UInt8], forceTemporaryFile: Bool = false) throws(BTFRuntimeError) -> ExposedBTFFile {
        if !forceTemporaryFile {
            // A C wrapper, not dlsym: a fully static runner has no dynamic symbol table to search.
            let fd = btfkit_memfd_create("btfkit-core-btf", mfdCloexec | mfdAllowSealing)
            if fd >= 0 {
                do {
                    try write(bytes, to: fd)
                } catch {
                    close(fd)
                    throw error
                }
                // Sealed, the BTF cannot be changed behind libbpf's back by anything holding the fd.
                _ = fcntl(fd, fAddSeals, allSeals)
                return ExposedBTFFile(fileDescriptor: fd, path: "/proc/self/fd/\(fd)", temporaryPath: nil)
            }
            // ENOSYS (kernel before 3.17), EPERM (seccomp) and the like: fall back to a file.
        }
        let directory = ScratchDirectory.parent
        var template = Array("\(directory)/btfkit-core-btf.XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw BTFRuntimeError(.cannotExpose, "no memfd, and no temporary file in \(directory): \(errnoText())", errnoCode: errno)
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        do {
            try write(bytes, to: fd)
        } catch {
            close(fd)
            unlink(path)
            throw error
        }
        return ExposedBTFFile(fileDescriptor: fd, path: path, temporaryPath: path)
    }

    /// Closes the descriptor and removes the temporary file, if any.
    public func release() {
        close(fileDescriptor)
        if let temporaryPath { unlink(temporaryPath) }
    }

    private static func write(_ bytes: [UInt8], to fd: Int32) throws(BTFRuntimeError) {
        do { try writeAll(fd, bytes) } catch {
            throw BTFRuntimeError(.cannotExpose, "cannot write the chosen BTF: \(error)", errnoCode: error.code)
        }
    }
}
