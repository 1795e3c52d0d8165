import BTF
import Foundation
@testable import TestSupport
import Testing

/// `BTF.dump` must print exactly what `bpftool btf dump file FILE` prints (raw format), for every
/// real kernel and every compiled BPF object; bpftool is the oracle, not our own code.
@Suite("bpftool btf dump text")
struct DumpTests {
    @Test("every kernel dumps exactly like bpftool")
    func kernelsMatchBpftool() async throws {
        let kernels = try TestSupport.allKernels()
        #expect(!kernels.isEmpty || !TestSupport.isCI, "no kernels found")
        let clock = ContinuousClock()
        let started = clock.now
        let failures = try await DumpComparison.forEach(kernels) { path in
            let btf = try BTF(contentsOf: path)
            return try Bpftool.dumpDifference(file: path, expected: btf.dumpText())
        }
        for failure in failures { Issue.record(Comment(rawValue: failure)) }
        print("DumpTests: \(kernels.count) kernels compared with bpftool in \(clock.now - started)")
    }

    @Test("every compiled BPF object dumps exactly like bpftool")
    func objectsMatchBpftool() async throws {
        let objects = try DumpComparison.bpfObjects()
        let failures = try await DumpComparison.forEach(objects) { path in
            let btf = try BTF(contentsOf: path)
            return try Bpftool.dumpDifference(file: path, expected: btf.dumpText())
        }
        for failure in failures { Issue.record(Comment(rawValue: failure)) }
    }

    /// The built `btf-dump` tool (what users run) prints the same bytes as bpftool.
    @Test("the btf-dump executable prints bpftool's text")
    func commandLineToolMatchesBpftool() throws {
        let tool = try DumpComparison.builtExecutable("btf-dump")
        // The objects plus the smallest kernel keep this quick; the in-process tests cover the rest.
        var files = try DumpComparison.bpfObjects()
        if let smallest = try TestSupport.allKernels().min(by: { DumpComparison.fileSize($0) < DumpComparison.fileSize($1) }) {
            files.append(smallest)
        }
        #expect(!files.isEmpty || !TestSupport.isCI)
        for file in files {
            let ours = try TestSupport.run(tool, [file])
            #expect(ours.status == 0, "btf-dump \(file) failed: \(ours.stderr)")
            if let difference = try Bpftool.dumpDifference(file: file, expected: [UInt8](ours.stdout)) {
                Issue.record(Comment(rawValue: "btf-dump executable: " + difference))
            }
        }
    }

