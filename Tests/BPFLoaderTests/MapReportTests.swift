@testable import BPFLoader
import BTF
import CLibBPF
import Foundation
@testable import TestSupport
import Testing

/// bcc's `print_log2_hist` (libbpf-tools/trace_helpers.c) re-done with C's own printf and bcc's
/// format strings, as the reference for the layout.
func bccLog2Histogram(_ values: [UInt32], valueType: String) -> String {
    func format(_ pattern: String, _ arguments: [any CVarArg]) -> String {
        withVaList(arguments) { list in
            var buffer = [CChar](repeating: 0, count: 512)
            let count = vsnprintf(&buffer, buffer.count, pattern, list)
            return String(decoding: buffer.prefix(Int(count)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
    var indexMax: Int32 = -1
    var valueMax: UInt32 = 0
    for (index, value) in values.enumerated() {
        if value > 0 { indexMax = Int32(index) }
        if value > valueMax { valueMax = value }
    }
    if indexMax < 0 { return "" }
    // %s takes C strings: Swift's String is not one.
    let empty = strdup("")!, type = strdup(valueType)!
    defer { free(empty); free(type) }
    var out = format("%*s%-*s : count    distribution\n", [Int32(indexMax <= 32 ? 5 : 15), empty, Int32(indexMax <= 32 ? 19 : 29), type])
    let stars: UInt32 = indexMax <= 32 ? 40 : 20
    for index in 0 ... Int(indexMax) {
        var low = (UInt64(1) << UInt64(index + 1)) >> 1
        let high = (UInt64(1) << UInt64(index + 1)) - 1
        if low == high { low -= 1 }
        let value = values[index]
        let width = Int32(indexMax <= 32 ? 10 : 20)
        out += format("%*lld -> %-*lld : %-8d |", [width, low, width, high, value])
        let filled = Int(min(value, valueMax) * stars / valueMax)
        out += String(repeating: "*", count: filled) + String(repeating: " ", count: Int(stars) - filled)
        if value > valueMax { out += "+" }
        out += "|\n"
    }
    return out
}

@Suite("Result maps: histograms and tables")
struct MapReportTests {
    @Test("a log2 histogram prints exactly as bcc's print_log2_hist does, narrow and wide")
    func histogramLayoutIsBccs() {
        let cases: [[UInt32]] = [
            [0, 3, 12, 40, 7, 0, 1],
            [5],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
            (0 ..< 40).map { UInt32($0 * 37 % 11) },
            [1, 1, 1],
            [0, 0, 0],
        ]
        for values in cases {
            let ours = Log2Histogram(labels: [], slots: values.map(UInt64.init)).text(valueType: "usecs")
            #expect(ours == bccLog2Histogram(values, valueType: "usecs"), "\(values)")
        }
        #expect(Log2Histogram(labels: [], slots: [0, 2]).text().hasPrefix("     value               : count    distribution\n"))
    }

    @Test("a map without BTF types prints integers by size; array maps leave untouched entries out")
    func tableWithoutBTF() {
        let map = ResultMap(name: "counts", kind: .array, keySize: 4, valueSize: 8, keyType: nil, valueType: nil, fd: -1)
        func entry(_ key: UInt32, _ value: UInt64) -> MapEntry {
            MapEntry(key: withUnsafeBytes(of: key.littleEndian, Array.init), values: [withUnsafeBytes(of: value.littleEndian, Array.init)])
        }
        let report = MapReport.build(map: map, entries: [entry(0, 5), entry(1, 0), entry(2, 90), entry(3, 7)], btf: nil, options: MapReportOptions(top: 2))
        #expect(report == .table(map: "counts", MapTable(columns: ["key", "value"], keyColumns: 1, rows: [[.unsigned(2), .unsigned(90)], [.unsigned(3), .unsigned(7)]])))
        #expect(report.text() == "counts:\nKEY VALUE\n2      90\n3       7\n")
        #expect(report.json == #"{"map":"counts","kind":"table","rows":[{"key":2,"value":90},{"key":3,"value":7}]}"#)
    }

    @Test("an array map named like a histogram whose key is the bucket index prints as one")
    func bucketIndexKeys() {
        let map = ResultMap(name: "dist", kind: .perCPUArray, keySize: 4, valueSize: 8, keyType: nil, valueType: nil, fd: -1)
        let counts: [UInt64] = [0, 4, 9, 0, 2]
        let entries = counts.enumerated().map { index, count in
            // Two CPUs: the counts split between them, summed back.
            MapEntry(key: withUnsafeBytes(of: UInt32(index).littleEndian, Array.init),
                     values: [withUnsafeBytes(of: (count / 2).littleEndian, Array.init), withUnsafeBytes(of: (count - count / 2).littleEndian, Array.init)])
        }
        let report = MapReport.build(map: map, entries: entries, btf: nil)
        #expect(report == .histograms(map: "dist", [Log2Histogram(labels: [], slots: counts)]))
        #expect(report.text(histogramValueType: "kbytes") == "dist:\n" + bccLog2Histogram(counts.map(UInt32.init), valueType: "kbytes"))
    }

    @Test("syslat's maps, read with libbpf after the programs ran, print as bcc would print them",
          .enabled(if: ToolPrograms.canLoad, "needs root to load BPF programs (CI runs it as root)"))
    func histogramsAndTablesMatchLibbpfReads() throws {
        let path = try ToolPrograms.object("syslat")
        let loaded = try LoadedBPFObject(path: path, btfCustomPath: nil)
        defer { loaded.close() }
        try loaded.load()
        #expect(loaded.attachAll().allSatisfy { $0.failure == nil })
        var children: [Int32] = []
        for _ in 0 ..< 20 {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/bin/true")
            try child.run()
            child.waitUntilExit()
            children.append(child.processIdentifier)
        }
        loaded.detachAll()

        let btf = try BTF(elf: try ELFFile(parsing: try FileIO.read(path), file: path))
        let maps = loaded.resultMaps
        #expect(maps.map(\.name) == ["start", "hist", "pid_hists", "counts", "calls_per_cpu"])
        func report(_ name: String, _ options: MapReportOptions = MapReportOptions()) throws -> MapReport {
            let map = try #require(maps.first { $0.name == name })
            return MapReport.build(map: map, entries: try MapReader.entries(of: map), btf: btf, options: options)
        }
        // libbpf's own reads, through the object's map handles: struct hist is slots[26], comm[16].
        func libbpfEntries(_ name: String, valueSize: Int) -> [(key: [UInt8], value: [UInt8])] {
            let map = bpf_object__find_map_by_name(loaded.object, name)
            let fd = bpf_map__fd(map)
            let keySize = Int(bpf_map__key_size(map))
            var result: [(key: [UInt8], value: [UInt8])] = []
            var key = [UInt8](repeating: 0, count: keySize), next = key
            var value = [UInt8](repeating: 0, count: valueSize)
            var previous: [UInt8]? = nil
            while (previous.map { bpf_map_get_next_key(fd, $0, &next) } ?? bpf_map_get_next_key(fd, nil, &next)) == 0 {
                key = next
                previous = key
                if bpf_map_lookup_elem(fd, key, &value) == 0 { result.append((key, value)) }
            }
            return result
        }
        func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 { bytes[at ..< at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func u64(_ bytes: [UInt8], _ at: Int) -> UInt64 { bytes[at ..< at + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) } }

        // The global histogram: no heading, bcc's text for libbpf's slots.
        let global = try #require(libbpfEntries("hist", valueSize: 120).first)
        let slots = (0 ..< 26).map { u32(global.value, $0 * 4) }
        #expect(slots.reduce(0, +) > 0)
        #expect(try report("hist").text() == "hist:\n" + bccLog2Histogram(slots, valueType: "value"))

        // Per process: one histogram per pid, headed by the key and the comm member.
        let perProcess = libbpfEntries("pid_hists", valueSize: 120).filter { entry in (0 ..< 26).contains { u32(entry.value, $0 * 4) != 0 } }
        guard case .histograms(_, let histograms) = try report("pid_hists") else { Issue.record("pid_hists is not a histogram"); return }
        #expect(histograms.count == perProcess.count)
        for entry in perProcess {
            let pid = u32(entry.key, 0)
            let comm = String(decoding: entry.value[104 ..< 120].prefix { $0 != 0 }, as: UTF8.self)
            let histogram = histograms.first { $0.labels.first?.1 == .unsigned(UInt64(pid)) }
            #expect(histogram?.heading == "key = \(pid) comm = \(comm)")
            #expect(histogram?.text() == bccLog2Histogram((0 ..< 26).map { u32(entry.value, $0 * 4) }, valueType: "value"))
        }
        for child in children {
            #expect(histograms.contains { $0.labels.first?.1 == .unsigned(UInt64(child)) }, "child \(child) among \(histograms.map(\.heading))")
        }

        // The counter table keyed by syscall id: libbpf's counts, sorted by count, --top 3.
        let counts = libbpfEntries("counts", valueSize: 16).map { (id: u32($0.key, 0), count: u64($0.value, 0), total: u64($0.value, 8)) }
        guard case .table(_, let table) = try report("counts", MapReportOptions(top: 3)) else { Issue.record("counts is not a table"); return }
        #expect(table.columns == ["key", "count", "total_ns"])
        let expected = counts.sorted { $0.count > $1.count }.prefix(3).map(\.count)
        #expect(table.rows.map { $0[1] } == expected.map { .unsigned($0) })
        for row in table.rows {
            let match = counts.first { .unsigned(UInt64($0.id)) == row[0] }
            #expect(match.map { [.unsigned(UInt64($0.id)), .unsigned($0.count), .unsigned($0.total)] } == row)
        }

        // The per-CPU counter: summed over CPUs, or one row per CPU with --per-cpu.
        let stride = 8, cpus = Int(libbpf_num_possible_cpus())
        let perCPU = try #require(libbpfEntries("calls_per_cpu", valueSize: stride * cpus).first)
        let values = (0 ..< cpus).map { u64(perCPU.value, $0 * stride) }
        guard case .table(_, let summed) = try report("calls_per_cpu") else { Issue.record("calls_per_cpu is not a table"); return }
        #expect(summed.rows == [[.unsigned(0), .unsigned(values.reduce(0, +))]])
        guard case .table(_, let split) = try report("calls_per_cpu", MapReportOptions(perCPU: true)) else { return }
        #expect(split.columns == ["key", "cpu", "value"])
        #expect(split.rows.map { $0[2].text }.sorted() == values.filter { $0 != 0 }.map(String.init).sorted())
    }

    @Test("btf-run prints the maps every --interval (emptied between prints) and at exit, one JSON document each",
          .enabled(if: ToolPrograms.canLoad, "needs root to load BPF programs (CI runs it as root)"))
    func btfRunIntervals() throws {
        let path = try ToolPrograms.object("syslat")
        let btfRun = try PackFixtures.product("btf-run")
        let run = try TestSupport.run(btfRun, [path, "--interval", "0.5", "--duration", "1.7", "--json", "--hide-map", "start", "-v"])
        #expect(run.status == 0, "\(run.stderr)")
        let documents = String(decoding: run.stdout, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(documents.count == 4, "3 intervals and the final print: \(String(decoding: run.stdout, as: UTF8.self).prefix(3000))")
        #expect(documents.last?["final"] as? Bool == true)
        for document in documents {
            let maps = (document["maps"] as? [[String: Any]]) ?? []
            #expect(maps.compactMap { $0["map"] as? String } == ["hist", "pid_hists", "counts", "calls_per_cpu"])
            #expect(maps.first?["kind"] as? String == "histogram")
        }
        #expect(run.stderr.contains("printing result maps hist, pid_hists, counts, calls_per_cpu every 0.5 s and at exit"), "\(run.stderr)")

        // --cumulative: nothing is emptied, so every print's global histogram holds the one before.
        let cumulative = try TestSupport.run(btfRun, [path, "--interval", "0.4", "--duration", "1.3", "--json", "--map", "hist", "--cumulative"])
        #expect(cumulative.status == 0, "\(cumulative.stderr)")
        let totals = String(decoding: cumulative.stdout, as: UTF8.self).split(separator: "\n").compactMap { line -> Int? in
            guard let document = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let maps = document["maps"] as? [[String: Any]], let histograms = maps.first?["histograms"] as? [[String: Any]],
                  let slots = histograms.first?["slots"] as? [Int] else { return nil }
            return slots.reduce(0, +)
        }
        #expect(totals.count == 4 && totals == totals.sorted() && totals.first! > 0, "\(totals)")
        let conflicting = try TestSupport.run(btfRun, [path, "--interval", "1", "--clear", "--cumulative"])
        #expect(conflicting.status != 0 && conflicting.stderr.contains("--clear and --cumulative contradict each other"), "\(conflicting.stderr)")

        let text = try TestSupport.run(btfRun, [path, "--duration", "0.5", "--map", "hist", "--hist-unit", "usecs"])
        #expect(text.status == 0, "\(text.stderr)")
        let output = String(decoding: text.stdout, as: UTF8.self)
        #expect(output.hasPrefix("\nhist:\n     usecs               : count    distribution\n"), "\(output)")
        #expect(!output.contains("counts:"))

        let unknown = try TestSupport.run(btfRun, [path, "--duration", "0.5", "--map", "nosuch"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("has no result map named 'nosuch'; its result maps are start, hist, pid_hists, counts, calls_per_cpu"), "\(unknown.stderr)")
    }
}
