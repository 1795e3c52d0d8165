/// `btf-run --list`: an object's programs (with the plan's decision for this kernel), maps (as they
/// will be created) and settable globals (with their defaults), as text or one JSON object.
public struct ObjectListing: Sendable {
    /// The plan's decisions.
    public var plan: ProgramPlan
    /// The maps as configured.
    public var maps: [MapDecision]
    /// The settable globals.
    public var globals: [GlobalVariable]
    /// Each decision's reason and each map's notes as shown (a front end's words for the options
    /// behind them).
    private let reasons: [String]
    private let notes: [[String]]

    /// A listing of `plan`, `maps` and `globals`; `reason` and `note` word decisions and map notes
    /// (by default without option names).
    public init(plan: ProgramPlan, maps: [MapDecision], globals: [GlobalVariable],
                reason: (ProgramDecision) -> String = \.reason, note: (MapNote, MapDecision) -> String = { note, _ in note.description }) {
        self.plan = plan
        self.maps = maps
        self.globals = globals
        reasons = plan.decisions.map(reason)
        notes = maps.map { map in map.notes.map { note($0, map) } }
    }

    /// Aligned text, one section per kind, as `bpftool prog`-like lines.
    public var text: String {
        var lines: [String] = []
        lines.append("programs:")
        lines += table(zip(plan.decisions, reasons).map { decision, reason in
            [decision.program.name, decision.program.section, decision.program.typeName, decision.loads ? "load" : "skip", reason]
        })
        lines.append("maps:")
        lines += table(zip(maps, notes).map { map, notes in
            let key = map.keyType.isEmpty ? "\(map.keySize)" : "\(map.keyType) (\(map.keySize))"
            let value = map.valueType.isEmpty ? "\(map.valueSize)" : "\(map.valueType) (\(map.valueSize))"
            return [map.name, map.type, "key " + key, "value " + value, "max_entries \(map.maxEntries)", notes.joined(separator: "; ")]
        })
        lines.append("globals:")
        lines += table(globals.map { [$0.name, $0.section, $0.typeDescription, "= " + $0.defaultValue.text] })
        return lines.joined(separator: "\n")
    }

    /// Columns padded to their widest cell, two spaces in front.
    private func table(_ rows: [[String]]) -> [String] {
        guard let columns = rows.map(\.count).max() else { return ["  (none)"] }
        let widths = (0 ..< columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            "  " + row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ").trimmingTrailingBlanks
        }
    }

    /// One JSON object: `{"programs":[...],"maps":[...],"globals":[...]}`.
    public var json: String {
        func string(_ s: String) -> String { EventValue.jsonString(s) }
        let programs = zip(plan.decisions, reasons).map { decision, reason in
            "{\"name\":\(string(decision.program.name)),\"section\":\(string(decision.program.section)),\"type\":\(string(decision.program.typeName)),"
                + "\"load\":\(decision.loads),\"reason\":\(string(reason))}"
        }
        let maps = zip(maps, notes).map { map, notes in
            "{\"name\":\(string(map.name)),\"type\":\(string(map.type)),\"declared_type\":\(string(map.declaredType)),"
                + "\"key_type\":\(string(map.keyType)),\"key_size\":\(map.keySize),\"value_type\":\(string(map.valueType)),"
                + "\"value_size\":\(map.valueSize),\"declared_value_size\":\(map.declaredValueSize),"
                + "\"max_entries\":\(map.maxEntries),\"declared_max_entries\":\(map.declaredMaxEntries),"
                + "\"notes\":[\(notes.map(string).joined(separator: ","))]}"
        }
        let globals = globals.map { global in
            "{\"name\":\(string(global.name)),\"section\":\(string(global.section)),\"type\":\(string(global.typeDescription)),"
                + "\"size\":\(global.size),\"default\":\(global.defaultValue.json)}"
        }
        return "{\"programs\":[\(programs.joined(separator: ","))],\"maps\":[\(maps.joined(separator: ","))],\"globals\":[\(globals.joined(separator: ","))]}"
    }
}
