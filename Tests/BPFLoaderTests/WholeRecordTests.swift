import BPFLoader
import BTF
import Foundation
@testable import TestSupport
import Testing

/// Variable-length records (execsnoop's `args`): the trailing member decoded from the bytes sent.
@Suite("Whole records")
struct WholeRecordTests {
    static func argsnoopDecoder() throws -> EventDecoder {
        let path = try ToolPrograms.object("argsnoop")
        let btf = try BTF(elf: try ELFFile(parsing: try FileIO.read(path), file: path))
        return try EventDecoder(btf: btf, typeName: "event", objectName: path)
    }

    /// An argsnoop record: pid, ppid, uid, args_count, args_size, comm[16], then `args` (not padded).
    static func record(comm: String, args: [UInt8], count: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        for value in [Int32(42), 1, 0, count, Int32(args.count)] { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        bytes += Array(comm.utf8) + [UInt8](repeating: 0, count: 16 - comm.utf8.count)
        return bytes + args
    }

    @Test("a trailing char array held in part prints its NUL-separated strings space-separated")
    func partialTrailingArguments() throws {
        let decoder = try Self.argsnoopDecoder()
        #expect(decoder.size == 36 + 2560)
        let args = Array("ls\0-l\0/tmp\0".utf8)
        let value = decoder.decode(Self.record(comm: "bash", args: args, count: 3))
        guard case .fields(let fields) = value else { Issue.record("not a struct: \(value)"); return }
        #expect(fields.map(\.0) == ["pid", "ppid", "uid", "args_count", "args_size", "comm", "args"])
        #expect(fields.last?.1 == .string("ls -l /tmp"))
        #expect(fields.first { $0.0 == "comm" }?.1 == .string("bash"))
        // Cut inside an argument: what was sent is shown.
        let cut = decoder.decode(Self.record(comm: "sh", args: Array("echo\0hel".utf8), count: 2))
        guard case .fields(let cutFields) = cut else { return }
        #expect(cutFields.last?.1 == .string("echo hel"))
        // A record that ends where `args` starts has no args; one that ends before comm has no comm.
        guard case .fields(let empty) = decoder.decode(Self.record(comm: "sh", args: [], count: 0)) else { return }
        #expect(empty.map(\.0) == ["pid", "ppid", "uid", "args_count", "args_size", "comm"])
    }

    @Test("a full-size record's trailing char array stops at its first NUL (the rest may be a reused buffer's)")
    func fullRecordStopsAtNUL() throws {
        let decoder = try Self.argsnoopDecoder()
        var args = Array("one\0stale bytes\0".utf8)
        args += [UInt8](repeating: 0, count: 2560 - args.count)
        guard case .fields(let fields) = decoder.decode(Self.record(comm: "x", args: args, count: 1)) else { return }
        #expect(fields.last?.1 == .string("one"))
    }

    @Test("btf-run prints an exec's whole argument list; -v counts the short records",
          .enabled(if: ToolPrograms.canLoad, "needs root to load BPF programs (CI runs it as root)"))
    func btfRunPrintsArguments() throws {
        let (status, log, events) = try ToolPrograms.runWhileStreaming(try ToolPrograms.object("argsnoop"),
                                                                       ["--event-type", "event", "--json", "-v", "--duration", "3"],
                                                                       action: "/bin/echo btfkit-args one \"two three\" four > /dev/null",
                                                                       name: "argsnoop")
        #expect(status == 0, "\(log)")
        let echo = events.first { ($0["args"] as? String)?.contains("btfkit-args") == true }
        #expect(echo?["args"] as? String == "/bin/echo btfkit-args one two three four", "\(events.suffix(5))")
        #expect(echo?["args_count"] as? Int == 5)
        // Every record is shorter than struct event (2596 bytes): the counts say so.
        #expect(log.contains("records decoded; ") && log.contains(" longer than event (2596 bytes)"), "\(log)")
        #expect(!log.contains("; 0 shorter"), "\(log)")
        // heap (a per-CPU array of struct event) is the program's scratch space, not printed.
        #expect(!log.contains("printing result maps"), "\(log)")
    }

    @Test("records a full perf buffer loses are counted and reported at exit, and per CPU with -v",
          .enabled(if: ToolPrograms.canLoad, "needs root to load BPF programs (CI runs it as root)"))
    func lostRecordsAreReported() throws {
        let path = try ToolPrograms.object("perfflood")
        let btfRun = try PackFixtures.product("btf-run")
        let script = """
        "$0" "$1" -v --duration 3 > /dev/null 2> "$2" &
        pid=$!
        sleep 1
        timeout 1.5 dd if=/dev/zero of=/dev/null bs=1 count=100000000 2>/dev/null
        wait $pid
        """
        let log = PackFixtures.temporaryPath("perfflood-log")
        let run = try TestSupport.run("/bin/sh", ["-c", script, btfRun, path, log])
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(run.status == 0, "\(text)")
        let perCPU = text.split(separator: "\n").filter { $0.hasPrefix("btf-run: events: lost ") && $0.contains(" records on CPU ") }
        #expect(!perCPU.isEmpty, "\(text.suffix(2000))")
        // The total at exit is the sum of what was reported per CPU.
        let sum = perCPU.compactMap { Int($0.split(separator: " ")[3]) }.reduce(0, +)
        #expect(text.contains("btf-run: lost \(sum) records in all"), "\(sum): \(text.suffix(2000))")
    }
}
