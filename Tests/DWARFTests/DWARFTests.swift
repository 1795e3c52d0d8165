import BPFLoader
import BTF
import DWARF
import Foundation
@testable import TestSupport
import Testing

/// Event types that only DWARF describes, turned into BTF: they must decode exactly as the same
/// type does when clang puts it into BTF (the export line), for DWARF 4 and DWARF 5.
@Suite("Event types from DWARF")
struct DWARFTests {
    /// bpf/tools/dwarfonly.bpf.c compiled with `flags` (cached by flags).
    static func dwarfonly(_ flags: [String]) throws -> ELFFile {
        let directory = TestSupport.cache + "/bpf-tools"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let object = directory + "/dwarfonly-variant\(flags.joined()).bpf.o"  // never the plain name ToolPrograms uses
        let temporary = object + ".tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let bpf = TestSupport.packageRoot + "/bpf"
        let compiled = try TestSupport.run("clang", ["-O2", "-target", "bpf", "-I", bpf + "/include"] + flags
                                            + ["-c", bpf + "/tools/dwarfonly.bpf.c", "-o", temporary])
        guard compiled.status == 0 else { throw TestSupportError("clang failed: \(compiled.stderr)") }
        guard rename(temporary, object) == 0 else { throw TestSupportError("cannot rename \(temporary)") }
        return try ELFFile(parsing: try FileIO.read(object), file: object)
    }

    @Test("a DWARF-only struct decodes exactly as the same struct exported into BTF", arguments: ["-gdwarf-4", "-gdwarf-5"])
    func dwarfMatchesBTF(version: String) throws {
        let plain = try Self.dwarfonly(["-g", version])
        let exported = try Self.dwarfonly(["-g", version, "-DEXPORT_EVENT"])
        // Not in the plain object's BTF (that is the point), in the exported one's.
        #expect(throws: BPFLoaderError.self) { try EventDecoder(btf: try BTF(elf: plain), typeName: "event", objectName: "plain") }
        let fromDWARF = try EventDecoder.forObject(plain, typeName: "event", objectName: "plain")
        let fromBTF = try EventDecoder.forObject(exported, typeName: "event", objectName: "exported")
        #expect(fromDWARF.source == .dwarf)
        #expect(fromBTF.source == .btf)
        #expect(fromDWARF.decoder.size == fromBTF.decoder.size && fromBTF.decoder.size == 96)
        var generator = SystemRandomNumberGenerator()
        for round in 0 ..< 200 {
            // Random bytes reach every bitfield bit, negative enum values and sign extension.
            let record = (0 ..< fromBTF.decoder.size).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
            let a = fromDWARF.decoder.decode(record), b = fromBTF.decoder.decode(record)
            #expect(a == b, "round \(round): \(a.text) != \(b.text)")
            if a != b { break }
        }
        // A known record: the names line up with the values.
        var record = [UInt8](repeating: 0, count: 96)
        record[8] = 42                                  // pid
        record[12] = 0xfd; record[13] = 0xff; record[14] = 0xff; record[15] = 0xff  // phase -3
        guard case .fields(let fields) = fromDWARF.decoder.decode(record) else { Issue.record("not a struct"); return }
        #expect(fields.map(\.0) == ["ts_ns", "pid", "phase", "src", "dst", "u", "is_ipv6", "proto", "state", "window", "delta", "matrix", "comm"])
        #expect(fields[1].1 == .signed(42))
        #expect(fields[2].1 == .enumerator(name: "PHASE_NEGATIVE", value: -3))
    }

    @Test("a type in neither BTF nor DWARF is an error naming what there is and the export line; an object without -g says so")
    func missingTypes() throws {
        let plain = try Self.dwarfonly(["-g"])
        do {
            _ = try EventDecoder.forObject(plain, typeName: "nosuch", objectName: "dwarfonly.bpf.o")
            Issue.record("nosuch was found")
        } catch {
            #expect(error.message.contains("no struct or union named 'nosuch' in the object's BTF"), "\(error)")
            #expect(error.message.contains("nor in its DWARF (it has: endpoint, event"), "\(error)")
            #expect(error.message.hasSuffix("struct nosuch *unused_nosuch __attribute__((unused));"), "\(error)")
        }
        let bare = try Self.dwarfonly([])
        do {
            _ = try EventDecoder.forObject(bare, typeName: "event", objectName: "bare.o")
            Issue.record("event found without -g")
        } catch {
            #expect(error.message.contains("it has no DWARF either (compile with -g)"), "\(error)")
        }
    }

    @Test("damaged .debug_info or .debug_abbrev bytes give errors or other types, never a crash")
    func damagedDWARF() throws {
        let elf = try Self.dwarfonly(["-g"])
        var generator = SystemRandomNumberGenerator()
        for name in [".debug_info", ".debug_abbrev", ".debug_str_offsets"] {
            guard let section = elf.section(named: name) else { continue }
            for _ in 0 ..< 300 {
                var bytes = elf.bytes
                let start = Int(section.offset), count = Int(section.size)
                for _ in 0 ..< Int.random(in: 1 ... 4, using: &generator) {
                    bytes[start + Int.random(in: 0 ..< count, using: &generator)] = UInt8.random(in: 0 ... 255, using: &generator)
                }
                guard let damaged = try? ELFFile(parsing: bytes, file: "damaged") else { continue }
                if let types = try? DWARFTypes(elf: damaged), let btf = try? types.btf(forTypeNamed: "event"),
                   let decoder = try? EventDecoder(btf: btf, typeName: "event", objectName: "damaged") {
                    _ = decoder.decode([UInt8](repeating: 0xa5, count: 200))
                }
            }
        }
        // A truncated section: an error that names the section and offset.
        var bytes = elf.bytes
        let info = try #require(elf.section(named: ".debug_info"))
        for i in 0 ..< 4 { bytes[Int(info.offset) + i] = 0xf0 }  // a unit length past the end
        let damaged = try ELFFile(parsing: bytes, file: "damaged.o")
        #expect(throws: BTFError.self) { try DWARFTypes(elf: damaged) }
        do { _ = try DWARFTypes(elf: damaged) } catch {
            #expect("\(error)".hasPrefix("damaged.o: offset 0: .debug_info: unit length"), "\(error)")
        }
    }

    @Test("btf-run --event-type decodes a DWARF-only event the program sent",
          .enabled(if: ToolPrograms.canLoad, "needs root to load BPF programs (CI runs it as root)"))
    func btfRunDecodesFromDWARF() throws {
        let (status, log, events) = try ToolPrograms.runWhileStreaming(try ToolPrograms.object("dwarfonly"),
                                                                       ["--event-type", "event", "--json", "-v", "--duration", "3"],
                                                                       action: "/bin/true", name: "dwarfonly")
        #expect(status == 0, "\(log)")
        #expect(log.contains("event type event is not in the object's BTF; decoding it from the object's DWARF"), "\(log)")
        let event = try #require(events.first, "no event: \(log)")
        #expect(event["phase"] as? String == "PHASE_ENTER")
        #expect((event["src"] as? [String: Any])?["port"] as? Int == 4242)
        #expect(event["window"] as? Int == 65000 && event["delta"] as? Int == -7 && event["state"] as? Int == 10 && event["proto"] as? Int == 6)
        #expect(event["matrix"] as? [[Int]] == [[0, 0, 0], [0, 0, -5]])
        #expect(((event["u"] as? [String: Any])?["half"] as? [String: Any])?["hi"] as? Int == 2)
    }
}
