import BTF

/// What a result map's contents mean once decoded through its BTF key and value types: log2
/// histograms or a table. Built from decoded values (`EventValue`), never from libbpf handles.
public enum MapReport: Sendable, Equatable {
    /// One or more log2 histograms (one per key when the key is more than a bucket index).
    case histograms(map: String, [Log2Histogram])
    /// Rows of key and value columns.
    case table(map: String, MapTable)

    /// The map's name.
    public var map: String {
        switch self {
        case .histograms(let map, _), .table(let map, _): map
        }
    }
}

/// How result maps are reported.
public struct MapReportOptions: Sendable {
    /// At most this many rows (tables) or histograms (per-key histograms), largest first.
    public var top: Int?
    /// Per-CPU maps: one row per CPU instead of the sum.
    public var perCPU = false

    public init(top: Int? = nil, perCPU: Bool = false) {
        self.top = top
        self.perCPU = perCPU
    }
}

/// A log2 histogram: `slots[i]` counts values in [2^i, 2^(i+1)) (slot 0 holds 0 and 1), as
/// bcc's tools fill them with `log2l`.
public struct Log2Histogram: Sendable, Equatable {
    /// What the histogram is for (key members, other value members such as `comm`); empty for
    /// a map's single global histogram.
    public var labels: [(String, EventValue)]
    /// The counts.
    public var slots: [UInt64]

    public init(labels: [(String, EventValue)], slots: [UInt64]) {
        self.labels = labels
        self.slots = slots
    }

    public static func == (a: Log2Histogram, b: Log2Histogram) -> Bool {
        a.slots == b.slots && EventValue.fields(a.labels) == EventValue.fields(b.labels)
    }

    /// The sum of the counts.
    public var total: UInt64 { slots.reduce(0, &+) }
}

/// A table: column names, and rows of decoded values (key columns first).
public struct MapTable: Sendable, Equatable {
    public var columns: [String]
    /// How many leading columns come from the key.
    public var keyColumns: Int
    public var rows: [[EventValue]]
    /// Per row, the named frames of the stacks its stack-id columns refer to (column name to
    /// frames, innermost first); empty when the map has no stack ids.
    public var frames: [[String: [String]]] = []

    public init(columns: [String], keyColumns: Int, rows: [[EventValue]]) {
        self.columns = columns
        self.keyColumns = keyColumns
        self.rows = rows
    }

    /// The key columns holding stack ids (`kern_stack_id`, `user_stack_id`, `stack_id` ...).
    /// Kernel stacks first, as bcc's profile prints them.
    public var stackColumns: [Int] {
        let stacks = (0 ..< keyColumns).filter { columns[$0].lowercased().contains("stack") && columns[$0].lowercased().hasSuffix("id") }
        return stacks.filter { columns[$0].lowercased().contains("k") && !columns[$0].lowercased().contains("user") }
            + stacks.filter { !(columns[$0].lowercased().contains("k") && !columns[$0].lowercased().contains("user")) }
    }
}

