import Archive
import BPFLoader
import BTF
import Foundation
@testable import TestSupport
import Testing

/// `btf-pack runner` embeds the object without DWARF; an event type only DWARF describes is
/// first appended to the object's `.BTF`. libbpf (bpftool) and the kernel are the references.
@Suite("Runners carry no DWARF")
struct RunnerWithoutDWARFTests {
    /// `stripped` has no debug section, and every other section of `original` with the same bytes
    /// (`.BTF` may have types appended after the original ones; `.symtab` has section indices renumbered).
    static func expectSameWithoutDWARF(_ stripped: [UInt8], _ original: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let new = try ELFFile(parsing: stripped), old = try ELFFile(parsing: original)
        #expect(!new.sections.contains { $0.name.contains(".debug_") }, sourceLocation: sourceLocation)
        let kept = old.sections.filter { !$0.name.contains(".debug_") }
        #expect(new.sections.map(\.name) == kept.map(\.name), sourceLocation: sourceLocation)
        for (a, b) in zip(new.sections, kept) where a.name == b.name {
            #expect(a.type == b.type && a.flags == b.flags && a.alignment == b.alignment && a.entrySize == b.entrySize, "\(a.name)", sourceLocation: sourceLocation)
            #expect(a.link == 0 || new.sections[Int(a.link)].name == old.sections[Int(b.link)].name, "\(a.name) sh_link", sourceLocation: sourceLocation)
            let x = Array(try new.contents(of: a)), y = Array(try old.contents(of: b))
            switch a.name {
            case ".BTF":
                // Appended types only: the original types and strings are where they were.
                #expect(x.count >= y.count, sourceLocation: sourceLocation)
                let oldBTF = try BTF(parsing: y), newBTF = try BTF(parsing: x)
                for id in oldBTF.typeIDs { #expect(newBTF.record(id) == oldBTF.record(id), "type \(id)", sourceLocation: sourceLocation) }
            case ".symtab":
                #expect(x.count == y.count, sourceLocation: sourceLocation)
                for at in stride(from: 0, to: min(x.count, y.count), by: 24) {
                    let oldIndex = Int(y[at + 6]) | Int(y[at + 7]) << 8, newIndex = Int(x[at + 6]) | Int(x[at + 7]) << 8
                    guard oldIndex != 0, oldIndex < 0xff00, !old.sections[oldIndex].name.contains(".debug_") else { continue }
                    #expect(Array(x[at ..< at + 6]) == Array(y[at ..< at + 6]) && Array(x[at + 8 ..< at + 24]) == Array(y[at + 8 ..< at + 24]),
                            sourceLocation: sourceLocation)
                    #expect(new.sections[newIndex].name == old.sections[oldIndex].name, sourceLocation: sourceLocation)
                }
            default:
                #expect(x == y, "\(a.name) changed", sourceLocation: sourceLocation)
            }
        }
    }

