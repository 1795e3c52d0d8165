import CArchive

// libarchive for reading (LibArchiveWriter.swift holds the writing side). Everything else sees
// `TarReader`, `TarMemberHeader` and `LibArchiveFailure`, never a raw `struct archive *` or an
// `ARCHIVE_*` status code.

/// A libarchive call that failed: libarchive's own message and whether it reported a stream that
/// ends early (as opposed to data that is wrong).
struct LibArchiveFailure: Error {
    /// `archive_error_string`, or a fallback when libarchive set none.
    var message: String
    /// The input ended before the xz stream or the tar structure did.
    var isTruncation: Bool
}

/// What a tar member is, from its header (`archive_entry_filetype`, `archive_entry_hardlink`).
enum TarMemberType: Equatable {
    /// `AE_IFREG`.
    case regularFile
    /// `AE_IFDIR`.
    case directory
    /// `AE_IFLNK`.
    case symbolicLink
    /// A hard link to an earlier member (`archive_entry_hardlink` is set).
    case hardLink
    /// A device, fifo or socket: the raw `AE_IF*` bits.
    case special(UInt32)
}

/// The header of one tar member.
struct TarMemberHeader {
    var path: String
    var type: TarMemberType
    /// The member's data size as its header declares it, when the header sets one.
    var declaredSize: Int64?
    /// The target of a symbolic or hard link.
    var linkTarget: String?
}

/// A tar archive read forward once: headers with `nextMember()`, the current member's data with
/// `read(into:)`. From an open file descriptor (btfhub kernels: xz only) or from bytes in memory
/// (packs: xz, gzip or plain). Not thread-safe; one per archive.
final class TarReader {
    private let archive: OpaquePointer
    /// The copy of in-memory input that libarchive reads; `nil` when reading a descriptor.
    private let storage: UnsafeMutableRawBufferPointer?
    /// libarchive reads the descriptor in blocks of this size.
    static let blockSize = 1 << 17

    /// Starts reading an xz-compressed tar from `fileDescriptor` (which the caller keeps open and
    /// closes after this reader is gone).
    init(fileDescriptor: Int32) throws(LibArchiveFailure) {
        archive = try TarReader.newReader()
        storage = nil
        // btfhub archives are tar in xz; accepting nothing else gives a clear error for anything else.
        guard archive_read_support_filter_xz(archive) == ARCHIVE_OK,
              archive_read_support_format_tar(archive) == ARCHIVE_OK else {
            throw failure(fallback: "libarchive lacks xz or tar support")
        }
        guard archive_read_open_fd(archive, fileDescriptor, TarReader.blockSize) == ARCHIVE_OK else {
            throw failure(fallback: "cannot start reading the xz stream")
        }
    }

    /// Starts reading a tar (xz- or gzip-compressed, or plain) from a private copy of `bytes`,
    /// kept for as long as libarchive may look at it.
    init(bytes: some Collection<UInt8>) throws(LibArchiveFailure) {
        archive = try TarReader.newReader()
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        // One memcpy for arrays and slices; element by element only for other collections.
        let copied = bytes.withContiguousStorageIfAvailable { source in
            storage.copyMemory(from: UnsafeRawBufferPointer(source))
        } != nil
        if !copied { _ = storage.initializeMemory(as: UInt8.self, from: bytes) }
        self.storage = storage
        guard archive_read_support_filter_xz(archive) == ARCHIVE_OK,
              archive_read_support_filter_gzip(archive) == ARCHIVE_OK,
              archive_read_support_format_tar(archive) == ARCHIVE_OK else {
            throw failure(fallback: "libarchive lacks xz, gzip or tar support")
        }
        guard archive_read_open_memory(archive, storage.baseAddress, bytes.count) == ARCHIVE_OK else {
            throw failure(fallback: "cannot start reading the archive")
        }
    }

    private static func newReader() throws(LibArchiveFailure) -> OpaquePointer {
        guard let archive = archive_read_new() else {
            throw LibArchiveFailure(message: "libarchive could not allocate a reader", isTruncation: false)
        }
        return archive
    }

    deinit {
        archive_read_free(archive)
        storage?.deallocate()
    }

    /// The next member's header, or `nil` at the end of the archive.
    func nextMember() throws(LibArchiveFailure) -> TarMemberHeader? {
        var entry: OpaquePointer?
        var status: Int32
        repeat { status = archive_read_next_header(archive, &entry) } while status == ARCHIVE_RETRY
        if status == ARCHIVE_EOF { return nil }
        // ARCHIVE_WARN flags harmless oddities (unknown pax keywords, odd ownership); the header is usable.
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else {
            throw failure(fallback: "cannot read the next tar header")
        }
        // UTF-8 first: in the C locale the plain getter cannot translate a non-ASCII pax name.
        let path = (archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry)).map { String(cString: $0) } ?? ""
        let type: TarMemberType
        var linkTarget: String?
        if let target = archive_entry_hardlink_utf8(entry) ?? archive_entry_hardlink(entry) {
            type = .hardLink
            linkTarget = String(cString: target)
        } else {
            // The AE_IF* macros carry casts Swift cannot import; these are their values.
            switch UInt32(archive_entry_filetype(entry)) {
            case 0o100000: type = .regularFile   // AE_IFREG
            case 0o040000: type = .directory     // AE_IFDIR
            case 0o120000:                       // AE_IFLNK
                type = .symbolicLink
                linkTarget = archive_entry_symlink(entry).map { String(cString: $0) }
            case let other: type = .special(other)
            }
        }
        let declaredSize = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : nil
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

    /// Decompresses past the rest of the current member without keeping it.
    func skipMember() throws(LibArchiveFailure) {
        var status: Int32
        repeat { status = archive_read_data_skip(archive) } while status == ARCHIVE_RETRY
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN else { throw failure(fallback: "cannot skip member data") }
    }

    /// Bytes of tar stream decompressed so far (`archive_filter_bytes(a, 0)`).
    var decompressedBytes: Int64 { archive_filter_bytes(archive, 0) }

    /// Which compression the archive turned out to have: "xz", "gzip" or "none".
    var compressionName: String {
        // Filter 0 is the last one applied when reading; with one compression layer it names it.
        let count = archive_filter_count(archive)
        guard count > 1, let name = archive_filter_name(archive, 0) else { return "none" }
        return String(cString: name)
    }

    /// The failure libarchive recorded for the last call.
    private func failure(fallback: String) -> LibArchiveFailure {
        // libarchive joins its prefix and liblzma's text with a double space ("Lzma library error:  ...").
        let message = (archive_error_string(archive).map { String(cString: $0) } ?? fallback).replacing("  ", with: " ")
        // libarchive's errno is ARCHIVE_ERRNO_FILE_FORMAT for damaged and short input alike; only the
        // text tells them apart. Its tar and read-ahead layers say "Truncated ..."; when the xz stream
        // itself stops early, liblzma's LZMA_BUF_ERROR comes through as "No progress is possible",
        // and a short gzip stream as "Premature end".
        let isTruncation = message.lowercased().contains("truncated") || message.contains("No progress is possible")
            || message.contains("Premature end")
        return LibArchiveFailure(message: message, isTruncation: isTruncation)
    }
}
