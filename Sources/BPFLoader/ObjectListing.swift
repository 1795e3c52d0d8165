/// `btf-run --list`: an object's programs (with the plan's decision for this kernel), maps (as they
/// will be created) and settable globals (with their defaults), as text or one JSON object.
public struct ObjectListing: Sendable {
    /// The plan's decisions.
    public var plan: ProgramPlan
    /// The maps as configured.
    public var maps: [MapDecision]
    /// The settable globals.
    public var globals: [GlobalVariable]

    /// A listing of `prepared` and `globals`.
    public init(plan: ProgramPlan, maps: [MapDecision], globals: [GlobalVariable]) {
        self.plan = plan
        self.maps = maps
        self.globals = globals
    }

    /// Aligned text, one section per kind, as `bpftool prog`-like lines.
    public var text: String {
        var lines: [String] = []
        lines.append("programs:")
        lines += table(plan.decisions.map { [$0.program.name, $0.program.section, $0.program.typeName, $0.loads ? "load" : "skip", $0.reason] })
        lines.append("maps:")
        lines += table(maps.map { map in
            let key = map.keyType.isEmpty ? "\(map.keySize)" : "\(map.keyType) (\(map.keySize))"
            let value = map.valueType.isEmpty ? "\(map.valueSize)" : "\(map.valueType) (\(map.valueSize))"
            return [map.name, map.type, "key " + key, "value " + value, "max_entries \(map.maxEntries)", map.notes.joined(separator: "; ")]
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
            }.joined(separator: "  ").trimmingTrailingSpacesForListing
        }
    }

    /// One JSON object: `{"programs":[...],"maps":[...],"globals":[...]}`.
    public var json: String {
        func string(_ s: String) -> String { EventValue.jsonString(s) }
        let programs = plan.decisions.map { decision in
            "{\"name\":\(string(decision.program.name)),\"section\":\(string(decision.program.section)),\"type\":\(string(decision.program.typeName)),"
                + "\"load\":\(decision.loads),\"reason\":\(string(decision.reason))}"
        }
        let maps = maps.map { map in
            "{\"name\":\(string(map.name)),\"type\":\(string(map.type)),\"declared_type\":\(string(map.declaredType)),"
                + "\"key_type\":\(string(map.keyType)),\"key_size\":\(map.keySize),\"value_type\":\(string(map.valueType)),"
                + "\"value_size\":\(map.valueSize),\"declared_value_size\":\(map.declaredValueSize),"
                + "\"max_entries\":\(map.maxEntries),\"declared_max_entries\":\(map.declaredMaxEntries),"
                + "\"notes\":[\(map.notes.map(string).joined(separator: ","))]}"
        }
        let globals = globals.map { global in
            "{\"name\":\(string(global.name)),\"section\":\(string(global.section)),\"type\":\(string(global.typeDescription)),"
                + "\"size\":\(global.size),\"default\":\(global.defaultValue.json)}"
        }
        return "{\"programs\":[\(programs.joined(separator: ","))],\"maps\":[\(maps.joined(separator: ","))],\"globals\":[\(globals.joined(separator: ","))]}"
    }
}

extension String {
    var trimmingTrailingSpacesForListing: String {
        var text = Substring(self)
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
