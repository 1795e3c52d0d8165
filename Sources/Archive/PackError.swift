/// A problem packing a trimmed tree, reading a pack, or embedding one into an ELF file: which file,
/// which member, what.
public typealias PackError = FileError<PackErrorKind>

/// What kind of problem it is, so that callers and tests can tell them apart without parsing text.
public enum PackErrorKind: Sendable, Equatable {
    /// A file or directory cannot be opened, read, listed or written.
    case unreadable
    /// The input tree holds no kernel BTF file.
    case noKernels
    /// The pack is not an xz- or gzip-compressed tar, fails its checks, or ends early.
    case corrupt
    /// A pack member has an unsafe path, is a link to nothing earlier, or is not a regular file.
    case badMember
    /// The pack expands past the configured cap.
    case tooLarge
    /// The pack has no BTF for the kernel asked for.
    case noEntry
    /// liblzma or zlib refused to compress.
    case compression
    /// The file is not an ELF64 file this tool can add a section to.
    case notELF
    /// The ELF file has no section of the requested name.
    case noSection
    /// The ELF file already has a section of that name.
    case sectionExists
}
