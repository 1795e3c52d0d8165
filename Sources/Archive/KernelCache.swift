import BTF
import CXXHash
import Synchronization
import Glibc

/// A directory of kernels' raw BTF, so that repeat runs over the same btfhub archives skip xz.
///
/// Layout of DIR:
/// - `entries/<sha256>.btf`: the decompressed `.btf` member of the archive whose content hashes to
///   `<sha256>`, behind a 24-byte header (magic `BTFKITC2`, payload length, XXH3-64 of the payload,
///   little-endian). Stored raw: a hit maps the entry read-only (page-cache pages, no copy) and the
///   BTF is parsed straight from the mapping, where even a fast codec (zstd, lz4) would spend
///   milliseconds per kernel decompressing (see benchmarks/trim.sh). XXH3 checks the 538 MB of the
///   85 shared kernels in 0.08 s of CPU where zlib's CRC-32 takes 0.22 s (benchmarks/cache-checksum.sh;
///   built for SSE2: AVX2 gains little on data coming from memory). Entries of another format
///   (`BTFKITC1`, CRC-32) count as damaged: dropped and rebuilt once.
/// - `keys/<dev>-<inode>-<size>-<mtime>`: the content hash of the archive file with that identity,
///   so that an unchanged archive is not hashed again. It only short-cuts to a hash recorded from
///   the content; a file changed in place gets a new mtime (and usually size), hence a new key.
///
/// Entries are written to a temporary file in DIR and renamed into place, so a reader sees a whole
/// entry or none; two runs sharing DIR at worst both write the same entry. Every read checks the
/// header, the length and the checksum: a damaged entry is removed and rebuilt from the archive,
/// never used. BTFKit never changes an entry in place (nor does eviction, which unlinks: a mapping
/// outlives it), so a mapping stays as it was checked; only an entry truncated by hand while a run
/// has it mapped could fault.
/// A hit sets the entry's mtime to now, and eviction removes the oldest mtimes first (atime is
/// unreliable: `noatime`, `relatime`), until DIR holds at most `maxSize` bytes.
public final class KernelCache: Sendable {
    public let directory: String
    public let maxSize: Int
    private let state: Mutex<State>

    /// 2 GiB: the raw BTF of about 400 btfhub kernels, a tenth of the whole archive.
    public static let defaultMaxSize = 2 << 30
    /// `BTFKIT_CACHE`: the cache directory when `--cache` is not given.
    public static let environmentVariable = "BTFKIT_CACHE"

    static let magic: [UInt8] = Array("BTFKITC2".utf8)
    static let headerSize = 24

    /// What the cache did during a run.
    public struct Statistics: Sendable, Equatable {
        /// Kernels read from the cache / decompressed from their archive (and then stored).
        public var hits = 0, misses = 0
        /// Entries found damaged (bad header, length or checksum, or an older format), removed and rebuilt.
        public var dropped = 0
        /// Payload bytes read from and written to the cache.
        public var bytesRead = 0, bytesWritten = 0
        /// Files evicted to stay under the size limit, and their bytes.
        public var evicted = 0, evictedBytes = 0
        /// Entries that could not be written (a full disk, permissions): the run goes on without them.
        public var writeFailures = 0
        public init() {}
    }

    private struct State {
        var statistics = Statistics()
        /// What DIR holds, as of the last scan plus what this run wrote since.
        var estimatedSize = 0
        var firstWriteProblem: String?
    }

