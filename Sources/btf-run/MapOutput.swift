import ArgumentParser
import BPFLoader
import BTF
import Glibc

/// btf-run's options for result maps (histograms and tables), printed at exit and every --interval.
struct MapOutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Print the result maps every SECONDS (and at exit).", valueName: "SECONDS"))
    var interval: Double?

    @Flag(help: "With --interval: empty the maps after each print, like bcc's tools (the default).")
    var clear = false

    @Flag(help: "With --interval: keep counting across intervals instead of emptying the maps.")
    var cumulative = false

    @Option(name: .customLong("map"), help: ArgumentHelp("Print only this result map (repeatable).", valueName: "NAME"))
    var maps: [String] = []

    @Option(name: .customLong("hide-map"), help: ArgumentHelp("Do not print this result map (repeatable).", valueName: "NAME"))
    var hiddenMaps: [String] = []

    @Option(help: ArgumentHelp("Print at most N table rows (largest values first) or per-key histograms.", valueName: "N"))
    var top: Int?

    @Flag(name: .customLong("per-cpu"), help: "Per-CPU maps: one row per CPU instead of the sum over CPUs.")
    var perCPU = false

    @Option(name: .customLong("hist-unit"), help: ArgumentHelp("The value column's name in histograms (bcc's val_type: usecs, kbytes ...).", valueName: "NAME"))
    var histogramUnit = "value"

    func validate() throws {
        if clear && cumulative { throw ValidationError("--clear and --cumulative contradict each other; give one") }
        if let interval, !(interval > 0) { throw ValidationError("--interval must be a positive number of seconds") }
        if let top, top < 1 { throw ValidationError("--top must be at least 1") }
    }
}

/// Reads the chosen result maps of a loaded object and prints them: text (bcc's histogram and
/// table layout) or one JSON document per print.
final class MapPrinter {
    let maps: [ResultMap]
    /// Stack-trace maps: not printed, but the stack ids of printed maps are looked up in them.
    let stackMaps: [ResultMap]
    private lazy var symbolizer = StackSymbolizer()
    let btf: BTF?
    let options: MapOutputOptions
    let json: Bool
    private var printed = 0

    /// The maps `options` choose among `loaded`'s result maps; `--map` naming no result map is an error.
    /// A map whose value is the event type (`eventType`) is the program's scratch space for
    /// building events (bcc's `heap`), not a result: left out unless named with --map.
    init(loaded: LoadedBPFObject, objectBytes: [UInt8], objectName: String, options: MapOutputOptions, json: Bool, eventType: TypeID?) throws(BPFLoaderError) {
        let everything = loaded.resultMaps
        stackMaps = everything.filter { $0.kind == .stackTrace }
        let all = everything.filter { $0.kind != .stackTrace }
        btf = try? BTF(elf: try ELFFile(parsing: objectBytes, file: objectName))
        for name in options.maps + options.hiddenMaps where !all.contains(where: { $0.name == name }) {
            throw BPFLoaderError("\(objectName) has no result map named '\(name)'"
                                 + (all.isEmpty ? " (it has none)" : "; its result maps are \(all.map(\.name).joined(separator: ", "))"))
        }
        let btf = btf
        func isScratch(_ map: ResultMap) -> Bool {
            guard let eventType, let value = map.valueType, let btf else { return false }
            return EventDecoder(btf: btf, typeID: value).resolvedType == eventType
        }
        maps = all.filter {
            options.maps.isEmpty ? !options.hiddenMaps.contains($0.name) && !isScratch($0) : options.maps.contains($0.name)
        }
        self.options = options
        self.json = json
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

    /// Prints every chosen map; `final` is the print at exit. Between intervals (not at exit) the
    /// maps are emptied unless --cumulative.
    func printMaps(final: Bool) throws(BPFLoaderError) {
        guard !maps.isEmpty else { return }
        let reportOptions = MapReportOptions(top: options.top, perCPU: options.perCPU)
        var reports: [MapReport] = []
        for map in maps {
            let entries = try MapReader.entries(of: map)
            reports.append(withStacks(MapReport.build(map: map, entries: entries, btf: btf, options: reportOptions)))
            if !final && !options.cumulative { try MapReader.clear(map, entries: entries) }
        }
        printed += 1
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        if json {
            let time = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
            print("{\"time\":\(time),\"interval\":\(printed),\"final\":\(final),\"maps\":[" + reports.map(\.json).joined(separator: ",") + "]}")
        } else {
            if options.interval != nil {
                // bcc's -T line: the wall-clock time of this print.
                var seconds = now.tv_sec
                var parts = tm()
                localtime_r(&seconds, &parts)
                var buffer = [UInt8](repeating: 0, count: 16)
                let length = buffer.withUnsafeMutableBufferPointer { strftime($0.baseAddress, $0.count, "%H:%M:%S", &parts) }
                print("\n" + String(decoding: buffer.prefix(length), as: UTF8.self))
            }
            for report in reports { print("\n" + report.text(histogramValueType: options.histogramUnit), terminator: "") }
        }
        fflush(nil)
    }
}
