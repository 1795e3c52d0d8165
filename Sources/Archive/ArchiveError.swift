/// A problem reading a kernel BTF archive or walking a btfhub tree: which file, which member, what.
public typealias ArchiveError = FileError<ArchiveErrorKind>

/// What kind of problem it is, so that callers and tests can tell them apart without parsing text.
public enum ArchiveErrorKind: Sendable, Equatable {
    /// The file cannot be opened, read or listed (missing, permissions, a directory ...).
    case unreadable
    /// The file is empty (0 bytes).
    case emptyFile
    /// The xz stream or the tar inside it ends early.
    case truncated
    /// The file is not xz, the xz data fails its checks, or the tar structure is broken.
    case corrupt
    /// The archive holds no `.btf` member.
    case noBTFMember
    /// The archive holds more than one `.btf` member, so which kernel it describes is unclear.
    case severalBTFMembers
    /// A member path is absolute or climbs out with `..`.
    case unsafePath
    /// A member is a symbolic or hard link.
    case link
    /// The `.btf` member is not a regular file (a directory, a device ...).
    case notRegularFile
    /// The archive expands past the configured cap (a decompression bomb, or a cap set too low).
    case tooLarge
    /// The `.btf` member holds no bytes.
    case emptyMember
}
