import BTF
import Glibc

/// Which result maps a run prints, and how.
public struct MapPrintOptions: Sendable {
    /// Only these maps (empty: every result map but `hidden` and event scratch maps).
    public var only: [String] = []
    /// Maps left out.
    public var hidden: [String] = []
    /// Rows and per-CPU values.
    public var report = MapReportOptions()
    /// Keep counting across prints instead of emptying the maps after each one but the last.
    public var cumulative = false
    /// Print the wall-clock time before each text print (bcc's -T; for periodic prints).
    public var timestamps = false
    /// The value column's name in histograms (bcc's val_type).
    public var histogramUnit = "value"

    public init() {}
}

/// Reads the chosen result maps of a loaded object and prints them: text (bcc's histogram and
/// table layout) or one JSON document per print.
public final class MapPrinter {
    /// The maps printed.
    public let maps: [ResultMap]
    /// Stack-trace maps: not printed, but the stack ids of printed maps are looked up in them.
    let stackMaps: [ResultMap]
    private lazy var symbolizer = StackSymbolizer()
    let btf: BTF?
    let options: MapPrintOptions
    let format: OutputFormat
    private let write: (String) -> Void
    private var printed = 0

    /// The maps `options` choose among `loaded`'s result maps; naming a map it does not have is an error.
    /// A map whose value is the event type (`eventType`) is the program's scratch space for
    /// building events (bcc's `heap`), not a result: left out unless named in `options.only`.
    public init(loaded: LoadedBPFObject, objectBytes: [UInt8], objectName: String, options: MapPrintOptions, format: OutputFormat,
                eventType: TypeID?, write: @escaping (String) -> Void = EventPrinter.standardOutput) throws(BPFLoaderError) {
        let everything = loaded.resultMaps
        stackMaps = everything.filter { $0.kind == .stackTrace }
        let all = everything.filter { $0.kind != .stackTrace }
        btf = try? BTF(elf: try ELFFile(parsing: objectBytes, file: objectName))
        for name in options.only + options.hidden where !all.contains(where: { $0.name == name }) {
            throw BPFLoaderError("\(objectName) has no result map named '\(name)'"
                                 + (all.isEmpty ? " (it has none)" : "; its result maps are \(all.map(\.name).joined(separator: ", "))"))
        }
        let btf = btf
        func isScratch(_ map: ResultMap) -> Bool {
            guard let eventType, let value = map.valueType, let btf else { return false }
            return EventDecoder(btf: btf, typeID: value).resolvedType == eventType
        }
        maps = all.filter {
            options.only.isEmpty ? !options.hidden.contains($0.name) && !isScratch($0) : options.only.contains($0.name)
        }
        self.options = options
        self.format = format
        self.write = write
    }

    /// A table whose key holds stack ids, with each id's frames named (kernel symbols, user mappings).
    private func withStacks(_ report: MapReport) -> MapReport {
        guard case .table(let name, var table) = report, let stackMap = stackMaps.first, !table.stackColumns.isEmpty else { return report }
        let pidColumn = (0 ..< table.keyColumns).first { ["pid", "tgid"].contains(table.columns[$0].lowercased()) }
        table.frames = table.rows.map { row in
            var named: [String: [String]] = [:]
            for column in table.stackColumns {
                guard case let id? = row[column].integerValue, let ips = MapReader.stack(id, in: stackMap) else { continue }
                named[table.columns[column]] = symbolizer.frames(ips, pid: pidColumn.flatMap { row[$0].integerValue })
            }
            return named
        }
        return .table(map: name, table)
    }

    /// Prints every chosen map; `final` is the print at exit. Between prints (not at exit) the
    /// maps are emptied unless `options.cumulative`.
    public func printMaps(final: Bool) throws(BPFLoaderError) {
        guard !maps.isEmpty else { return }
        var reports: [MapReport] = []
        for map in maps {
            let entries = try MapReader.entries(of: map)
            reports.append(withStacks(MapReport.build(map: map, entries: entries, btf: btf, options: options.report)))
            if !final && !options.cumulative { try MapReader.clear(map, entries: entries) }
        }
        printed += 1
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        switch format {
        case .json:
            let time = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
            write("{\"time\":\(time),\"interval\":\(printed),\"final\":\(final),\"maps\":[" + reports.map(\.json).joined(separator: ",") + "]}\n")
        case .text:
            var out = ""
            if options.timestamps {
                // bcc's -T line: the wall-clock time of this print.
                var seconds = now.tv_sec
                var parts = tm()
                localtime_r(&seconds, &parts)
                var buffer = [UInt8](repeating: 0, count: 16)
                let length = buffer.withUnsafeMutableBufferPointer { strftime($0.baseAddress, $0.count, "%H:%M:%S", &parts) }
                out += "\n" + String(decoding: buffer.prefix(length), as: UTF8.self) + "\n"
            }
            for report in reports { out += "\n" + report.text(histogramValueType: options.histogramUnit) }
            write(out)
        }
    }
}
