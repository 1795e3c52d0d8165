import BTF
import Glibc

/// What a pack's kernels were trimmed for, kept in the pack as the text member
/// `btfkit-trimmed-for.txt` (and beside a trimmed tree, written by `btf-trim`), so that a pack made
/// for one build of an object is not used, silently, by another (docs/pack-format.md).
///
/// The member is the archive's first and is not a `.btf` file, so `tar -tJf` lists it and the
/// selector (and older BTFKit readers) pass over it. Its lines:
///
///     btfkit-trimmed-for 1
///     trimmed yes                      (no: the kernels' BTF is whole)
///     digest fnv1a64:0123456789abcdef  (of the sorted relocation lines)
///     object execsnoop.bpf.o           (one per object, for messages)
///     relocation byte_off task_struct.real_parent
///     ...
public struct PackMetadata: Sendable, Equatable {
    /// The member's name in a pack, and the file's name at the top of a trimmed tree.
    public static let memberName = "btfkit-trimmed-for.txt"
    /// The first line's format version.
    static let formatVersion = 1
    /// The largest metadata accepted (a few thousand relocations).
    public static let maxSize = 4 << 20

    /// `false` when the kernels' BTF was packed whole: every object finds what it needs.
    public var trimmed: Bool
    /// `CORERelocationSet.digest` of `relocations`.
    public var digest: String
    /// The objects the tree was trimmed for (file names, for messages).
    public var objects: [String]
    /// `CORERelocationSet` lines, sorted.
    public var relocations: [String]

    /// A record of kernels trimmed for `relocations` of `objects`.
    public init(objects: [String], relocations: [String], digest: String) {
        trimmed = true
        self.objects = objects
        self.relocations = relocations.sorted()
        self.digest = digest
    }

    /// The record of a pack of whole kernel BTF.
    public static let fullBTF = PackMetadata(trimmed: false)

    private init(trimmed: Bool) {
        self.trimmed = trimmed
        digest = ""
        objects = []
        relocations = []
    }

    /// The member's text.
    public var text: String {
        var lines = ["btfkit-trimmed-for \(PackMetadata.formatVersion)", "trimmed \(trimmed ? "yes" : "no")"]
        if trimmed {
            lines.append("digest \(digest)")
            lines += objects.map { "object \($0)" }
            lines += relocations.map { "relocation \($0)" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads the member's text; `source` names the pack or file in errors.
    public init(parsing bytes: [UInt8], source: String) throws(PackError) {
        func bad(_ problem: String) -> PackError {
            PackError(.corrupt, "\(problem) in \(PackMetadata.memberName)", file: source, member: PackMetadata.memberName)
        }
        // Split as bytes: a record holds thousands of lines, and splitting a String by Characters
        // (grapheme clusters) cost more than the rest of a pack lookup together.
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        let header = Array("btfkit-trimmed-for \(PackMetadata.formatVersion)".utf8)
        guard let first = lines.first, first.elementsEqual(header) else {
            throw bad("first line is not \"btfkit-trimmed-for \(PackMetadata.formatVersion)\"")
        }
        self.init(trimmed: true)
        var sawTrimmed = false
        for line in lines.dropFirst() {
            let space = line.firstIndex(of: UInt8(ascii: " ")) ?? line.endIndex
            let value = space < line.endIndex ? String(decoding: line[(space + 1)...], as: UTF8.self) : ""
            switch String(decoding: line[..<space], as: UTF8.self) {
            case "trimmed":
                guard value == "yes" || value == "no" else { throw bad("trimmed is \"\(value)\", not yes or no") }
                trimmed = value == "yes"
                sawTrimmed = true
            case "digest": digest = value
            case "object": objects.append(value)
            case "relocation": relocations.append(value)
            default: continue  // a later version's field
            }
        }
        guard sawTrimmed else { throw bad("no \"trimmed\" line") }
        relocations.sort()
    }

    /// The record at the top of the trimmed tree `directory`, or `nil` when it has none.
    public static func read(treeAt directory: String) throws(PackError) -> PackMetadata? {
        let path = BTFHubTree.join(directory, memberName)
        guard access(path, F_OK) == 0 else { return nil }
        do { return try PackMetadata(parsing: try FileIO.read(path, limit: maxSize), source: path) } catch let error as PackError {
            throw error
        } catch {
            throw PackError(.unreadable, "\(error)", file: path)
        }
    }

    /// Writes the record at the top of the trimmed tree `directory`.
    public func write(treeAt directory: String) throws(PackError) {
        let path = BTFHubTree.join(directory, PackMetadata.memberName)
        do { try FileIO.writeAtomically(Array(text.utf8), to: path) } catch {
            throw PackError(.unreadable, error.problem, file: path)
        }
    }

    /// One line for messages: what the pack was trimmed for.
    public var summary: String {
        guard trimmed else { return "whole kernel BTF (not trimmed): serves any object" }
        return "trimmed for \(relocations.count) CO-RE relocations of \(objects.isEmpty ? "(objects not named)" : objects.joined(separator: ", ")) (\(digest))"
    }
}