extension MapReport {
    /// The report for `map`'s `entries` (from `MapReader.entries`), decoded with `btf` (the
    /// object's): a histogram when the value (or a member of it) is an integer array named
    /// `slots`, or when the key has a `slot`/`bucket` member (or is the index of an array map
    /// named like a histogram); a table otherwise.
    public static func build(map: ResultMap, entries: [MapEntry], btf: BTF?, options: MapReportOptions = MapReportOptions()) -> MapReport {
        let keyDecoder = map.keyType.flatMap { id in btf.map { EventDecoder(btf: $0, typeID: id) } }
        let valueDecoder = map.valueType.flatMap { id in btf.map { EventDecoder(btf: $0, typeID: id) } }
        func decodeKey(_ bytes: [UInt8]) -> EventValue { keyDecoder?.decode(bytes) ?? plain(bytes) }
        func decodeValue(_ bytes: [UInt8]) -> EventValue { valueDecoder?.decode(bytes) ?? plain(bytes) }
        // Per-CPU values summed member by member (unless split by --per-cpu for tables).
        func summed(_ entry: MapEntry) -> EventValue {
            entry.values.map(decodeValue).reduce(nil) { sum, next in sum.map { $0.adding(next) } ?? next } ?? .bytes([])
        }

        // A value with a `slots` member: one histogram per key.
        if let sample = entries.first, case .fields(let fields) = summed(sample), fields.contains(where: { $0.0 == "slots" && $0.1.counters != nil }) {
            var histograms: [Log2Histogram] = []
            for entry in entries {
                guard case .fields(let fields) = summed(entry), let slots = fields.first(where: { $0.0 == "slots" })?.1.counters,
                      slots.contains(where: { $0 != 0 }) else { continue }
                let others = fields.filter { $0.0 != "slots" && !$0.1.isEmptyLabel }
                histograms.append(Log2Histogram(labels: labels(of: decodeKey(entry.key)) + others, slots: slots))
            }
            let global = entries.count == 1 && entries[0].key.allSatisfy { $0 == 0 }
            if global, histograms.count == 1 { histograms[0].labels = histograms[0].labels.filter { !($0.0 == "key" && $0.1.isZero) } }
            return .histograms(map: map.name, limited(sortedHistograms(histograms), options.top))
        }

        // A key that is a bucket index (alone, or a `slot`/`bucket` member beside others).
        if let bucket = bucketIndex(map: map, sample: entries.first.map { decodeKey($0.key) }) {
            var groups: [(labels: [(String, EventValue)], slots: [UInt64])] = []
            for entry in entries {
                let key = decodeKey(entry.key)
                guard let count = summed(entry).counterValue else { continue }
                var rest: [(String, EventValue)] = []
                var index: UInt64 = 0
                if let member = bucket {
                    guard case .fields(let fields) = key else { continue }
                    for field in fields {
                        if field.0 == member { index = field.1.counterValue ?? 0 } else { rest.append(field) }
                    }
                } else {
                    index = key.counterValue ?? 0
                }
                guard index < 128, count != 0 else { continue }
                let slot = Int(index)
                if let at = groups.firstIndex(where: { EventValue.fields($0.labels) == EventValue.fields(rest) }) {
                    if groups[at].slots.count <= slot { groups[at].slots += [UInt64](repeating: 0, count: slot + 1 - groups[at].slots.count) }
                    groups[at].slots[slot] &+= count
                } else {
                    var slots = [UInt64](repeating: 0, count: slot + 1)
                    slots[slot] = count
                    groups.append((rest, slots))
                }
            }
            return .histograms(map: map.name, limited(sortedHistograms(groups.map { Log2Histogram(labels: $0.labels, slots: $0.slots) }), options.top))
        }

        // A table: key columns, value columns; per-CPU values summed or one row per CPU.
        var keyNames: [String] = []
        var valueNames: [String] = []
        var rows: [(sortKey: Double, cells: [EventValue])] = []
        let split = options.perCPU && map.kind.isPerCPU
        for entry in entries {
            let key = columns(of: decodeKey(entry.key), single: "key")
            let values: [(cpu: Int?, value: EventValue)] = split
                ? entry.values.enumerated().map { ($0.offset, decodeValue($0.element)) }
                : [(nil, summed(entry))]
            for (cpu, value) in values {
                let cells = columns(of: value, single: "value")
                // Array maps hold every index: untouched (all-zero) entries are not results.
                if map.kind.isArray, cells.allSatisfy({ $0.1.isZero }) { continue }
                if keyNames.isEmpty { keyNames = key.map(\.0) + (split ? ["cpu"] : []) }
                if valueNames.isEmpty { valueNames = cells.map(\.0) }
                let sortKey = cells.lazy.compactMap { $0.1.number }.first ?? 0
                rows.append((sortKey, key.map(\.1) + (cpu.map { [.signed(Int64($0))] } ?? []) + cells.map(\.1)))
            }
        }
        if keyNames.isEmpty {
            keyNames = columns(of: keyDecoder.map { _ in .unsigned(0) } ?? .unsigned(0), single: "key").map(\.0)
            valueNames = ["value"]
        }
        rows.sort { $0.sortKey > $1.sortKey }
        let cells = limited(rows.map(\.cells), options.top)
        return .table(map: map.name, MapTable(columns: keyNames + valueNames, keyColumns: keyNames.count, rows: cells))
    }

