import CArchive

// libarchive for packs: writing a tar (plain or gzip) into memory, and reading a tar.xz / tar.gz
// that is already in memory. LibArchive.swift reads btfhub's per-kernel archives from a file
// descriptor; this file adds what the packer and the runtime need, and like it, nothing outside
// sees a `struct archive *` or an `ARCHIVE_*` status.

/// The compression libarchive applies while writing a tar.
enum TarWriterCompression {
    /// A bare tar stream (compressed afterwards by the caller, e.g. with liblzma's extreme presets).
    case none
    /// gzip at `level` (1-9), without a timestamp or file name in the gzip header.
    case gzip(level: Int)
}

/// A tar archive written into memory, member by member, with fixed ownership, permissions and
/// times so that the same members always give the same bytes. Not thread-safe; one per archive.
final class TarArchiveWriter {
    private let archive: OpaquePointer
    /// The bytes libarchive has written so far; filled by the write callback.
    private let sink = OutputSink()
    private var finished = false

    /// The `AE_IFREG` value; the macro carries a cast Swift cannot import.
    private static let regularFileType: UInt32 = 0o100000

    init(compression: TarWriterCompression) throws(LibArchiveFailure) {
        guard let archive = archive_write_new() else {
            throw LibArchiveFailure(message: "libarchive could not allocate a writer", isTruncation: false)
        }
        self.archive = archive
        // pax_restricted is plain ustar unless a path is too long for ustar's fields.
        guard archive_write_set_format_pax_restricted(archive) == ARCHIVE_OK else {
            throw failure(fallback: "libarchive lacks the pax/ustar tar format")
        }
        switch compression {
        case .none:
            break
        case .gzip(let level):
            // libarchive stamps the gzip header with the current time unless told "!timestamp" (a NULL value).
            guard archive_write_add_filter_gzip(archive) == ARCHIVE_OK,
                  archive_write_set_filter_option(archive, "gzip", "compression-level", String(level)) == ARCHIVE_OK,
                  archive_write_set_filter_option(archive, "gzip", "timestamp", nil) == ARCHIVE_OK else {
                throw failure(fallback: "libarchive lacks gzip support")
            }
        }
        // No padding of the last block to 10 KiB: the end-of-archive marker is enough for tar readers.
        archive_write_set_bytes_in_last_block(archive, 1)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        let status = archive_write_open2(archive, context, nil, { _, context, buffer, length in
            guard let context, let buffer else { return -1 }
            let sink = Unmanaged<OutputSink>.fromOpaque(context).takeUnretainedValue()
            sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
            return length
        }, nil, nil)
        guard status == ARCHIVE_OK else { throw failure(fallback: "cannot start writing the tar stream") }
    }

    deinit { archive_write_free(archive) }

    /// Adds a regular file `path` holding `contents` (mode 0644, owner root:root, mtime 0).
    func addFile(path: String, contents: [UInt8]) throws(LibArchiveFailure) {
        let entry = newEntry(path: path)
        defer { archive_entry_free(entry) }
        archive_entry_set_size(entry, Int64(contents.count))
        try writeHeader(entry, path: path)
        var written = 0
        while written < contents.count {
            let n = contents.withUnsafeBytes { raw in
                archive_write_data(archive, raw.baseAddress! + written, raw.count - written)
            }
            guard n > 0 else { throw failure(fallback: "cannot write the data of \(path)") }
            written += n
        }
    }

    /// Adds `path` as a hard link to the earlier member `target` (tar type '1', no data of its own).
    func addHardLink(path: String, target: String) throws(LibArchiveFailure) {
        let entry = newEntry(path: path)
        defer { archive_entry_free(entry) }
        archive_entry_set_hardlink(entry, target)
        archive_entry_set_size(entry, 0)
        try writeHeader(entry, path: path)
    }

    /// Writes the end-of-archive marker, flushes the compressor and returns the whole archive.
    func finish() throws(LibArchiveFailure) -> [UInt8] {
        if !finished {
            guard archive_write_close(archive) == ARCHIVE_OK else { throw failure(fallback: "cannot finish the tar stream") }
            finished = true
        }
        return sink.bytes
    }

