import Archive
import BTF
import CORE
import Glibc

/// The BPF object a pack is about to serve, for the stale-pack check.
public enum BPFObjectSource: Sendable {
    /// An object file.
    case file(String)
    /// An object in memory (a runner's embedded one); `name` says where it came from.
    case bytes([UInt8], name: String)

    /// The name used in messages.
    public var name: String {
        switch self {
        case .file(let path): path
        case .bytes(_, let name): name
        }
    }
}

/// Whether a pack was trimmed for the object that is about to use it: every CO-RE relocation of
/// the object must be among those the pack's record (`PackMetadata`) says its kernels were
/// trimmed for. A pack of whole kernel BTF serves any object; a pack that records nothing (made by
/// an earlier BTFKit, or by bpf-compatible) cannot be checked.
public struct PackFreshness: Sendable, Equatable {
    /// `BTFKIT_ALLOW_STALE=1`: use a pack trimmed for other relocations anyway (a warning says so).
    public static let allowStaleVariable = "BTFKIT_ALLOW_STALE"

    /// The outcome of a comparison.
    public enum Verdict: Sendable, Equatable {
        /// The pack does not say what it was trimmed for.
        case unrecorded
        /// The pack holds whole kernel BTF.
        case wholeBTF
        /// Every relocation of the object is among the pack's (`count` of them).
        case covered(count: Int)
        /// These relocations of the object are not among the pack's.
        case missing([String])
    }

    /// The outcome.
    public var verdict: Verdict
    /// The pack, named for messages.
    public var pack: String
    /// The object, named for messages.
    public var object: String
    /// The pack's record, when it has one.
    public var metadata: PackMetadata?

    /// Compares the record of the pack in `packBytes` with `object`'s relocations. Throws when the
    /// pack or the object cannot be read.
    public static func check(packBytes: [UInt8], pack: String, object: BPFObjectSource) throws(BTFRuntimeError) -> PackFreshness {
        let metadata: PackMetadata?
        do { metadata = try BTFPack.metadata(inPack: packBytes, source: pack) } catch { throw RuntimeBTF.runtimeError(error) }
        return try check(metadata: metadata, pack: pack, object: object)
    }

    /// Compares a pack's record `metadata` (`nil`: none) with `object`'s relocations.
    public static func check(metadata: PackMetadata?, pack: String, object: BPFObjectSource) throws(BTFRuntimeError) -> PackFreshness {
        var result = PackFreshness(verdict: .unrecorded, pack: pack, object: object.name, metadata: metadata)
        guard let metadata else { return result }
        guard metadata.trimmed else { result.verdict = .wholeBTF; return result }
        // The object is parsed only here, for packs that were trimmed: other runs pay nothing.
        let parsed: BPFObject
        do {
            switch object {
            case .file(let path): parsed = try BPFObject(contentsOf: path)
            case .bytes(let bytes, let name): parsed = try BPFObject(parsing: bytes, path: name)
            }
        } catch {
            throw BTFRuntimeError(.badObject, "\(object.name): cannot read the object's CO-RE relocations to compare them with the pack \(pack): \(error)", errnoCode: EINVAL)
        }
        let needed = CORERelocationSet(objects: [parsed])
        let missing = needed.missing(from: CORERelocationSet(relocations: metadata.relocations))
        result.verdict = missing.isEmpty ? .covered(count: needed.relocations.count) : .missing(missing)
        return result
    }

    /// Whether the pack may be used for the object (everything but `missing`).
    public var isUsable: Bool {
        if case .missing = verdict { return false }
        return true
    }

    /// One line for `-v`, `which` and warnings.
    public var line: String {
        switch verdict {
        case .unrecorded:
            return "pack record: \(pack) does not say what its kernels were trimmed for; \(object) not checked against it"
        case .wholeBTF:
            return "pack record: whole kernel BTF, which serves \(object)"
        case .covered(let count):
            return "pack record: \(metadata?.summary ?? ""); all \(count) of \(object)'s relocations are among them"
        case .missing(let missing):
            return "pack record: \(metadata?.summary ?? ""); \(object) has \(missing.count) relocation\(missing.count == 1 ? "" : "s") the pack was not trimmed for: "
                + missing.prefix(5).joined(separator: ", ") + (missing.count > 5 ? ", ..." : "")
        }
    }

    /// The error for a pack trimmed for other relocations: names the first missing relocation,
    /// the object, the pack and what to do.
    public var error: BTFRuntimeError? {
        staleMessage.map { BTFRuntimeError(.stalePack, $0, errnoCode: ESTALE, remedy: .repackForObject) }
    }

    /// What is stale; `nil` when nothing is.
    public var staleMessage: String? {
        guard case .missing(let missing) = verdict, let first = missing.first else { return nil }
        let more = missing.count > 1 ? " (and \(missing.count - 1) more: " + missing.dropFirst().prefix(4).joined(separator: ", ")
            + (missing.count > 5 ? ", ..." : "") + ")" : ""
        return "stale pack: \(pack) was trimmed for other CO-RE relocations than \(object): relocation `\(first)` of \(object) "
            + "is not among the \(metadata?.relocations.count ?? 0) it was trimmed for\(more) (\(metadata?.summary ?? ""))"
    }
}
