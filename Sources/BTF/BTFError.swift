/// An error in a BTF, `.BTF.ext` or ELF input: where (file, byte offset, type id) and what.
public struct BTFError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file the bytes came from, when known.
    public var file: String?
    /// Byte offset of the problem from the start of the blob (or file, for ELF).
    public var offset: Int?
    /// The type whose record is wrong, when the problem is in one.
    public var typeID: TypeID?
    /// What is wrong, in words a user can act on.
    public var problem: String
    /// The system call's error when the problem is one (a read failed), not the input's content.
    public var systemError: Errno?

    public init(_ problem: String, offset: Int? = nil, typeID: TypeID? = nil, file: String? = nil) {
        self.problem = problem
        self.offset = offset
        self.typeID = typeID
        self.file = file
    }

    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let offset { parts.append("offset \(offset)") }
        if let typeID { parts.append("type \(typeID)") }
        // File names and strings from the input may hold control characters: one harmless line.
        return escapedForTerminal(parts.isEmpty ? problem : parts.joined(separator: ": ") + ": " + problem)
    }

    /// The same error, attributed to `file` (if it does not name one yet).
    public func inFile(_ file: String) -> BTFError {
        var copy = self
        if copy.file == nil { copy.file = file }
        return copy
    }
}
