import BTF
import Foundation
@testable import TestSupport
import Testing

/// Split BTF (a kernel module's `.BTF`, split against vmlinux): type ids and string offsets continue
/// the base's. bpftool's `btf dump file MODULE -B VMLINUX` is the oracle for the text; the module's
/// own bytes are the oracle for `serialized()`.
@Suite("split BTF (modules)")
struct SplitBTFTests {
    /// Every module fixture: parse against its kernel, dump like bpftool -B, write back byte for
    /// byte, and through the other byte order.
    @Test("every module fixture dumps like bpftool -B and is written back byte for byte")
    func moduleFixturesMatchBpftool() throws {
        let modules = TestSupport.moduleArchives(under: TestSupport.fixtures)
        #expect(modules.count >= 3, "nf_conntrack, xfs and virtio_net fixtures expected under \(TestSupport.fixtures)")
        for (moduleArchive, kernelArchive) in modules {
            let module = try TestSupport.extractedKernel(moduleArchive)
            let kernel = try TestSupport.extractedKernel(kernelArchive)
            let base = try BTF(contentsOf: kernel)
            let btf = try BTF(contentsOf: module, base: base)
            #expect(btf.split?.typeCount == base.typeCount)
            #expect(btf.firstOwnTypeID == TypeID(UInt32(base.typeCount)))
            #expect(btf.typeCount > base.typeCount, "\(module) defines no types")
            if let difference = try Bpftool.dumpDifference(file: module, base: kernel, expected: btf.dumpText()) {
                Issue.record(Comment(rawValue: difference))
            }
            let original = try FileIO.read(module)
            #expect(btf.serialized() == original, "\(module) written back differs")
            let other = btf.byteOrder.swapped
            let swappedBytes = btf.serialized(byteOrder: other)
            let swapped = try BTF(parsing: swappedBytes, base: base)
            #expect(swapped.serialized(byteOrder: btf.byteOrder) == original)
            // bpftool reads the other-order copy against the same base and prints the same text.
            let path = try DumpComparison.writeTemporary(swappedBytes, name: "swapped-module.btf")
            defer { unlink(path) }
            if let difference = try Bpftool.dumpDifference(file: path, base: kernel, expected: btf.dumpText()) {
                Issue.record(Comment(rawValue: "\(other) copy of \(module): " + difference))
            }
        }
    }