    static func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = PackFixtures.temporaryPath(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("without DWARF: libbpf (bpftool) opens the object, BTF keeps its type ids, a DWARF-only event type is appended; execsnoop's size")
    func stripsAndAppends() throws {
        let dwarfonly = try ToolPrograms.object("dwarfonly")
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: dwarfonly)))
        let made = try ObjectWithoutDWARF.make(try ELFFile(parsing: original), keeping: ["event"], objectName: dwarfonly)
        #expect(made.addedTypes == ["event"])
        try Self.expectSameWithoutDWARF(made.bytes, original)
        let stripped = try Self.write(made.bytes, "dwarfonly-stripped.bpf.o")
        // bpftool's dump of the original BTF is the start of the new one's: ids unchanged, event added.
        let before = try TestSupport.run("bpftool", ["btf", "dump", "file", dwarfonly])
        let after = try TestSupport.run("bpftool", ["btf", "dump", "file", stripped])
        #expect(before.status == 0 && after.status == 0, "\(after.stderr)")
        let beforeText = String(decoding: before.stdout, as: UTF8.self), afterText = String(decoding: after.stdout, as: UTF8.self)
        #expect(afterText.hasPrefix(beforeText))
        #expect(!beforeText.contains("STRUCT 'event'") && afterText.contains("STRUCT 'event'"), "\(afterText.suffix(2000))")
        // libbpf opens it (bpftool gen skeleton calls bpf_object__open and reads maps and programs).
        let skeleton = try TestSupport.run("bpftool", ["gen", "skeleton", stripped])
        #expect(skeleton.status == 0, "\(skeleton.stderr)")
        // Decoding finds the type in BTF now.
        let found = try EventDecoder.forObject(try ELFFile(parsing: made.bytes), typeName: "event", objectName: stripped)
        #expect(found.source == .btf)

        // An event type already in BTF is not added; the object only loses its DWARF.
        let execsnoop = try PackFixtures.execsnoopObject()
        let execsnoopBytes = Array(try Data(contentsOf: URL(fileURLWithPath: execsnoop)))
        let small = try ObjectWithoutDWARF.make(try ELFFile(parsing: execsnoopBytes), keeping: ["execsnoop_event"], objectName: execsnoop)
        #expect(small.addedTypes.isEmpty)
        try Self.expectSameWithoutDWARF(small.bytes, execsnoopBytes)
        let smallPath = try Self.write(small.bytes, "execsnoop-stripped.bpf.o")
        #expect(try TestSupport.run("bpftool", ["gen", "skeleton", smallPath]).status == 0)
        print("execsnoop.bpf.o: \(execsnoopBytes.count) bytes, without DWARF \(small.bytes.count) bytes")
        #expect(small.bytes.count * 2 < execsnoopBytes.count)
    }

    @Test("the stripped object loads and decodes its event (btf-run)",
          .enabled(if: ToolPrograms.canLoad, "needs root to load BPF programs (CI runs it as root)"))
    func strippedObjectLoads() throws {
        let dwarfonly = try ToolPrograms.object("dwarfonly")
        let made = try ObjectWithoutDWARF.make(try ELFFile(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: dwarfonly)))),
                                               keeping: ["event"], objectName: dwarfonly)
        let stripped = try Self.write(made.bytes, "dwarfonly-loads.bpf.o")
        let (status, log, events) = try ToolPrograms.runWhileStreaming(stripped, ["--event-type", "event", "--json", "-v", "--duration", "3"],
                                                                       action: "/bin/true", name: "dwarfonly-stripped")
        #expect(status == 0, "\(log)")
        #expect(!log.contains("decoding it from the object's DWARF"), "\(log)")
        let event = try #require(events.first, "no event: \(log)")
        #expect(event["phase"] as? String == "PHASE_ENTER")
        #expect((event["src"] as? [String: Any])?["port"] as? Int == 4242)
        #expect(event["matrix"] as? [[Int]] == [[0, 0, 0], [0, 0, -5]])
    }

    @Test("a runner built with --event-type from the DWARF-only object has no DWARF and still decodes the event",
          .requiresSharedArchive, .enabled(if: ToolPrograms.canLoad, "needs root to load BPF programs (CI runs it as root)"))
    func runnerDecodesWithoutDWARF() throws {
        try TestSupport.requireSharedArchive()
        let dwarfonly = try ToolPrograms.object("dwarfonly")
        let btfPack = try PackFixtures.product("btf-pack"), btfRun = try PackFixtures.product("btf-run")
        let root = try RunnerTests.treeOfSharedKernels(["ubuntu/20.04/x86_64/5.4.0-86-generic.btf.tar.xz"], named: "dwarfonly-tree")
        let tool = PackFixtures.temporaryPath("dwarfonly-runner")
        let built = try TestSupport.run(btfPack, ["runner", "--object", dwarfonly, "--btfhub", root, "-o", tool, "--runner", btfRun,
                                                  "--", "--event-type", "event"])
        #expect(built.status == 0, "\(built.stderr)")
        #expect(String(decoding: built.stdout, as: UTF8.self).contains("added to its BTF from DWARF: event"), "\(String(decoding: built.stdout, as: UTF8.self))")
        let embedded = try ELFSectionReader.contents(ofSection: EmbeddedObject.sectionName, inFile: tool)
        try Self.expectSameWithoutDWARF(embedded, Array(try Data(contentsOf: URL(fileURLWithPath: dwarfonly))))

        let (status, log, events) = try ToolPrograms.runWhileStreaming(dwarfonly, ["--json", "-v", "--duration", "3"],
                                                                       action: "/bin/true", name: "dwarfonly-runner", runner: tool)
        #expect(status == 0, "\(log)")
        let event = try #require(events.first, "no event: \(log)")
        #expect(event["phase"] as? String == "PHASE_ENTER")
        #expect((event["src"] as? [String: Any])?["port"] as? Int == 4242)
        #expect(((event["u"] as? [String: Any])?["half"] as? [String: Any])?["hi"] as? Int == 2)
    }
}
