import Archive
import BTF
import CORE
import DWARF
import Foundation
@testable import TestSupport
import Testing
import Trim

/// Replays every input kept under `Tests/EndToEndTests/Fixtures/fuzz-crashes/<target>/` (inputs that
/// once crashed, hung or exhausted memory in a libFuzzer target of `fuzz/`) through the same calls
/// as that target, so that a fixed crash stays fixed. Each must end with a result or an error.
///
/// The bodies below mirror `fuzz/targets/Fuzz*.swift` step for step (the fuzz targets are built
/// with swiftc outside SwiftPM, so they cannot share code with this test target); change both together.
@Suite("Fuzz regressions: kept crash inputs give a result or an error")
struct FuzzRegressionTests {
    static let crashDirectory = TestSupport.packageRoot + "/Tests/EndToEndTests/Fixtures/fuzz-crashes"

    /// The kept inputs of one target, as (file name, bytes).
    static func inputs(of target: String) throws -> [(String, [UInt8])] {
        let dir = crashDirectory + "/" + target
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return try names.filter { !$0.hasPrefix(".") }.sorted().map { ($0, try FileIO.read(dir + "/" + $0)) }
    }

    @Test("the crash directory holds one folder per fuzz target and nothing else")
    func layout() throws {
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.crashDirectory).filter { !$0.hasPrefix(".") }.sorted()
        #expect(folders == ["btf", "btfext", "core", "dwarf", "elf", "pack"])
        let targets = try FileManager.default.contentsOfDirectory(atPath: TestSupport.packageRoot + "/fuzz/targets")
        #expect(targets.sorted() == ["FuzzBTF.swift", "FuzzBTFExt.swift", "FuzzCORE.swift", "FuzzDWARF.swift", "FuzzELF.swift", "FuzzPack.swift"])
    }

    /// fuzz/targets/FuzzBTF.swift
    @Test("btf: parse, dump, write, parse again")
    func btf() throws {
        for (name, bytes) in try Self.inputs(of: "btf") {
            guard let btf = try? BTF(parsing: bytes, file: name) else { continue }
            _ = btf.dumpText()
            #expect((try? BTF(parsing: btf.serialized(), file: "round-trip")) != nil, "\(name): the written BTF does not parse")
        }
    }

    /// fuzz/targets/FuzzDWARF.swift
    @Test("dwarf: read the types of .debug_info, turn every struct into BTF, dump it")
    func dwarf() throws {
        for (name, bytes) in try Self.inputs(of: "dwarf") {
            guard let elf = try? ELFFile(parsing: bytes, file: name), let types = try? DWARFTypes(elf: elf) else { continue }
            for structName in types.structNames.prefix(64) {
                if let btf = try? types.btf(forTypeNamed: structName) { _ = btf.dumpText() }
            }
        }
    }

    /// fuzz/targets/FuzzBTFExt.swift
    @Test("btfext: parse, read every record")
    func btfExt() throws {
        for (name, bytes) in try Self.inputs(of: "btfext") {
            guard let ext = try? BTFExt(parsing: bytes[...], file: name) else { continue }
            _ = ext.coreRelocations.flatMap(\.records).map(\.kind)
            _ = ext.lineInfo.flatMap(\.records).map { ($0.line, $0.column) }
            _ = ext.funcInfo.flatMap(\.records).count
        }
    }

    /// fuzz/targets/FuzzELF.swift
    @Test("elf: embed a section, parse, read every section, .BTF and .BTF.ext")
    func elf() throws {
        for (name, bytes) in try Self.inputs(of: "elf") {
            let elf = try? ELFFile(parsing: bytes, file: name)
            if let embedded = try? ELFSectionEmbedder.appendingSection(named: ".btfkit.pack", data: [1, 2, 3], to: bytes, file: name),
               elf != nil {
                #expect((try? ELFFile(parsing: embedded, file: "embedded")) != nil, "\(name): embedding made it unreadable")
            }
            guard let elf else { continue }
            for section in elf.sections { _ = try? elf.contents(of: section) }
            if let btf = try? BTF(elf: elf) { _ = btf.dumpText() }
            if let section = elf.section(named: ".BTF.ext"), let contents = try? elf.contents(of: section) {
                _ = try? BTFExt(parsing: contents, file: name)
            }
        }
    }

    /// fuzz/targets/FuzzCORE.swift: mode byte even, the rest is the kernel; odd, a 4-byte length,
    /// a local BTF replacing object (mode >> 1) % count's own, then the kernel.
    @Test("core: resolve the project's objects against the kernel BTF, trim, write, parse again")
    func core() throws {
        let inputs = try Self.inputs(of: "core")
        guard !inputs.isEmpty else { return }
        let fixedObjects = try TestSupport.compiledBPFObjects().map { try BPFObject(contentsOf: $0) }
        for (name, bytes) in inputs {
            guard let mode = bytes.first else { continue }
            var objects = fixedObjects
            var targetBytes = bytes[1...]
            if mode & 1 == 1 {
                guard bytes.count >= 5 else { continue }
                let localLength = Int(bytes[1]) | Int(bytes[2]) << 8 | Int(bytes[3]) << 16 | Int(bytes[4]) << 24
                guard localLength <= bytes.count - 5 else { continue }
                guard let local = try? BTF(parsing: bytes[5 ..< 5 + localLength], file: name) else { continue }
                objects = [objects[Int(mode >> 1) % objects.count]]
                objects[0].btf = local
                targetBytes = bytes[(5 + localLength)...]
            }
            guard let target = try? BTF(parsing: targetBytes, file: name) else { continue }
            guard let result = try? Trimmer(objects: objects).trim(kernel: target) else { continue }
            #expect((try? BTF(parsing: result.minimized.serialized(), file: "minimized")) != nil, "\(name): the minimized BTF does not parse")
        }
    }

    /// fuzz/targets/FuzzPack.swift: mode byte even, the rest is a pack as stored; odd, a bare tar
    /// that is gzipped first.
    @Test("pack: read the whole pack, parse every entry, look kernels up")
    func pack() throws {
        let probe = KernelIdentity(distro: "ubuntu", version: "20.04", arch: "x86_64", release: "5.4.0-1-generic")
        let cap = 8 << 20
        for (name, input) in try Self.inputs(of: "pack") {
            guard let mode = input.first else { continue }
            let bytes = mode & 1 == 1 ? try Self.gzip(Array(input[1...])) : Array(input[1...])
            if let pack = try? BTFPack(bytes: bytes, source: name, maxExpandedSize: cap) {
                for identity in pack.identities {
                    if let btf = pack.btf(for: identity) { _ = try? BTF(parsing: btf, file: identity.description) }
                }
                _ = pack.missingEntryError(for: probe)
                if let first = pack.identities.first {
                    _ = try? BTFPack.btf(for: first, inPack: bytes, source: name, maxExpandedSize: cap)
                }
            }
            _ = try? BTFPack.btf(for: probe, inPack: bytes, source: name, maxExpandedSize: cap)
        }
    }

    /// `bytes` gzipped by gzip(1): the compressed bytes differ from the fuzz target's (stored), the
    /// tar the reader sees does not.
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let dir = try TemporaryDirectory()
        try dir.write("input.tar", bytes)
        let result = try TestSupport.run("gzip", ["-c", "-1", dir.path + "/input.tar"])
        guard result.status == 0 else { throw TestSupportError("gzip failed: \(result.stderr)") }
        return [UInt8](result.stdout)
    }
}
