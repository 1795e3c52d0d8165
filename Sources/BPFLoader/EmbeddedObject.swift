import Archive
import Glibc

/// The BPF object a runner (`btf-pack runner`) carries in its own executable.
public enum EmbeddedObject {
    /// The section holding the object's bytes, beside `.btfkit.pack`.
    public static let sectionName = ".btfkit.object"
    /// The largest object read from it.
    public static let maxSize = 64 << 20

    /// The object embedded in the running executable, or `nil` when it has none.
    /// Other failures (an unreadable executable) throw.
    public static func load(executable: String = "/proc/self/exe") throws(BPFLoaderError) -> [UInt8]? {
        try embeddedSection(sectionName, maxSize: maxSize, executable: executable)
    }
}

/// The contents of a section of `executable`, or `nil` when it has no such section.
private func embeddedSection(_ name: String, maxSize: Int, executable: String) throws(BPFLoaderError) -> [UInt8]? {
    do {
        return try ELFSectionReader.contents(ofSection: name, inFile: executable, maxSize: maxSize)
    } catch {
        if error.kind == .noSection { return nil }
        throw BPFLoaderError("\(error)", errnoCode: error.kind == .unreadable ? EIO : EINVAL)
    }
}

/// The default arguments a runner (`btf-pack runner … -- ARGS`) carries: btf-run reads them before
/// the command line's, so `./TOOL` alone runs with them and the command line can add to them.
/// Stored as UTF-8 strings, each ended by a NUL byte.
public enum EmbeddedArguments {
    /// The section holding the arguments, beside `.btfkit.object`.
    public static let sectionName = ".btfkit.args"
    /// The largest section read.
    public static let maxSize = 64 << 10

    /// The section's bytes for `arguments`. Arguments cannot contain NUL (like any argv entry).
    public static func encode(_ arguments: [String]) -> [UInt8] {
        arguments.flatMap { Array($0.utf8) + [0] }
    }

    /// The arguments in a section's bytes; `file` names the executable in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws(BPFLoaderError) -> [String] {
        guard bytes.isEmpty || bytes.last == 0 else {
            throw BPFLoaderError("\(file): section \(sectionName) does not end with a NUL byte; the runner is damaged", errnoCode: EINVAL)
        }
        guard !bytes.isEmpty else { return [] }
        var arguments: [String] = []
        for field in bytes.dropLast().split(separator: 0, omittingEmptySubsequences: false) {
            guard let argument = String(validating: field, as: UTF8.self) else {
                throw BPFLoaderError("\(file): section \(sectionName) holds an argument that is not UTF-8; the runner is damaged", errnoCode: EINVAL)
            }
            arguments.append(argument)
        }
        return arguments
    }

    /// The arguments embedded in the running executable, or `[]` when it has none.
    public static func load(executable: String = "/proc/self/exe") throws(BPFLoaderError) -> [String] {
        guard let bytes = try embeddedSection(sectionName, maxSize: maxSize, executable: executable) else { return [] }
        return try decode(bytes, file: executable)
    }
}
