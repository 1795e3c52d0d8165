import BTF
import Glibc

/// The two forms btf-run prints in: text (columns, bcc's layouts) and JSON (one document a line).
public enum OutputFormat: Sendable {
    case text
    case json
}

/// Prints what a run produces, in one format: event records (hex, or decoded by an
/// `EventDecoder` into text columns under a header, or JSON lines) and `bpf_printk` lines.
/// A class: the event stream's handler and the loop that drains `trace_pipe` print through the
/// same one, and its counts are read after the run.
public final class EventPrinter {
    /// Decodes the records; `nil`: they print as hex.
    public let decoder: EventDecoder?
    public let format: OutputFormat
    /// Whether each record says which map it came from (the object has several event maps).
    public let showMap: Bool
    private let write: (String) -> Void
    private var columnWidths: [Int]?
    /// Records printed, and those shorter or longer than the event type (-v reports them).
    public private(set) var records = 0
    public private(set) var shortRecords = 0
    public private(set) var longRecords = 0

    /// A printer handing its text to `write` (standard output by default), one record or one
    /// batch of trace lines at a time.
    public init(decoder: EventDecoder?, format: OutputFormat, showMap: Bool, write: @escaping (String) -> Void = EventPrinter.standardOutput) {
        self.decoder = decoder
        self.format = format
        self.showMap = showMap
        self.write = write
    }

    /// Writes `text` to standard output and flushes every stream, so that a reader of a pipe
    /// sees each event at once.
    public static func standardOutput(_ text: String) {
        Swift.print(text, terminator: "")
        fflush(nil)
    }

    /// Prints one record (an `EventStream` handler).
    public func print(_ event: BPFEvent) {
        write(text(map: event.map, record: Array(event.bytes)))
    }

    /// Prints `bpf_printk` lines (`TracePipe.drain`); nothing for none.
    public func printTraceLines(_ lines: [String]) {
        guard !lines.isEmpty else { return }
        write(traceText(lines))
    }

    /// The text for one record of `map`, ending with a newline; in text form the header line of
    /// field names comes before the first decoded record. Counts the record.
    public func text(map: String, record: [UInt8]) -> String {
        records += 1
        guard let decoder else {
            switch format {
            case .json: return EventValue.fields([("map", .string(map)), ("size", .unsigned(UInt64(record.count))), ("data", .bytes(record))]).json + "\n"
            case .text: return "\(map) \(record.count) bytes: \(hex(record))\n"
            }
        }
        if record.count < decoder.size { shortRecords += 1 } else if record.count > decoder.size { longRecords += 1 }
        let value = decoder.decode(record)
        guard case .fields(let fields) = value else { return value.rendered(as: format) + "\n" }
        let row = (showMap ? [("map", EventValue.string(map))] : []) + fields
        switch format {
        case .json: return EventValue.fields(row).json + "\n"
        case .text: return columns(row)
        }
    }

    /// `bpf_printk` lines as they are (bcc's trace_pipe look); in JSON one object each.
    public func traceText(_ lines: [String]) -> String {
        lines.map { line in
            (format == .json ? EventValue.fields([("trace_pipe", .string(line))]).json : line) + "\n"
        }.joined()
    }

    /// One row; before the first, a header of field names. Columns are as wide as their name,
    /// at least 7 characters (16 for strings), so rows line up under the header.
    private func columns(_ named: [(String, EventValue)]) -> String {
        var out = ""
        if columnWidths == nil {
            let widths = named.map { name, value in
                if case .string = value { return max(name.count, 16) }
                return max(name.count, 7)
            }
            columnWidths = widths
            out = zip(named, widths).map { leftAligned($0.0.0, $0.1) }.joined(separator: " ").trimmingTrailingBlanks + "\n"
        }
        let widths = columnWidths!
        return out + named.enumerated().map { index, field in
            index < widths.count ? leftAligned(field.1.text, widths[index]) : field.1.text
        }.joined(separator: " ").trimmingTrailingBlanks + "\n"
    }
}

