import Archive
import BTF

/// Why the runtime could not provide BTF for the running kernel.
public struct BTFRuntimeError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem it is, so that callers (and the C ABI's error codes) can tell them apart.
    public enum Kind: Sendable, Equatable {
        /// Neither `/etc/os-release` nor `/usr/lib/os-release` gives an `ID` and `VERSION_ID`, or `uname` fails.
        case unknownIdentity
        /// No pack: the executable has no pack section and none was given.
        case noPack
        /// The pack cannot be read (corrupt, truncated, unreadable file).
        case badPack
        /// The pack has no BTF for the running kernel.
        case noMatchingKernel
        /// The kernel's release is in the pack under several entries with different BTF, and
        /// neither its pattern nor os-release says which one this machine is.
        case ambiguousKernel
        /// `BTFKIT_BTF` names a file that cannot be read.
        case badOverride
        /// Neither a memfd nor a temporary file could hold the chosen BTF.
        case cannotExpose
        /// The pack was trimmed for other CO-RE relocations than the object's (`PackFreshness`).
        case stalePack
        /// The object given for the stale-pack check cannot be read.
        case badObject
    }

    /// What kind of problem it is.
    public var kind: Kind
    /// What is wrong, naming the file, the kernel and what the pack offers where that helps.
    public var message: String
    /// The `errno`-style code the C ABI returns (negated) for this error.
    public var errnoCode: Int32
    /// What the user can do about it, or `nil`; front ends word it with their own commands.
    public var remedy: Remedy?
    /// For selection failures: every step tried and why it did not decide, one line each
    /// (what `-v` and `which` print); empty for other errors.
    public var explanation: [String] = []

    /// An error of `kind`, with its message and the errno the C ABI reports for it.
    public init(_ kind: Kind, _ message: String, errnoCode: Int32, remedy: Remedy? = nil) {
        self.kind = kind
        self.message = message
        self.errnoCode = errnoCode
        self.remedy = remedy
    }

    /// The message and the remedy in words naming no command, control characters escaped
    /// (os-release values and environment variables are printed in it).
    public var description: String { escapedForTerminal(message + (remedy.map { "; \($0)" } ?? "")) }

    /// What the user can do about an error.
    public enum Remedy: Sendable, Equatable, CustomStringConvertible {
        /// Put a pack into the executable (btf-pack: `embed`, `emit-asm`).
        case embedPack
        /// Trim and pack again for this object (btf-pack: `runner`), or allow the stale pack with
        /// `BTFKIT_ALLOW_STALE=1` (`PackFreshness.allowStaleVariable`).
        case repackForObject

        public var description: String {
            switch self {
            case .embedPack: "embed a pack into the executable"
            case .repackForObject: "trim and pack again for this object, or set \(PackFreshness.allowStaleVariable)=1 to use it anyway"
            }
        }
    }
}
