/// Text and JSON for map reports: histograms in bcc's `print_log2_hist` layout
/// (libbpf-tools/trace_helpers.c), tables in columns.
extension Log2Histogram {
    /// The histogram as bcc's `print_log2_hist(vals, size, valueType)` prints it: a header, then
    /// one line per slot up to the last non-zero one, stars scaled to the largest count (40
    /// wide, 20 when there are more than 33 slots). Empty when every count is zero.
    public func text(valueType: String = "value") -> String {
        guard let last = slots.lastIndex(where: { $0 != 0 }) else { return "" }
        let wide = last > 32
        let maximum = slots.max() ?? 0
        let stars = wide ? 20 : 40
        let width = wide ? 20 : 10
        var out = String(repeating: " ", count: wide ? 15 : 5) + leftAligned(valueType, wide ? 29 : 19) + " : count    distribution\n"
        for index in 0 ... last {
            var low: UInt64 = index >= 63 ? 1 << 63 : (1 << UInt64(index + 1)) >> 1
            let high: UInt64 = index >= 63 ? .max : (1 << UInt64(index + 1)) - 1
            if low == high { low -= 1 }
            let count = slots[index]
            let filled = Int(min(count, maximum) * UInt64(stars) / maximum)
            out += rightAligned(String(low), width) + " -> " + leftAligned(String(high), width) + " : " + leftAligned(String(count), 8) + " |"
            out += String(repeating: "*", count: filled) + String(repeating: " ", count: stars - filled) + "|\n"
        }
        return out
    }

    /// The labels as bcc's per-key headers print them (`pid = 123 comm = bash`).
    public var heading: String {
        labels.map { "\($0.0) = \($0.1.text)" }.joined(separator: " ")
    }
}

extension MapTable {
    /// The table as columns under an upper-case header: key columns and text left-aligned,
    /// numbers right-aligned, each column as wide as its widest cell.
    public var text: String {
        if !frames.isEmpty { return stackText }
        let cells = rows.map { $0.map(\.text) }
        let widths = columns.indices.map { column in
            cells.reduce(columns[column].count) { max($0, column < $1.count ? $1[column].count : 0) }
        }
        let numeric = columns.indices.map { column in
            column >= keyColumns && rows.allSatisfy { column < $0.count && $0[column].number != nil }
        }
        func line(_ items: [String]) -> String {
            items.enumerated().map { column, item in
                numeric[column] ? rightAligned(item, widths[column]) : leftAligned(item, widths[column])
            }.joined(separator: " ").trimmingTrailingBlanks + "\n"
        }
        return line(columns.map { $0.uppercased() }) + cells.map(line).joined()
    }
}

extension MapTable {
    /// Rows with stacks in the layout of bcc's profile/offcputime: each stack's frames (innermost
    /// first, kernel before user), a `-` line with the other key members, then the values.
    var stackText: String {
        let stacks = Set(stackColumns)
        var out = ""
        for (index, row) in rows.enumerated() {
            let named = index < frames.count ? frames[index] : [:]
            for column in stackColumns {
                for frame in named[columns[column]] ?? [] { out += "    " + frame + "\n" }
            }
            let others = (0 ..< keyColumns).filter { !stacks.contains($0) }.map { "\(columns[$0])=\(row[$0].text)" }
            out += "    -                " + others.joined(separator: " ") + "\n"
            out += "        " + row[keyColumns...].map(\.text).joined(separator: " ") + "\n\n"
        }
        return out
    }
}

extension MapReport {
    /// The report as text: the map's name, then its histograms (a heading per key) or table.
    public func text(histogramValueType: String = "value") -> String {
        switch self {
        case .histograms(let map, let histograms):
            var out = "\(map):\n"
            for histogram in histograms {
                if !histogram.labels.isEmpty { out += "\n" + histogram.heading + "\n" }
                out += histogram.text(valueType: histogramValueType)
            }
            return out
        case .table(let map, let table):
            return "\(map):\n" + table.text
        }
    }

    /// The report as one JSON object: `{"map":…,"kind":"histogram","histograms":[{labels…,"slots":[…]}]}`
    /// or `{"map":…,"kind":"table","rows":[{column:value…}]}`.
    public var json: String {
        switch self {
        case .histograms(let map, let histograms):
            let items = histograms.map { histogram in
                "{" + (histogram.labels.map { EventValue.jsonString($0.0) + ":" + $0.1.json } + ["\"slots\":[" + histogram.slots.map(String.init).joined(separator: ",") + "]"]).joined(separator: ",") + "}"
            }
            return "{\"map\":\(EventValue.jsonString(map)),\"kind\":\"histogram\",\"histograms\":[" + items.joined(separator: ",") + "]}"
        case .table(let map, let table):
            let rows = table.rows.enumerated().map { index, row in
                let frames = index < table.frames.count ? table.frames[index].sorted { $0.key < $1.key } : []
                return "{" + (zip(table.columns, row).map { EventValue.jsonString($0.0) + ":" + $0.1.json }
                    + frames.map { EventValue.jsonString($0.key + "_frames") + ":[" + $0.value.map(EventValue.jsonString).joined(separator: ",") + "]" })
                    .joined(separator: ",") + "}"
            }
            return "{\"map\":\(EventValue.jsonString(map)),\"kind\":\"table\",\"rows\":[" + rows.joined(separator: ",") + "]}"
        }
    }
}

func leftAligned(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

func rightAligned(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

extension String {
    var trimmingTrailingBlanks: String {
        var text = Substring(self)
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
