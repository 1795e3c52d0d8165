/// A problem packing a trimmed tree, reading a pack, or embedding one into an ELF file: which file,
/// which member, what.
public struct PackError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is, so that callers and tests can tell them apart without parsing text.
    public enum Kind: Sendable, Equatable {
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
        /// liblzma or libarchive refused to compress.
        case compression
        /// The file is not an ELF64 file this tool can add a section to.
        case notELF
        /// The ELF file has no section of the requested name.
        case noSection
        /// The ELF file already has a section of that name.
        case sectionExists
    }

    /// The file the problem is in.
    public var file: String
    /// The pack member concerned, when there is one.
    public var member: String?
    /// What kind of problem it is.
    public var kind: Kind
    /// What is wrong, in words a user can act on.
    public var problem: String

    /// A problem of `kind` in `file` (and `member`), described by `problem`.
    public init(_ kind: Kind, _ problem: String, file: String, member: String? = nil) {
        self.kind = kind
        self.problem = problem
        self.file = file
        self.member = member
    }

    /// `file: member M: problem`, or `file: problem`.
    public var description: String {
        if let member { return "\(file): member \(member): \(problem)" }
        return "\(file): \(problem)"
    }
}