    /// The three ways out of the dump produce the same bytes.
    @Test("dump(to:), dumpText() and dump(toFileDescriptor:) agree")
    func outputPathsAgree() throws {
        let btf = BuilderSamples.oneOfEachKind()
        let bytes = btf.dumpText()
        var text = ""
        btf.dump(to: &text)
        #expect(Array(text.utf8) == bytes)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("btfkit-dump-\(getpid())-\(UInt32.random(in: 0 ... .max)).txt").path
        defer { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        try btf.dump(toFileDescriptor: fd)
        close(fd)
        #expect(try FileIO.read(path) == bytes)
    }

    /// Cases real files rarely hold: bpftool's fallbacks for unknown encodings and linkages, a name
    /// offset pointing at an empty string, a DATASEC entry naming `void`, extreme enum values,
    /// names that do not fit one output buffer.
    @Test("unusual records print like bpftool")
    func unusualRecordsMatchBpftool() throws {
        var b = BTFBuilder()
        let intName = b.addString("int")
        let int = b.add(TypeRecord(kind: .int, name: intName, sizeOrType: 4, extra: [0x0100_0020]))
        // An INT with encoding bits 3 (SIGNED|CHAR): bpftool says UNKN.
        b.add(TypeRecord(kind: .int, name: b.addString("odd"), sizeOrType: 1, extra: [0x0308_0008]))
        // A FUNC and a VAR with linkage 3, which bpftool calls (unknown).
        let proto = b.add(TypeRecord(kind: .functionPrototype, name: .empty, sizeOrType: 0))
        b.add(TypeRecord(kind: .function, name: b.addString("f"), vlen: 3, sizeOrType: proto.rawValue))
        let variable = b.add(TypeRecord(kind: .variable, name: b.addString("v"), sizeOrType: int.rawValue, extra: [3]))
        // A DATASEC entry whose type is void (id 0), and one past the last valid id is impossible:
        // the parser rejects it, so only void is tested.
        b.add(TypeRecord(kind: .dataSection, name: b.addString(".data"), vlen: 2, sizeOrType: 8,
                         extra: [0, 0, 4, variable.rawValue, 4, 4]))
        // ENUM values at the ends of both signednesses, and an ENUM64 at Int64.min / UInt64.max.
        b.add(TypeRecord(kind: .enumeration, name: b.addString("s32"), vlen: 2, kindFlag: true, sizeOrType: 4,
                         extra: [b.addString("MIN").rawValue, 0x8000_0000, b.addString("MAX").rawValue, 0x7fff_ffff]))
        b.add(TypeRecord(kind: .enumeration, name: b.addString("u32"), vlen: 1, sizeOrType: 4,
                         extra: [b.addString("ALL").rawValue, 0xffff_ffff]))
        b.add(TypeRecord(kind: .enum64, name: b.addString("s64"), vlen: 1, kindFlag: true, sizeOrType: 8,
                         extra: [b.addString("MIN64").rawValue, 0, 0x8000_0000]))
        b.add(TypeRecord(kind: .enum64, name: b.addString("u64"), vlen: 1, sizeOrType: 8,
                         extra: [b.addString("MAX64").rawValue, 0xffff_ffff, 0xffff_ffff]))
        // A member name offset pointing at the NUL that ends "int": bpftool prints '' (not (anon)).
        let emptyName = StringOffset(intName.rawValue + 3)
        b.add(TypeRecord(kind: .structure, name: b.addString(String(repeating: "n", count: 3 << 20)), vlen: 1, sizeOrType: 4,
                         extra: [emptyName.rawValue, int.rawValue, 0]))
        let btf = b.build()

        let expectedPrefix = """
        [1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
        [2] INT 'odd' size=1 bits_offset=8 nr_bits=8 encoding=UNKN
        [3] FUNC_PROTO '(anon)' ret_type_id=0 vlen=0
        [4] FUNC 'f' type_id=3 linkage=(unknown)
        [5] VAR 'v' type_id=1, linkage=(unknown)
        [6] DATASEC '.data' size=8 vlen=2
        \ttype_id=0 offset=0 size=4 (UNKNOWN '(anon)')
        \ttype_id=5 offset=4 size=4 (VAR 'v')
        [7] ENUM 's32' encoding=SIGNED size=4 vlen=2
        \t'MIN' val=-2147483648
        \t'MAX' val=2147483647
        [8] ENUM 'u32' encoding=UNSIGNED size=4 vlen=1
        \t'ALL' val=4294967295
        [9] ENUM64 's64' encoding=SIGNED size=8 vlen=1
        \t'MIN64' val=-9223372036854775808LL
        [10] ENUM64 'u64' encoding=UNSIGNED size=8 vlen=1
        \t'MAX64' val=18446744073709551615ULL

        """
        let text = btf.dumpText()
        #expect(String(decoding: text, as: UTF8.self).hasPrefix(expectedPrefix))
        let expectedStruct = "[11] STRUCT '" + String(repeating: "n", count: 3 << 20) + "' size=4 vlen=1\n\t'' type_id=1 bits_offset=0\n"
        #expect(String(decoding: text, as: UTF8.self).hasSuffix(expectedStruct))

        let path = try DumpComparison.writeTemporary(btf.serialized(), name: "unusual.btf")
        defer { unlink(path) }
        if let difference = try Bpftool.dumpDifference(file: path, expected: text) {
            Issue.record(Comment(rawValue: difference))
        }
    }
}