// MARK: - Values: one walker, one emitter per format (bpftool's btf_dumper.c)

/// How one format spells decoded values: `EventValue.rendered(with:)` walks members and
/// elements and asks the emitter for each piece, so text and JSON share the walk.
protocol ValueEmitter {
    /// A value without members or elements.
    func scalar(_ value: EventValue) -> String
    /// A struct's members, each value already rendered.
    func members(_ members: [(name: String, value: String)]) -> String
    /// An array's elements, already rendered.
    func elements(_ elements: [String]) -> String
}

/// Text for a column: nested values in braces and brackets.
struct TextEmitter: ValueEmitter {
    func scalar(_ value: EventValue) -> String {
        switch value {
        case .signed(let v): String(v)
        case .unsigned(let v): String(v)
        case .floating(let v): "\(v)"
        case .string(let s): s
        case .enumerator(let name, let number): name ?? String(number)
        case .pointer(let v): "0x" + String(v, radix: 16)
        case .bytes(let bytes): hex(bytes, separator: "")
        case .array, .fields: value.rendered(with: self)
        }
    }

    func members(_ members: [(name: String, value: String)]) -> String {
        "{" + members.map { "\($0.name)=\($0.value)" }.joined(separator: " ") + "}"
    }

    func elements(_ elements: [String]) -> String {
        "[" + elements.joined(separator: ",") + "]"
    }
}

/// JSON: strings escaped, bytes as a hex string, pointers as "0x..." strings, non-finite floats null.
struct JSONEmitter: ValueEmitter {
    func scalar(_ value: EventValue) -> String {
        switch value {
        case .signed(let v): String(v)
        case .unsigned(let v): String(v)
        case .floating(let v): v.isFinite ? "\(v)" : "null"
        case .string(let s): EventValue.jsonString(s)
        case .enumerator(let name, let number): name.map(EventValue.jsonString) ?? String(number)
        case .pointer(let v): EventValue.jsonString("0x" + String(v, radix: 16))
        case .bytes(let bytes): EventValue.jsonString(hex(bytes, separator: ""))
        case .array, .fields: value.rendered(with: self)
        }
    }

    func members(_ members: [(name: String, value: String)]) -> String {
        "{" + members.map { EventValue.jsonString($0.name) + ":" + $0.value }.joined(separator: ",") + "}"
    }

    func elements(_ elements: [String]) -> String {
        "[" + elements.joined(separator: ",") + "]"
    }
}

extension EventValue {
    /// The value in `format`.
    public func rendered(as format: OutputFormat) -> String {
        switch format {
        case .text: rendered(with: TextEmitter())
        case .json: rendered(with: JSONEmitter())
        }
    }

    /// The walk: members and elements recursively, everything else to the emitter.
    func rendered(with emitter: some ValueEmitter) -> String {
        switch self {
        case .fields(let fields): emitter.members(fields.map { (name: $0.0, value: $0.1.rendered(with: emitter)) })
        case .array(let items): emitter.elements(items.map { $0.rendered(with: emitter) })
        default: emitter.scalar(self)
        }
    }

    /// The value as JSON (strings escaped; bytes as a hex string; pointers as "0x..." strings).
    public var json: String { rendered(as: .json) }

    /// The value as text for a column (nested values in braces and brackets).
    public var text: String { rendered(as: .text) }

    /// `s` as a JSON string literal, quoted and escaped.
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let code = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - code.count) + code
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// `bytes` as two-digit lowercase hex, separated by `separator`.
public func hex(_ bytes: some Sequence<UInt8>, separator: String = " ") -> String {
    let digits = Array("0123456789abcdef")
    return bytes.map { String([digits[Int($0 >> 4)], digits[Int($0 & 15)]]) }.joined(separator: separator)
}