    @Test("nf_conntrack's own types are found by name, and refer to vmlinux types by the base's ids")
    func moduleTypesReferToBase() throws {
        guard let (moduleArchive, kernelArchive) = TestSupport.moduleArchives(under: TestSupport.fixtures)
            .first(where: { $0.module.hasSuffix("/nf_conntrack.btf.tar.xz") }) else {
            Issue.record("no nf_conntrack fixture")
            return
        }
        let base = try BTF(contentsOf: try TestSupport.extractedKernel(kernelArchive))
        let btf = try BTF(contentsOf: try TestSupport.extractedKernel(moduleArchive), base: base)
        let own = Array(btf.ownTypeIDs)
        let helper = try #require(own.first { btf.name($0) == "nf_conntrack_helper" && btf.kind($0) == .structure })
        #expect(!base.typeIDs.contains { base.name($0) == "nf_conntrack_helper" && base.kind($0) == .structure },
                "vmlinux has only a forward declaration of it")
        // Its first member is an hlist_node, a vmlinux type: an id below the split's first.
        let member = btf.members(of: btf.type(helper))[0]
        #expect(btf.string(member.nameOffset) == "hnode" && btf.name(member.type) == "hlist_node")
        #expect(member.type < btf.firstOwnTypeID && btf.name(member.type) == base.name(member.type))
        // Names of base types resolve through the base part of the one string space.
        #expect(btf.typeIDs.contains { btf.name($0) == "task_struct" })
    }

    @Test("a module read without its base gets an error that says so")
    func moduleWithoutBaseIsExplained() throws {
        guard let (moduleArchive, _) = TestSupport.moduleArchives(under: TestSupport.fixtures).first else {
            Issue.record("no module fixture")
            return
        }
        let module = try TestSupport.extractedKernel(moduleArchive)
        #expect {
            try BTF(contentsOf: module)
        } throws: { error in
            let e = error as! BTFError
            return e.file == module && e.problem.contains("must be read against its base BTF")
        }
    }

    @Test("a .ko-like ELF file's .BTF section is read as split BTF, and btf-dump --base prints bpftool's text")
    func moduleELFAndCommandLine() throws {
        guard let (moduleArchive, kernelArchive) = TestSupport.moduleArchives(under: TestSupport.fixtures)
            .first(where: { $0.module.hasSuffix("/virtio_net.btf.tar.xz") }) else {
            Issue.record("no virtio_net fixture")
            return
        }
        let module = try TestSupport.extractedKernel(moduleArchive)
        let kernel = try TestSupport.extractedKernel(kernelArchive)
        // A relocatable ELF carrying the module's .BTF, as a .ko does.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("btfkit-split-\(getpid())-\(UInt32.random(in: 0 ... .max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let empty = dir + "/empty.o", ko = dir + "/virtio_net.ko"
        let cc = try TestSupport.run("clang", ["-c", "-x", "c", "/dev/null", "-o", empty])
        try #require(cc.status == 0, "clang: \(cc.stderr)")
        let objcopy = try TestSupport.run("objcopy", ["--add-section", ".BTF=" + module, empty, ko])
        try #require(objcopy.status == 0, "objcopy: \(objcopy.stderr)")

        let base = try BTF(contentsOf: kernel)
        let fromELF = try BTF(contentsOf: ko, base: base)
        let fromRaw = try BTF(contentsOf: module, base: base)
        #expect(fromELF.serialized() == fromRaw.serialized())

        let tool = try DumpComparison.builtExecutable("btf-dump")
        for (file, flag) in [(ko, "--base"), (module, "-B")] {
            let run = try TestSupport.run(tool, [file, flag, kernel])
            #expect(run.status == 0, "btf-dump \(file) \(flag): \(run.stderr)")
            if let difference = try Bpftool.dumpDifference(file: module, base: kernel, expected: [UInt8](run.stdout)) {
                Issue.record(Comment(rawValue: "btf-dump \(flag): " + difference))
            }
        }
        let out = dir + "/out.btf"
        let write = try TestSupport.run(tool, [ko, "--base", kernel, "-o", out])
        #expect(write.status == 0, "btf-dump -o: \(write.stderr)")
        #expect(try FileIO.read(out) == FileIO.read(module), "-o writes the module's split BTF byte for byte")
    }

    /// Split BTF assembled by hand on a BTFBuilder base: ids and string offsets continue the base's,
    /// as libbpf's `btf__new_split` reads them.
    @Test("hand-built split BTF: ids and strings continue the base's; bpftool -B agrees", arguments: [ByteOrder.little, .big])
    func handBuiltSplit(order: ByteOrder) throws {
        var b = BTFBuilder()
        let int = b.add(TypeRecord(kind: .int, name: b.addString("int"), sizeOrType: 4, extra: [0x0100_0020]))
        let node = b.addString("node")
        b.add(TypeRecord(kind: .structure, name: b.addString("list"), vlen: 1, sizeOrType: 4, extra: [node.rawValue, int.rawValue, 0]))
        let base = b.build()
        let baseStrings = UInt32(base.strings.count)

        // Split part: [3] STRUCT 'entry' { int node; struct list l; }, [4] PTR -> [3], [5] TYPEDEF 'e_t' -> [3].
        // Split strings: "entry\0l\0e_t\0" (no leading NUL, like pahole's module BTF); "node" reused from the base.
        var strings: [UInt8] = []
        func add(_ s: String) -> UInt32 { defer { strings += Array(s.utf8) + [0] }; return baseStrings + UInt32(strings.count) }
        let entry = add("entry"), l = add("l"), et = add("e_t")
        let words: [UInt32] = [entry, 4 << 24 | 2, 8, node.rawValue, 1, 0, l, 2, 32,
                               0, 2 << 24, 3,
                               et, 8 << 24, 3]
        var bytes: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: order == .little ? value.littleEndian : value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        put(UInt16(0xEB9F)); bytes += [1, 0]; put(UInt32(24))
        put(UInt32(0)); put(UInt32(words.count * 4)); put(UInt32(words.count * 4)); put(UInt32(strings.count))
        for word in words { put(word) }
        bytes += strings

        let split = try BTF(parsing: bytes, file: "split.btf", base: base)
        #expect(split.typeCount == 6 && Array(split.ownTypeIDs) == [TypeID(3), TypeID(4), TypeID(5)])
        #expect(split.name(TypeID(3)) == "entry" && split.name(TypeID(5)) == "e_t" && split.name(TypeID(2)) == "list")
        #expect(split.members(of: split.type(TypeID(3))).map { split.string($0.nameOffset) } == ["node", "l"])
        let text = """
        [3] STRUCT 'entry' size=8 vlen=2
        \t'node' type_id=1 bits_offset=0
        \t'l' type_id=2 bits_offset=32
        [4] PTR '(anon)' type_id=3
        [5] TYPEDEF 'e_t' type_id=3

        """
        #expect(String(decoding: split.dumpText(), as: UTF8.self) == text)
        #expect(split.serialized() == bytes)

        let basePath = try DumpComparison.writeTemporary(base.serialized(byteOrder: .little), name: "base.btf")
        let splitPath = try DumpComparison.writeTemporary(bytes, name: "split.btf")
        defer { unlink(basePath); unlink(splitPath) }
        if let difference = try Bpftool.dumpDifference(file: splitPath, base: basePath, expected: Array(text.utf8)) {
            Issue.record(Comment(rawValue: difference))
        }

        // A reference past base + split, and a string offset past both tables, name the split's ids.
        var bad = bytes
        let ptrTarget = 24 + 4 * 11
        bad.replaceSubrange(ptrTarget ..< ptrTarget + 4, with: withUnsafeBytes(of: order == .little ? UInt32(6).littleEndian : UInt32(6).bigEndian, Array.init))
        #expect {
            try BTF(parsing: bad, base: base)
        } throws: { error in
            let e = error as! BTFError
            return e.typeID == TypeID(4) && e.offset == ptrTarget && e.problem.contains("refers to type 6, but only 5 types exist")
        }
    }
}
