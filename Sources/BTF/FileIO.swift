import Glibc

/// Minimal POSIX file reading and atomic writing, so the BTF core needs no Foundation.
public enum FileIO {
    /// The most `read` accepts unless told otherwise: above any BPF object, executable or raw kernel
    /// BTF BTFKit meets (a whole vmlinux with debug info stays under it), far below what exhausts memory.
    public static let defaultReadLimit = 1 << 30

    /// Opens `path` for reading, refusing anything that is not a regular file: a FIFO would block
    /// the open or the read forever, a device (`/dev/zero`) never ends. `O_NONBLOCK` keeps a FIFO's
    /// open from blocking; it is cleared again for the regular file. sysfs and procfs files
    /// (`/sys/kernel/btf/vmlinux`, `/proc/self/fd/N` of a memfd) are regular files.
    public static func openRegularFile(_ path: String) throws(BTFError) -> (fd: Int32, status: stat) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw BTFError("cannot open: \(errnoText())", file: path) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { let text = errnoText(); close(fd); throw BTFError("cannot stat: \(text)", file: path) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw BTFError("is \(describeFileType(st.st_mode)), not a regular file", file: path)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return (fd, st)
    }

    /// "a directory", "a FIFO", "a character device" ... for error messages.
    public static func describeFileType(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symbolic link"
        default: "of unknown type"
        }
    }

    /// Reads a whole regular file of at most `limit` bytes. Throws a `BTFError` naming the file and
    /// the problem (system error, not a regular file, too large).
    public static func read(_ path: String, limit: Int = defaultReadLimit) throws(BTFError) -> [UInt8] {
        let (fd, st) = try openRegularFile(path)
        defer { close(fd) }
        if Int(st.st_size) > limit { throw BTFError("\(st.st_size) bytes, larger than the limit of \(limit) bytes", file: path) }
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
                    let n: Int
                    do { n = try retryingOnInterrupt { Glibc.read(fd, storage.baseAddress! + initialized, expected - initialized) } } catch {
                        failure = BTFError("read failed: \(error)", file: path)
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
            let n: Int
            do { n = try retryingOnInterrupt { Glibc.read(fd, &probe, 1) } } catch { throw BTFError("read failed: \(error)", file: path) }
            if n == 0 { return buffer }
            guard buffer.count < limit else { throw BTFError("larger than the limit of \(limit) bytes", file: path) }
            buffer.append(probe)
        } else {
            buffer.reserveCapacity(1 << 16)
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n: Int
            do { n = try chunk.withUnsafeMutableBytes { (buffer) throws(Errno) in try retryingOnInterrupt { Glibc.read(fd, buffer.baseAddress, buffer.count) } } } catch {
                throw BTFError("read failed: \(error)", file: path)
            }
            if n == 0 { break }
            guard buffer.count + n <= limit else { throw BTFError("larger than the limit of \(limit) bytes", file: path) }
            buffer.append(contentsOf: chunk[0 ..< n])
        }
        return buffer
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename.
    /// On failure nothing is left behind and an existing `path` is untouched.
    /// Every writer goes through here or `AtomicFile`, so none replaces a device, FIFO or socket
    /// (`-o /dev/null` stays a device): such an output is refused before anything is written.
    /// `durable: false` skips the fsync, for files whose reader verifies them (the kernel cache's
    /// checksummed entries): after a crash such a file may be empty or cut, never half-replaced.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644, durable: Bool = true) throws(BTFError) {
        let file = try AtomicFile(replacing: path, mode: mode, durable: durable)
        try file.write(bytes)
        try file.commit()
    }

    /// An output written piece by piece and put in place atomically: a temporary file beside
    /// `path` until `commit()` renames it over `path`. Dropped without a commit (an error on the
    /// way) it is removed; a tool ended by a signal removes it too (`PendingTemporaryFiles`). So
    /// a large output (a pack of thousands of kernels) need not be held in memory to be written
    /// atomically. Not thread-safe; one writer at a time.
    public final class AtomicFile {
        /// The output, once committed.
        public let path: String
        private let temporaryPath: String
        private let mode: mode_t
        private let durable: Bool
        private var fd: Int32
        /// Committed or discarded: the temporary file is gone either way.
        private var finished = false

        /// Creates the temporary file; `path` must be a regular file or not exist (`checkOutputPath`).
        public init(replacing path: String, mode: mode_t = 0o644, durable: Bool = true) throws(BTFError) {
            try checkOutputPath(path)
            let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
            let base = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
            var template = Array("\(dir.isEmpty ? "/" : dir)/.\(temporaryStem(base)).tmp-XXXXXX".utf8CString)
            // Registered with PendingTemporaryFiles, so that a tool ended by a signal removes it first.
            let created = PendingTemporaryFiles.creating { () -> (fd: Int32, path: String)? in
                let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
                return fd >= 0 ? (fd, template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }) : nil
            }
            guard let (fd, temporaryPath) = created else { throw BTFError("cannot create a temporary file beside it: \(errnoText())", file: path) }
            self.path = path
            self.temporaryPath = temporaryPath
            self.fd = fd
            self.mode = mode
            self.durable = durable
        }

        deinit { discard() }

        /// Appends `bytes`.
        public func write(_ bytes: UnsafeRawBufferPointer) throws(BTFError) {
            precondition(fd >= 0, "AtomicFile written after commit or discard")
            do { try writeAll(fd, bytes) } catch { throw BTFError("write failed: \(error)", file: path) }
        }

        /// Appends `bytes`.
        public func write(_ bytes: [UInt8]) throws(BTFError) {
            try bytes.withUnsafeBytes { buffer in Result { () throws(BTFError) in try write(buffer) } }.get()
        }

        /// Sets the mode, syncs (when durable) and renames the file into place; on failure the
        /// temporary file is removed and an existing `path` is untouched.
        public func commit() throws(BTFError) {
            precondition(fd >= 0, "AtomicFile committed twice or after discard")
            fchmod(fd, mode)
            if durable, fsync(fd) != 0 { let text = errnoText(); discard(); throw BTFError("fsync failed: \(text)", file: path) }
            close(fd)
            fd = -1
            guard PendingTemporaryFiles.finishing(temporaryPath, { rename(temporaryPath, path) == 0 }) else {
                let text = errnoText()
                discard()
                throw BTFError("cannot rename into place: \(text)", file: path)
            }
            finished = true
        }

        /// Removes the temporary file, unless committed; later calls do nothing.
        public func discard() {
            guard !finished else { return }
            finished = true
            if fd >= 0 { close(fd); fd = -1 }
            PendingTemporaryFiles.finishing(temporaryPath) { _ = unlink(temporaryPath) }
        }
    }

    /// The output name's part of a temporary name: short enough that `.<stem>.tmp-XXXXXX` fits in
    /// NAME_MAX (255 bytes) even for a 250-byte output name, cut at a character boundary.
    static func temporaryStem(_ base: String) -> String {
        let maxBytes = 200
        guard base.utf8.count > maxBytes else { return base }
        var stem = ""
        for character in base where stem.utf8.count + character.utf8.count <= maxBytes { stem.append(character) }
        return stem
    }

    /// Refuses an output path that exists and is not a regular file (a device, FIFO, socket or
    /// directory): renaming over it would replace the device with a regular file.
    public static func checkOutputPath(_ path: String) throws(BTFError) {
        var st = stat()
        guard stat(path, &st) == 0 else { return }  // not there yet (or unreachable: the write will say)
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw BTFError("is \(describeFileType(st.st_mode)); outputs are written as regular files, so it is not replaced", file: path)
        }
    }

    /// Device and inode of what `path` names (through symbolic links), or `nil` if nothing is there.
    public static func fileIdentity(_ path: String) -> (device: UInt64, inode: UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Refuses outputs that are the same file as an input or as each other (same device and inode,
    /// so also through hard and symbolic links), before anything is read or written: `-o p.o` for an
    /// input `p.o` would replace the object. Outputs that do not exist yet are fine.
    public static func checkOutputs(_ outputs: [String], against inputs: [String]) throws(BTFError) {
        let inputIDs = inputs.compactMap { path in fileIdentity(path).map { (path, $0) } }
        var seen: [(String, (device: UInt64, inode: UInt64))] = []
        for output in outputs {
            guard let id = fileIdentity(output) else { continue }
            if let input = inputIDs.first(where: { $0.1 == id }) {
                throw BTFError("is the same file as the input \(input.0); choose another output", file: output)
            }
            if let other = seen.first(where: { $0.1 == id }) {
                throw BTFError("is the same file as the output \(other.0); give each output its own path", file: output)
            }
            seen.append((output, id))
        }
        // Outputs that do not exist yet may still be named twice.
        let missing = outputs.filter { fileIdentity($0) == nil }
        for (index, output) in missing.enumerated() where missing[..<index].contains(output) {
            throw BTFError("is named as two outputs; give each output its own path", file: output)
        }
    }

    /// The canonical absolute path (`realpath(3)`), or `nil` if it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

}