    private func newEntry(path: String) -> OpaquePointer {
        let entry = archive_entry_new()!
        archive_entry_set_pathname(entry, path)
        archive_entry_set_filetype(entry, TarArchiveWriter.regularFileType)
        archive_entry_set_perm(entry, 0o644)
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        archive_entry_set_uname(entry, "root")
        archive_entry_set_gname(entry, "root")
        archive_entry_set_mtime(entry, 0, 0)
        return entry
    }

    private func writeHeader(_ entry: OpaquePointer, path: String) throws(LibArchiveFailure) {
        let status = archive_write_header(archive, entry)
        guard status == ARCHIVE_OK else { throw failure(fallback: "cannot write the tar header of \(path)") }
    }

    private func failure(fallback: String) -> LibArchiveFailure {
        LibArchiveFailure(message: archive_error_string(archive).map { String(cString: $0) } ?? fallback, isTruncation: false)
    }

    /// Where the write callback appends; a class so that libarchive can hold a pointer to it.
    private final class OutputSink {
        var bytes: [UInt8] = []
    }
}

/// A tar archive, xz- or gzip-compressed (or plain), read forward once from bytes in memory.
/// The reader keeps its own copy of the bytes for as long as libarchive may look at them.
final class MemoryTarReader {
    private let archive: OpaquePointer
    private let storage: UnsafeMutableRawBufferPointer

    init(bytes: some Collection<UInt8>) throws(LibArchiveFailure) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        _ = storage.initializeMemory(as: UInt8.self, from: bytes)
        guard let archive = archive_read_new() else {
            storage.deallocate()
            throw LibArchiveFailure(message: "libarchive could not allocate a reader", isTruncation: false)
        }
        self.archive = archive
        guard archive_read_support_filter_xz(archive) == ARCHIVE_OK,
              archive_read_support_filter_gzip(archive) == ARCHIVE_OK,
              archive_read_support_format_tar(archive) == ARCHIVE_OK else {
            throw failure(fallback: "libarchive lacks xz, gzip or tar support")
        }
        guard archive_read_open_memory(archive, storage.baseAddress, bytes.count) == ARCHIVE_OK else {
            throw failure(fallback: "cannot start reading the archive")
        }
    }

    deinit {
        archive_read_free(archive)
        storage.deallocate()
    }

    /// The next member's header, or `nil` at the end of the archive.
    func nextMember() throws(LibArchiveFailure) -> TarMemberHeader? {
        var entry: OpaquePointer?
        var status: Int32
        repeat { status = archive_read_next_header(archive, &entry) } while status == ARCHIVE_RETRY
        if status == ARCHIVE_EOF { return nil }
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
            throw failure(fallback: "cannot read the next tar header")
        }
        let path = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        let declaredSize = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : nil
        if let target = archive_entry_hardlink(entry) {
            return TarMemberHeader(path: path, type: .hardLink, declaredSize: declaredSize, linkTarget: String(cString: target))
        }
        let type: TarMemberType
        var linkTarget: String?
        switch UInt32(archive_entry_filetype(entry)) {
        case 0o100000: type = .regularFile   // AE_IFREG
        case 0o040000: type = .directory     // AE_IFDIR
        case 0o120000:                       // AE_IFLNK
            type = .symbolicLink
            linkTarget = archive_entry_symlink(entry).map { String(cString: $0) }
        case let other: type = .special(other)
        }
        return TarMemberHeader(path: path, type: type, declaredSize: declaredSize, linkTarget: linkTarget)
    }

    /// Reads the current member's next bytes into `buffer`; returns how many, 0 at the end of the member.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(LibArchiveFailure) -> Int {
        while true {
            let n = archive_read_data(archive, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if Int32(n) == ARCHIVE_RETRY { continue }
            throw failure(fallback: "cannot read member data")
        }
    }

    /// Which compression the archive turned out to have: "xz", "gzip" or "none".
    var compressionName: String {
        // Filter 0 is the last one applied when reading; with one compression layer it names it.
        let count = archive_filter_count(archive)
        guard count > 1, let name = archive_filter_name(archive, 0) else { return "none" }
        return String(cString: name)
    }

    private func failure(fallback: String) -> LibArchiveFailure {
        let message = archive_error_string(archive).map { String(cString: $0) } ?? fallback
        let isTruncation = message.lowercased().contains("truncated") || message.contains("Premature end")
        return LibArchiveFailure(message: message, isTruncation: isTruncation)
    }
}
