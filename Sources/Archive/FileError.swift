import BTF

/// A problem with a file, and with one of its members when it is an archive: which file, which
/// member, what is wrong, and a `Kind` that callers and tests can tell apart without parsing text.
/// `ArchiveError` (kernel archives, btfhub trees) and `PackError` (packs, embedding) are its two
/// uses, each with its own kinds.
public struct FileError<ProblemKind: Sendable & Equatable>: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds of problem (`ArchiveError.Kind`, `PackError.Kind`).
    public typealias Kind = ProblemKind

    /// The file (or directory) the problem is in.
    public var file: String
    /// The archive member concerned, when there is one.
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

    /// `file: member M: problem`, or `file: problem`; control characters (from names in archives
    /// and packs) escaped as `\xNN`, so the message stays one harmless line.
    public var description: String {
        if let member { return escapedForTerminal("\(file): member \(member): \(problem)") }
        return escapedForTerminal("\(file): \(problem)")
    }
}
