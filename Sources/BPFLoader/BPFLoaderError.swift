import BTFRuntime

/// What went wrong while opening, loading or attaching a BPF object, with libbpf's own words.
///
/// The message describes the problem only; when it is about something the user gave (a global's
/// value, an attach target, a BTF file, a map size), `input` says which, and `remedy` what the user
/// can change. A front end names its own option for them (btf-run: `--set`, `--attach` ...);
/// `description` words them without options, for callers that have none.
public struct BPFLoaderError: Error, Sendable, CustomStringConvertible {
    /// The problem, naming the object (and program) concerned.
    public var message: String
    /// The errno libbpf reported, or 0.
    public var errnoCode: Int32
    /// The input of the run the problem is about, or `nil`.
    public var input: RunInput?
    /// What the user can change about it, or `nil`.
    public var remedy: Remedy?

    /// BTFRuntime's `error`, its remedy kept.
    public init(_ error: BTFRuntimeError) {
        self.init(error.message, errnoCode: error.errnoCode, remedy: error.remedy.map(Remedy.pack))
    }

    /// An error with `message` and `errnoCode`, about `input`, with `remedy`.
    public init(_ message: String, errnoCode: Int32 = 0, input: RunInput? = nil, remedy: Remedy? = nil) {
        self.message = message
        self.errnoCode = errnoCode
        self.input = input
        self.remedy = remedy
    }

    /// The message, after the input it is about and followed by the remedy, in words naming no option.
    public var description: String {
        (input.map { "\($0): " } ?? "") + message + (remedy.map { "; \($0)" } ?? "")
    }

    /// What the user can change about a problem; a front end words it with its own options.
    public enum Remedy: Sendable, Equatable, CustomStringConvertible {
        /// Not streaming `bpf_printk` output avoids it (btf-run: `--no-trace-pipe`).
        case disableTracePipe
        /// The map named can be given other sizes (btf-run: `--max-entries`, `--value-size`).
        case resizeMap(String)
        /// The input takes the form of this example (a map's `NAME=N`).
        case example(String)
        /// Only programs of these sections (a list of section kinds) take an attach target.
        case attachTargetSections(String)
        /// What BTFRuntime says to do about the pack (embed one, pack again for the object).
        case pack(BTFRuntimeError.Remedy)

        public var description: String {
            switch self {
            case .disableTracePipe: "not streaming bpf_printk output avoids it"
            case .resizeMap(let map): "other sizes for map \(map) may work"
            case .example(let example): "e.g. \(example)"
            case .attachTargetSections(let sections): "only programs of the sections \(sections) take an attach target"
            case .pack(let remedy): remedy.description
            }
        }
    }
}

/// An input of a run that an error can be about: what kind of input, and the value as the user
/// gave it. A front end names the option that carries each kind.
public struct RunInput: Sendable, Equatable, CustomStringConvertible {
    /// The kinds of input a run takes.
    public enum Kind: Sendable, Equatable {
        /// A global's assignment, `NAME=VALUE`.
        case globalVariable
        /// A program's attach target, `PROGRAM=TARGET`.
        case attachTarget
        /// A BTF file to relocate against.
        case btfFile
        /// An unpacked btfhub tree to choose the BTF from.
        case btfhubTree
        /// A map's entry count, `MAP=N`.
        case maxEntries
        /// A map's value size, `MAP=N`.
        case valueSize
        /// A map given a size (entry count or value size), by name.
        case mapSize
    }

    /// What kind of input it is.
    public var kind: Kind
    /// The value as given (`NAME=VALUE`, `PROGRAM=TARGET`, a path, a map name).
    public var value: String
    /// Whether the value is not of the form its kind takes (front ends show it quoted).
    public var isMalformed: Bool

    /// The input of `kind` with `value`.
    public init(_ kind: Kind, _ value: String, malformed: Bool = false) {
        self.kind = kind
        self.value = value
        self.isMalformed = malformed
    }

    public var description: String {
        let what = switch kind {
        case .globalVariable: "global variable assignment"
        case .attachTarget: "attach target"
        case .btfFile: "BTF file"
        case .btfhubTree: "btfhub tree"
        case .maxEntries: "map entry count"
        case .valueSize: "map value size"
        case .mapSize: "map size for"
        }
        return "\(what) " + (isMalformed ? "'\(value)'" : value)
    }
}
