import CArchive
#if canImport(Glibc)
import Glibc
#endif

// libarchive for packs: writing a tar (plain or gzip) into memory. LibArchive.swift holds the
// reading side (btfhub archives from a descriptor, packs from memory); like it, nothing outside
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

    /// libarchive converts member names through the locale's character set; in the C locale a
    /// non-ASCII name does not convert and its pax writer dereferences the missing result. A tool
    /// still in the C locale switches its character set (only that) to C.UTF-8 once.
    private static let utf8CharacterSet: Bool = {
        let current = setlocale(LC_CTYPE, nil).map { String(cString: $0) } ?? "C"
        guard current == "C" || current == "POSIX" else { return true }
        return setlocale(LC_CTYPE, "C.UTF-8") != nil
    }()

    init(compression: TarWriterCompression) throws(LibArchiveFailure) {
        guard let archive = archive_write_new() else {
            throw LibArchiveFailure(message: "libarchive could not allocate a writer", isTruncation: false)
        }
        self.archive = archive
        _ = TarArchiveWriter.utf8CharacterSet
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
        archive_entry_set_hardlink_utf8(entry, target)
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
        // The _utf8 setters: the plain ones translate through the C locale and refuse non-ASCII names.
        archive_entry_set_pathname_utf8(entry, path)
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
