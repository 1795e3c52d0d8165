/// A problem reading a kernel BTF archive or walking a btfhub tree: which file, which member, what.
public struct ArchiveError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is, so that callers and tests can tell them apart without parsing text.
    public enum Kind: Sendable, Equatable {
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

    /// The archive or directory the problem is in.
    public var file: String
    /// The archive member concerned, when there is one.
    public var member: String?
    public var kind: Kind
    /// What is wrong, in words a user can act on.
    public var problem: String

    public init(_ kind: Kind, _ problem: String, file: String, member: String? = nil) {
        self.kind = kind
        self.problem = problem
        self.file = file
        self.member = member
    }

    public var description: String {
        if let member { return "\(file): member \(member): \(problem)" }
        return "\(file): \(problem)"
    }
}
