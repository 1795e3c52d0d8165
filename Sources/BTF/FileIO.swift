#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Minimal POSIX file reading and atomic writing, so the BTF core needs no Foundation.
public enum FileIO {
    /// Reads a whole file. Throws a `BTFError` naming the file and the system error.
    public static func read(_ path: String, limit: Int = Int.max) throws(BTFError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BTFError("cannot open: \(errnoText())", file: path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw BTFError("cannot stat: \(errnoText())", file: path) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw BTFError("is a directory", file: path) }
        // sysfs files report a size of 4096 or 0; read until EOF instead of trusting st_size.
        var buffer = [UInt8]()
        if st.st_size > 0 {
            // Fast path: read the announced size straight into the array (no zero-fill, no chunk
            // copy); a regular file ends there. Anything more (a file that grew) takes the loop below.
            let expected = min(Int(st.st_size), limit)
            var failure: BTFError?
            var reachedEOF = false
            buffer = [UInt8](unsafeUninitializedCapacity: expected) { storage, initialized in
                while initialized < expected {
                    let n = Glibc.read(fd, storage.baseAddress! + initialized, expected - initialized)
                    if n < 0 {
                        if errno == EINTR { continue }
                        failure = BTFError("read failed: \(errnoText())", file: path)
                        return
                    }
                    if n == 0 { reachedEOF = true; return }
                    initialized += n
                }
            }
            if let failure { throw failure }
            if reachedEOF { return buffer }
            // Probe for more without allocating the chunk below: a regular file is at EOF here.
            var probe: UInt8 = 0
            var n = 0
            repeat { n = Glibc.read(fd, &probe, 1) } while n < 0 && errno == EINTR
            if n < 0 { throw BTFError("read failed: \(errnoText())", file: path) }
            if n == 0 { return buffer }
            guard buffer.count < limit else { throw BTFError("larger than the limit of \(limit) bytes", file: path) }
            buffer.append(probe)
        } else {
            buffer.reserveCapacity(1 << 16)
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BTFError("read failed: \(errnoText())", file: path)
            }
            if n == 0 { break }
            guard buffer.count + n <= limit else { throw BTFError("larger than the limit of \(limit) bytes", file: path) }
            buffer.append(contentsOf: chunk[0 ..< n])
        }
        return buffer
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename.
    /// On failure nothing is left behind and an existing `path` is untouched.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(BTFError) {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let base = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
        var template = Array("\(dir.isEmpty ? "/" : dir)/.\(base).tmp-XXXXXX".utf8CString)
        // Registered with InterruptCleanup, which removes it should the process be interrupted.
        let created = InterruptCleanup.creating { () -> (fd: Int32, path: String)? in
            let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            return fd >= 0 ? (fd, template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }) : nil
        }
        guard let (fd, tmpPath) = created else { throw BTFError("cannot create a temporary file beside it: \(errnoText())", file: path) }
        var ok = false
        defer { if !ok { InterruptCleanup.finishing(tmpPath) { _ = unlink(tmpPath) } } }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let text = errnoText(); close(fd)
                throw BTFError("write failed: \(text)", file: path)
            }
            written += n
        }
        fchmod(fd, mode)
        if fsync(fd) != 0 { let text = errnoText(); close(fd); throw BTFError("fsync failed: \(text)", file: path) }
        close(fd)
        guard InterruptCleanup.finishing(tmpPath, { rename(tmpPath, path) == 0 }) else {
            throw BTFError("cannot rename into place: \(errnoText())", file: path)
        }
        ok = true
    }

    /// The canonical absolute path (`realpath(3)`), or `nil` if it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

}

/// `strerror` for a positive or negative errno; by default the current `errno`.
public func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(abs(code)))
}