    /// A key or value without BTF type: an integer when it has an integer's size, else bytes.
    static func plain(_ bytes: [UInt8]) -> EventValue {
        guard [1, 2, 4, 8].contains(bytes.count) else { return .bytes(bytes) }
        var value: UInt64 = 0
        for (i, byte) in bytes.enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
        return .unsigned(value)
    }

    static func labels(of key: EventValue) -> [(String, EventValue)] {
        if case .fields(let fields) = key { return fields }
        return [("key", key)]
    }

    static func columns(of value: EventValue, single: String) -> [(String, EventValue)] {
        if case .fields(let fields) = value, !fields.isEmpty { return fields }
        return [(single, value)]
    }

    /// `nil` when the key is not a bucket index; `.some(nil)` when the whole key is the index;
    /// `.some(name)` for a key struct's `slot`/`bucket` member.
    static func bucketIndex(map: ResultMap, sample: EventValue?) -> String?? {
        if case .fields(let fields)? = sample {
            return fields.first { ($0.0 == "slot" || $0.0 == "bucket") && $0.1.counterValue != nil }.map { .some($0.0) }
        }
        let name = map.name.lowercased()
        if map.kind.isArray, sample?.counterValue != nil, ["hist", "dist", "slot", "bucket"].contains(where: name.contains) {
            return .some(nil)
        }
        return nil
    }

    static func sortedHistograms(_ histograms: [Log2Histogram]) -> [Log2Histogram] {
        histograms.enumerated().sorted { a, b in
            a.element.total != b.element.total ? a.element.total > b.element.total : a.offset < b.offset
        }.map(\.element)
    }

    static func limited<T>(_ items: [T], _ top: Int?) -> [T] {
        guard let top, top >= 0 else { return items }
        return Array(items.prefix(top))
    }
}

extension EventValue {
    /// The sum of two decoded values of the same type (per-CPU copies): integers add, arrays and
    /// members add element by element, anything else keeps the first non-empty value.
    public func adding(_ other: EventValue) -> EventValue {
        switch (self, other) {
        case let (.unsigned(a), .unsigned(b)): return .unsigned(a &+ b)
        case let (.signed(a), .signed(b)): return .signed(a &+ b)
        case let (.floating(a), .floating(b)): return .floating(a + b)
        case let (.array(a), .array(b)) where a.count == b.count: return .array(zip(a, b).map { $0.adding($1) })
        case let (.fields(a), .fields(b)) where a.count == b.count:
            return .fields(zip(a, b).map { ($0.0, $0.1.adding($1.1)) })
        default: return isEmptyLabel ? other : self
        }
    }

    /// An integer array's elements as counts (negative ones as zero); `nil` for anything else.
    var counters: [UInt64]? {
        guard case .array(let items) = self else { return nil }
        var counts: [UInt64] = []
        for item in items {
            guard let count = item.counterValue else { return nil }
            counts.append(count)
        }
        return counts
    }

    /// An integer as a count; `nil` for anything else.
    var counterValue: UInt64? {
        switch self {
        case .unsigned(let v): v
        case .signed(let v): v < 0 ? 0 : UInt64(v)
        case .enumerator(_, let v): v < 0 ? 0 : UInt64(v)
        default: nil
        }
    }

    /// A signed or unsigned integer.
    public var integerValue: Int64? {
        switch self {
        case .unsigned(let v): Int64(exactly: v)
        case .signed(let v): v
        default: nil
        }
    }

    /// A number to sort rows by.
    var number: Double? {
        switch self {
        case .unsigned(let v): Double(v)
        case .signed(let v): Double(v)
        case .floating(let v): v
        default: nil
        }
    }

    var isZero: Bool {
        switch self {
        case .unsigned(let v): v == 0
        case .signed(let v): v == 0
        case .floating(let v): v == 0
        case .pointer(let v): v == 0
        case .enumerator(_, let v): v == 0
        case .string(let s): s.isEmpty
        case .array(let items): items.allSatisfy(\.isZero)
        case .fields(let fields): fields.allSatisfy(\.1.isZero)
        case .bytes(let bytes): bytes.allSatisfy { $0 == 0 }
        }
    }

    /// An empty string or bytes: nothing to show as a label.
    var isEmptyLabel: Bool {
        switch self {
        case .string(let s): s.isEmpty
        case .bytes(let b): b.allSatisfy { $0 == 0 }
        default: false
        }
    }
}
