import BPFLoader
import BTF
import Foundation
import Testing

/// btf-run's printing and its loop, used directly (BPFLoader): the lines the end-to-end tests
/// read from btf-run's output, without spawning it.
@Suite("Event printer and loop")
struct EventPrinterTests {
    static func execsnoopDecoder() throws -> EventDecoder {
        try EventDecoder(btf: try RunnerTests.execsnoopBTF(), typeName: "execsnoop_event", objectName: "execsnoop.bpf.o")
    }

    @Test("text: a header of field names before the first record, columns at least 7 wide (16 for strings)")
    func textColumns() throws {
        let printer = EventPrinter(decoder: try Self.execsnoopDecoder(), format: .text, showMap: false)
        #expect(printer.text(map: "events", record: RunnerTests.record(ppid: 1234, pid: -5, comm: "bash"))
                == "ppid    pid     comm\n1234    -5      bash\n")
        #expect(printer.text(map: "events", record: RunnerTests.record(ppid: 1, pid: 2, comm: "a-much-longer-c"))
                == "1       2       a-much-longer-c\n")
        let maps = EventPrinter(decoder: try Self.execsnoopDecoder(), format: .text, showMap: true)
        #expect(maps.text(map: "events", record: RunnerTests.record(ppid: 1, pid: 2, comm: "sh"))
                == "map              ppid    pid     comm\nevents           1       2       sh\n")
    }

    @Test("JSON: one object a record, with the map's name first when the object has several event maps")
    func jsonLines() throws {
        let record = RunnerTests.record(ppid: 1234, pid: -5, comm: "ba\"sh")
        let printer = EventPrinter(decoder: try Self.execsnoopDecoder(), format: .json, showMap: false)
        #expect(printer.text(map: "events", record: record) == #"{"ppid":1234,"pid":-5,"comm":"ba\"sh"}"# + "\n")
        let maps = EventPrinter(decoder: try Self.execsnoopDecoder(), format: .json, showMap: true)
        let line = maps.text(map: "events", record: record)
        #expect(line == #"{"map":"events","ppid":1234,"pid":-5,"comm":"ba\"sh"}"# + "\n")
        // What the end-to-end tests do with the line: JSONSerialization reads it.
        let parsed = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(parsed?["pid"] as? Int == -5 && parsed?["comm"] as? String == "ba\"sh" && parsed?["map"] as? String == "events")
        // A record too short for any field still gives valid JSON with the map's name.
        let empty = maps.text(map: "events", record: [1, 2])
        #expect(empty == #"{"map":"events"}"# + "\n")
        #expect(try JSONSerialization.jsonObject(with: Data(empty.utf8)) is [String: Any])
    }

    @Test("without an event type, records print as hex; bpf_printk lines as they are, or one JSON object each")
    func hexAndTraceLines() {
        let text = EventPrinter(decoder: nil, format: .text, showMap: false)
        #expect(text.text(map: "events", record: [0x01, 0xab, 0x00]) == "events 3 bytes: 01 ab 00\n")
        #expect(text.traceText(["  sh-1 [000] bpf_trace_printk: hi", ""]) == "  sh-1 [000] bpf_trace_printk: hi\n\n")
        let json = EventPrinter(decoder: nil, format: .json, showMap: false)
        #expect(json.text(map: "events", record: [0x01, 0xab, 0x00]) == #"{"map":"events","size":3,"data":"01ab00"}"# + "\n")
        #expect(json.traceText(["a \"quoted\"\ttab"]) == #"{"trace_pipe":"a \"quoted\"\ttab"}"# + "\n")
        #expect(json.records == 1 && json.shortRecords == 0 && json.longRecords == 0)
    }

    @Test("a variable-length record: the whole argument list, and the short records counted")
    func wholeRecord() throws {
        let decoder = try WholeRecordTests.argsnoopDecoder()
        let printer = EventPrinter(decoder: decoder, format: .json, showMap: false)
        let record = WholeRecordTests.record(comm: "bash", args: Array("ls\0-l\0/tmp\0".utf8), count: 3)
        #expect(printer.text(map: "events", record: record)
                == #"{"pid":42,"ppid":1,"uid":0,"args_count":3,"args_size":11,"comm":"bash","args":"ls -l /tmp"}"# + "\n")
        _ = printer.text(map: "events", record: record + [UInt8](repeating: 0, count: decoder.size))
        #expect(printer.records == 2 && printer.shortRecords == 1 && printer.longRecords == 1)
    }

    @Test("print writes each record, with its header, through the printer's output in one piece")
    func printWritesThroughTheSink() throws {
        let written = LockedLines()
        let printer = EventPrinter(decoder: try Self.execsnoopDecoder(), format: .text, showMap: false, write: written.append)
        for (pid, comm) in [(Int32(7), "init"), (8, "sh")] {
            let record = RunnerTests.record(ppid: 1, pid: pid, comm: comm)
            record.withUnsafeBytes { printer.print(BPFEvent(map: "events", cpu: nil, bytes: $0)) }
        }
        printer.printTraceLines([])  // nothing to print: nothing written
        #expect(written.lines == ["ppid    pid     comm\n1       7       init\n", "1       8       sh\n"])
    }

    @Test("values: one walk, text and JSON spellings of every kind")
    func valueSpellings() {
        let value = EventValue.fields([
            ("s", .signed(-1)), ("u", .unsigned(2)), ("f", .floating(0.5)), ("inf", .floating(.infinity)),
            ("e", .enumerator(name: "RED", value: 1)), ("n", .enumerator(name: nil, value: 9)), ("p", .pointer(0xffff)),
            ("a", .array([.unsigned(1), .fields([("x", .string("y"))])])), ("b", .bytes([0xde, 0xad])),
        ])
        #expect(value.text == "{s=-1 u=2 f=0.5 inf=inf e=RED n=9 p=0xffff a=[1,{x=y}] b=dead}")
        #expect(value.json == #"{"s":-1,"u":2,"f":0.5,"inf":null,"e":"RED","n":9,"p":"0xffff","a":[1,{"x":"y"}],"b":"dead"}"#)
        #expect(value.rendered(as: .json) == value.json && value.rendered(as: .text) == value.text)
    }

    @Test("the loop stops when its stop condition says so, or when the duration is over; then detaches once")
    func loopStops() throws {
        let printer = EventPrinter(decoder: nil, format: .text, showMap: false, write: { _ in })
        // No event map: each turn waits its poll timeout, as btf-run does for an object without one.
        let stream = try EventStream(maps: [], handler: { printer.print($0) })
        var asked = 0, detached = 0
        try EventLoop(stream: stream, printer: printer).run(detach: { detached += 1 }, until: {
            asked += 1
            return asked == 3
        })
        #expect(asked == 3 && detached == 1)
        // A flag object, as a signal handler sets one.
        let flag = Flag()
        flag.set()
        try EventLoop(stream: stream, printer: printer).run(detach: { detached += 1 }, until: flag.isSet)
        #expect(detached == 2)
        try EventLoop(stream: stream, printer: printer, duration: .milliseconds(1)).run(detach: { detached += 1 }, until: { false })
        #expect(detached == 3)
    }

    final class LockedLines: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [String] = []
        func append(_ line: String) { lock.withLock { stored.append(line) } }
        var lines: [String] { lock.withLock { stored } }
    }

    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        func set() { lock.withLock { value = true } }
        func isSet() -> Bool { lock.withLock { value } }
    }
}