    /// Opens (creating if needed) the cache at `directory`.
    public init(directory: String, maxSize: Int = KernelCache.defaultMaxSize) throws(ArchiveError) {
        self.directory = directory
        self.maxSize = maxSize
        for path in [directory, directory + "/entries", directory + "/keys"] {
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw ArchiveError(.unreadable, "cannot create the cache directory: \(errnoText())", file: path)
            }
            var status = stat()
            guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
                throw ArchiveError(.unreadable, "the cache directory is not a directory", file: path)
            }
        }
        state = Mutex(State())
        let size = Self.scan(directory).reduce(0) { $0 + $1.size }
        state.withLock { $0.estimatedSize = size }
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// The first entry that could not be written, if any (said once at the end of a run).
    public var writeProblem: String? { state.withLock { $0.firstWriteProblem } }

    /// The raw BTF of the `.btf.tar.xz` at `path`: from the cache when it holds the archive's
    /// content, else decompressed (as `KernelArchive.readBTF`) and stored.
    public func readBTF(fromArchive path: String, maxDecompressedSize: Int) throws(ArchiveError) -> [UInt8] {
        switch try kernelBytes(fromArchive: path, maxDecompressedSize: maxDecompressedSize) {
        case .decompressed(let bytes): bytes
        case .mapped(let entry): Array(entry.payload)
        }
    }

    /// Lends `body` the raw BTF of the `.btf.tar.xz` at `path`, as `readBTF` finds it: on a hit, the
    /// checked payload of the entry's mapping, valid only during the call (`BTF(parsing:)` copies
    /// what it keeps), so that a hit copies the kernel once, into the parsed `BTF`.
    public func withBTF<Result>(fromArchive path: String, maxDecompressedSize: Int,
                                _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        switch try kernelBytes(fromArchive: path, maxDecompressedSize: maxDecompressedSize) {
        case .decompressed(let bytes): try bytes.withUnsafeBytes(body)
        case .mapped(let entry): try withExtendedLifetime(entry) { try body(entry.payload) }
        }
    }

    /// A kernel's raw BTF: a hit's mapped entry, or a miss's decompressed bytes.
    enum KernelBytes {
        case mapped(MappedEntry), decompressed([UInt8])
    }

    private func kernelBytes(fromArchive path: String, maxDecompressedSize: Int) throws(ArchiveError) -> KernelBytes {
        guard let hash = contentHash(of: path) else {
            // Unreadable: the archive reader says why.
            return .decompressed(try KernelArchive.readBTF(fromArchive: path, maxDecompressedSize: maxDecompressedSize).bytes)
        }
        let entry = entryPath(hash)
        switch Self.readEntry(entry, limit: maxDecompressedSize) {
        case .valid(let mapped):
            touch(entry)
            state.withLock { $0.statistics.hits += 1; $0.statistics.bytesRead += mapped.payload.count }
            return .mapped(mapped)
        case .damaged:
            unlink(entry)
            state.withLock { $0.statistics.dropped += 1 }
        case .missing:
            break
        }
        let bytes = try KernelArchive.readBTF(fromArchive: path, maxDecompressedSize: maxDecompressedSize).bytes
        state.withLock { $0.statistics.misses += 1 }
        store(bytes, at: entry)
        return .decompressed(bytes)
    }

    func entryPath(_ hash: String) -> String { directory + "/entries/" + hash + ".btf" }

    // MARK: Keys

    /// The SHA-256 of the file at `path`, from `keys/` when its identity (device, inode, size,
    /// mtime) was hashed before; `nil` if it cannot be read.
    func contentHash(of path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        let keyPath = directory + "/keys/" + [UInt64(status.st_dev), UInt64(status.st_ino), UInt64(status.st_size),
                                              UInt64(status.st_mtim.tv_sec), UInt64(status.st_mtim.tv_nsec)]
            .map { String($0, radix: 16) }.joined(separator: "-")
        if let recorded = try? FileIO.read(keyPath, limit: 128), recorded.count == 64,
           recorded.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) {
            touch(keyPath)
            return String(decoding: recorded, as: UTF8.self)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var hash = SHA256()
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            guard let n = try? retryingOnInterrupt({ read(fd, chunk.baseAddress, chunk.count) }) else { return nil }
            if n == 0 { break }
            hash.update(UnsafeRawBufferPointer(rebasing: chunk[0 ..< n]))
        }
        let hex = hash.finalizeHex()
        store(Array(hex.utf8), at: keyPath, raw: true)
        return hex
    }

    // MARK: Entries

    enum EntryRead {
        case valid(MappedEntry), damaged, missing
    }

    /// A cache entry mapped read-only (`MAP_PRIVATE`): its pages are the page cache's, so a hit
    /// allocates, zero-fills and copies nothing. Unmapped when the last reference goes.
    final class MappedEntry {
        /// The whole entry: header, then payload.
        let bytes: UnsafeRawBufferPointer
        /// The entry's payload (the raw BTF), after the header.
        var payload: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[KernelCache.headerSize...]) }

        /// Maps the first `length` (more than `headerSize`) bytes of `fd`; nil if `mmap` fails.
        init?(fd: Int32, length: Int) {
            // MAP_POPULATE: the whole entry is read (checksum, parse), so its page table entries are
            // made in one go rather than one fault at a time.
            guard let base = mmap(nil, length, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0), base != MAP_FAILED else { return nil }
            bytes = UnsafeRawBufferPointer(start: base, count: length)
        }

        deinit { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count) }
    }

    /// Maps and checks one entry: magic, a payload length matching the file, the XXH3 checksum.
    static func readEntry(_ path: String, limit: Int) -> EntryRead {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return errno == ENOENT ? .missing : .damaged }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, Int(status.st_size) > headerSize,
              Int(status.st_size) - headerSize <= limit,
              let entry = MappedEntry(fd: fd, length: Int(status.st_size)) else { return .damaged }
        let header = Array(entry.bytes.prefix(headerSize))
        guard Array(header[0 ..< 8]) == magic else { return .damaged }
        let length = header[8 ..< 16].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let recorded = header[16 ..< 24].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length == UInt64(entry.payload.count), checksum(entry.payload) == recorded else { return .damaged }
        return .valid(entry)
    }

    /// The entry file for `payload`: header, then the payload.
    static func entryBytes(_ payload: [UInt8]) -> [UInt8] {
        var bytes = magic
        bytes.reserveCapacity(headerSize + payload.count)
        let length = UInt64(payload.count)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: length >> UInt64(shift))) }
        let sum = payload.withUnsafeBytes { checksum($0) }
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: sum >> UInt64(shift))) }
        bytes += payload
        return bytes
    }

    /// An entry's checksum: XXH3-64 (seed 0). Not a defence against someone who can write DIR (they
    /// could as well write a matching checksum), but against damage: a flipped bit, a torn write.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        btfkit_xxh3_64(bytes.baseAddress, bytes.count)
    }

    /// Writes an entry (or, `raw`, a key) atomically; a failure only costs the next run a miss.
    private func store(_ payload: [UInt8], at path: String, raw: Bool = false) {
        let bytes = raw ? payload : Self.entryBytes(payload)
        do {
            // No fsync: every read checks the entry's length and checksum (a key, its 64 hex digits), so
            // an entry cut short by a crash is dropped and rebuilt. An fsync per kernel made a cold
            // run with --cache 40% slower than one without.
            try FileIO.writeAtomically(bytes, to: path, durable: false)
        } catch {
            state.withLock {
                $0.statistics.writeFailures += 1
                if $0.firstWriteProblem == nil { $0.firstWriteProblem = "\(error)" }
            }
            return
        }
        let overLimit = state.withLock { state -> Bool in
            if !raw { state.statistics.bytesWritten += payload.count }
            state.estimatedSize += bytes.count
            return state.estimatedSize > maxSize
        }
        if overLimit { evict() }
    }

    /// Marks a file as just used, for eviction.
    private func touch(_ path: String) {
        _ = utimensat(AT_FDCWD, path, nil, 0)
    }

    // MARK: Eviction

    /// Removes the least recently used files until the cache holds at most `maxSize` bytes.
    /// Safe while other runs use DIR: a run that has an entry open keeps reading it after the unlink.
    public func evict() {
        var files = Self.scan(directory)
        var total = files.reduce(0) { $0 + $1.size }
        guard total > maxSize else {
            state.withLock { $0.estimatedSize = total }
            return
        }
        // Oldest first; ties by name, so that the order is reproducible.
        files.sort { ($0.mtime, $0.path) < ($1.mtime, $1.path) }
        var removed = 0, removedBytes = 0
        for file in files where total > maxSize {
            // Gone already (another run evicted it): no longer counted, but not ours to report.
            let gone = unlink(file.path) == 0
            if gone || errno == ENOENT { total -= file.size }
            if gone { removed += 1; removedBytes += file.size }
        }
        state.withLock {
            $0.estimatedSize = total
            $0.statistics.evicted += removed
            $0.statistics.evictedBytes += removedBytes
        }
    }

    struct CachedFile {
        var path: String
        var size: Int
        /// Nanoseconds since the epoch.
        var mtime: Int64
    }

    /// Every file in `entries/` and `keys/` (temporary files of a run in progress included: they take space too).
    static func scan(_ directory: String) -> [CachedFile] {
        var files: [CachedFile] = []
        for sub in ["entries", "keys"] {
            let path = directory + "/" + sub
            guard let dir = opendir(path) else { continue }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                guard name != ".", name != ".." else { continue }
                let file = path + "/" + name
                var status = stat()
                guard lstat(file, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { continue }
                files.append(CachedFile(path: file, size: Int(status.st_size),
                                        mtime: Int64(status.st_mtim.tv_sec) * 1_000_000_000 + Int64(status.st_mtim.tv_nsec)))
            }
        }
        return files
    }
}

extension KernelCache {
    /// Parses a size such as `2G`, `512M`, `64K` or `1048576` (bytes): K, M, G and T are powers of
    /// 1024, and a trailing `B` or `iB` is accepted (`2GiB`, `512MB`). `nil` for anything else,
    /// zero, or a value that does not fit.
    public static func parseSize(_ text: String) -> Int? {
        var rest = Substring(text.uppercased())
        if rest.hasSuffix("IB") { rest = rest.dropLast(2) } else if rest.hasSuffix("B") { rest = rest.dropLast() }
        var shift = 0
        if let last = rest.last, let unit = ["K": 10, "M": 20, "G": 30, "T": 40][String(last)] {
            shift = unit
            rest = rest.dropLast()
        }
        guard !rest.isEmpty, rest.allSatisfy({ $0 >= "0" && $0 <= "9" }), let value = Int(rest), value > 0,
              value <= Int.max >> shift else { return nil }
        return value << shift
    }
}
