import Archive
import BPFLoader
import BTF
import Foundation
@testable import TestSupport
import Testing

/// `btf-pack runner`'s assembly, used directly: the runner's sections read back, its check of
/// the default arguments, its scratch directory removed.
@Suite("Runner assembly")
struct RunnerAssemblyTests {
    /// A pack holding one small kernel BTF (the object's own BTF stands in for a trimmed one).
    static func pack() throws -> [UInt8] {
        let object = try PackFixtures.execsnoopObject()
        let elf = try ELFFile(parsing: try FileIO.read(object), file: object)
        let btf = try elf.section(named: ".BTF").map { Array(try elf.contents(of: $0)) } ?? []
        let identity = KernelIdentity(distro: "ubuntu", version: "20.04", arch: "x86_64", release: "5.4.0-86-generic")
        return try PackWriter.pack([PackInput(identity: identity, btf: btf)]).bytes
    }

    @Test("the runner carries pack, object without DWARF and arguments in sections that read back")
    func sectionsReadBack() throws {
        let object = try PackFixtures.execsnoopObject(), btfRun = try PackFixtures.product("btf-run")
        let objectBytes = try FileIO.read(object)
        let pack = try Self.pack()
        let arguments = ["--event-type", "execsnoop_event", "--json"]
        let runner = try RunnerAssembly(runnerPath: btfRun, object: objectBytes, objectName: object, pack: pack, arguments: arguments)
        let executable = try FileIO.read(btfRun)
        // The executable unchanged but for the ELF header's section table fields; the sections after it.
        #expect(runner.executableSize == executable.count && runner.bytes[64 ..< executable.count] == executable[64...])
        let path = PackFixtures.temporaryPath("assembled-runner")
        try FileIO.writeAtomically(runner.bytes, to: path, mode: 0o755)
        #expect(try ELFSectionReader.contents(ofSection: ELFSectionEmbedder.packSectionName, inFile: path) == pack)
        #expect(try EmbeddedObject.load(executable: path) == runner.object)
        #expect(try EmbeddedArguments.load(executable: path) == arguments)
        let embedded = try ELFFile(parsing: runner.object, file: "embedded")
        #expect(embedded.sections.contains { $0.name == ".BTF" } && !embedded.sections.contains { $0.name.hasPrefix(".debug_") })
        #expect(RunnerAssembly.interpreter(of: path) == nil)  // btf-run is static, and so is the runner
        // No arguments: no section.
        let plain = try RunnerAssembly(runnerPath: btfRun, object: objectBytes, objectName: object, pack: pack, arguments: [])
        let plainPath = PackFixtures.temporaryPath("assembled-plain")
        try FileIO.writeAtomically(plain.bytes, to: plainPath, mode: 0o755)
        #expect(try EmbeddedArguments.load(executable: plainPath) == [])
        #expect(RunnerAssembly.eventTypes(in: ["--json", "--event-type", "a", "--event-type=b"]) == ["a", "b"])
    }

    @Test("the runner checks its arguments from a copy in a scratch directory that is gone afterwards")
    func argumentsChecked() throws {
        let object = try PackFixtures.execsnoopObject(), btfRun = try PackFixtures.product("btf-run")
        let objectBytes = try FileIO.read(object)
        let pack = try Self.pack()
        let scratch = PackFixtures.temporaryPath("assembly-scratch")
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        for (arguments, expected) in [(["--event-type", "execsnoop_event"], nil), (["--bogus"], "Unknown option '--bogus'"),
                                      (["--event-type", "nosuch"], "no struct or union named 'nosuch'")] as [([String], String?)] {
            let runner = try RunnerAssembly(runnerPath: btfRun, object: objectBytes, objectName: object, pack: pack, arguments: arguments)
            let check = try runner.checkArguments(copyName: "tool", scratchParent: scratch)
            if let expected {
                guard case .rejected(let reason) = check else { Issue.record("\(arguments): \(check)"); continue }
                #expect(reason.contains(expected), "\(reason)")
            } else {
                #expect(check == .accepted)
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: scratch) == [], "\(arguments)")
        }
    }
}
