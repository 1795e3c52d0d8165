import BPFLoader
import BTFRuntime
import CommandSupport

/// A library error in btf-run's words: the library describes the problem and which input of the
/// run it is about; btf-run names the option that carries the input and the option or command
/// that fixes it.
func btfRunText(_ error: any Error) -> String {
    switch error {
    case let error as BPFLoaderError:
        return (error.input.map { "\($0.btfRunText): " } ?? "") + error.message + (error.remedy.map { $0.btfRunText(input: error.input) } ?? "")
    case let error as BTFRuntimeError:
        return error.message + (error.remedy.map { "; " + $0.btfRunText } ?? "")
    default:
        return "\(error)"
    }
}

extension RunInput {
    /// The option and its value, as given (quoted when it is not of the option's form).
    var btfRunText: String {
        let shown = isMalformed ? "'\(value)'" : value
        return switch kind {
        case .globalVariable: "--set \(shown)"
        case .attachTarget: "--attach \(shown)"
        case .btfFile: "--btf \(shown)"
        case .btfhubTree: "--btfhub \(shown)"
        case .maxEntries: "--max-entries \(shown)"
        case .valueSize: "--value-size \(shown)"
        case .mapSize: "--max-entries/--value-size \(shown)=…"
        }
    }

    /// The option alone.
    var option: String { String(btfRunText.prefix { $0 != " " }) }
}

extension BPFLoaderError.Remedy {
    /// What follows the message: the option or command that fixes the problem.
    func btfRunText(input: RunInput?) -> String {
        switch self {
        case .disableTracePipe: " (--no-trace-pipe turns it off)"
        case .resizeMap(let map): "; --max-entries \(map)=N or --value-size \(map)=N changes its size"
        case .example(let example): " (e.g. " + (input.map { "\($0.option) " } ?? "") + "\(example))"
        case .attachTargetSections(let sections): "; --attach gives a target only to programs of the sections \(sections)"
        case .pack(let remedy): "; " + remedy.btfRunText
        }
    }
}

extension BTFRuntimeError.Remedy {
    /// The btf-pack command that fixes it.
    var btfRunText: String {
        switch self {
        case .embedPack: PackHints.embedPack
        case .repackForObject: PackHints.repackForObject(allowStaleVariable: PackFreshness.allowStaleVariable)
        }
    }
}

extension ProgramDecision {
    /// The reason, a user's pattern named with its option (`-v`, `--list`, load errors).
    var btfRunReason: String {
        switch pattern {
        case .enabled(let pattern): "enabled by --enable \(pattern)"
        case .disabled(let pattern): "disabled by --disable \(pattern)"
        case nil: reason
        }
    }
}

extension MapNote {
    /// The note with the option that gave the size, or that would set it, for `map`.
    func btfRunText(map: String) -> String {
        switch self {
        case .perfFallback: description
        case .maxEntriesGiven(let entries): "max_entries \(entries) from --max-entries"
        case .maxEntriesDefault(let entries, let why): "declared with max_entries 0: \(entries) (\(why); --max-entries \(map)=N sets it)"
        case .valueSizeGiven(let size): "value_size \(size) from --value-size"
        case .stackTraceValueSizeDefault(let size): "declared with value_size 0: \(size) (127 frames of 8 bytes; --value-size \(map)=N sets it)"
        }
    }
}

extension ChosenBTF {
    /// Why it was chosen, a file btf-run was given named with its option.
    var btfRunReason: String { input.map { "named by \($0.option)" } ?? reason }
}
