import BTF
import Foundation
@testable import TestSupport
import Testing

/// libbpf's `btf__parse` and the running kernel's `BPF_BTF_LOAD` are the judges of what BTFKit writes:
/// a BTF built in memory with every kind 1-19, and real kernels read and written back.
@Suite("libbpf and the kernel accept BTFKit's BTF")
struct LibbpfAcceptanceTests {
    // MARK: - A BTF with every kind

    @Test("btf__parse accepts a BTF with every kind 1-19, in both byte orders, with libbpf's type count")
    func libbpfParsesEveryKind() throws {
        let tool = try BTFCheckTool.path()
        let btf = AllKindsBTF.build()
        #expect(Set(btf.typeIDs.compactMap { btf.kind($0) }) == Set(BTFKind.allCases), "the fixture must cover every kind")
        for order in [ByteOrder.little, .big] {
            let file = try BTFCheckTool.write(btf.serialized(byteOrder: order), name: "all-kinds-\(order).btf")
            defer { try? FileManager.default.removeItem(atPath: file) }
            let result = try TestSupport.run(tool, ["parse", file])
            #expect(result.status == 0, "libbpf rejects the \(order) all-kinds BTF: \(result.stderr)")
            #expect(String(decoding: result.stdout, as: UTF8.self) == "types \(btf.typeCount)\n")
            // And BTFKit reads its own output back unchanged.
            let reread = try BTF(contentsOf: file)
            #expect(reread.byteOrder == order)
            #expect(reread.serialized(byteOrder: .host) == btf.serialized(byteOrder: .host))
        }
    }

    @Test("the running kernel's BPF_BTF_LOAD accepts a BTF with every kind 1-19", .requiresRoot)
    func kernelLoadsEveryKind() throws {
        try TestSupport.requireRoot()
        let tool = try BTFCheckTool.path()
        let btf = AllKindsBTF.build()
        let file = try BTFCheckTool.write(btf.serialized(byteOrder: .host), name: "all-kinds-load.btf")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try TestSupport.run(tool, ["load", file])
        #expect(result.status == 0, "the kernel rejects the all-kinds BTF:\n\(result.stderr)")
        #expect(String(decoding: result.stdout, as: UTF8.self).hasPrefix("loaded types \(btf.typeCount) "))
    }

    @Test("the kernel's verifier rejects a broken BTF, so the load check can fail", .requiresRoot)
    func kernelRejectsBrokenBTF() throws {
        try TestSupport.requireRoot()
        // A struct whose member lies outside it: libbpf parses it, the kernel refuses it.
        var b = BTFBuilder()
        let int = b.add(TypeRecord(kind: .int, name: b.addString("int"), sizeOrType: 4, extra: [AllKindsBTF.intEncoding(signed: true, bits: 32)]))
        b.add(TypeRecord(kind: .structure, name: b.addString("broken"), vlen: 1, sizeOrType: 4,
                         extra: [b.addString("far").rawValue, int.rawValue, 64]))
        let file = try BTFCheckTool.write(b.build().serialized(byteOrder: .host), name: "broken-load.btf")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try TestSupport.run(try BTFCheckTool.path(), ["load", file])
        #expect(result.status == 1)
        #expect(result.stderr.contains("kernel log:"), "\(result.stderr)")
    }

    @Test("a BTF of 20 000 three-word types (past the parser's n/6 index estimate) parses like libbpf says")
    func manySmallTypes() throws {
        var b = BTFBuilder()
        let int = b.add(TypeRecord(kind: .int, name: b.addString("int"), sizeOrType: 4, extra: [AllKindsBTF.intEncoding(signed: true, bits: 32)]))
        var previous = int
        for _ in 0 ..< 20_000 { previous = b.add(TypeRecord(kind: .pointer, name: .empty, sizeOrType: previous.rawValue)) }
        let btf = b.build()
        let file = try BTFCheckTool.write(btf.serialized(), name: "pointers.btf")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let reread = try BTF(contentsOf: file)
        #expect(reread.typeCount == 20_002)
        #expect(reread.type(previous).referencedType == TypeID(previous.rawValue - 1))
        let result = try TestSupport.run(try BTFCheckTool.path(), ["parse", file])
        #expect(result.status == 0 && String(decoding: result.stdout, as: UTF8.self) == "types 20002\n", "\(result.stderr)")
    }

    // MARK: - Real kernels

    @Test("real kernels read and written back are accepted by btf__parse with the same type count", .requiresSharedArchive)
    func realKernelsRoundTrip() throws {
        try TestSupport.requireSharedArchive()
        let tool = try BTFCheckTool.path()
        for kernel in try Self.sampleKernels() {
            let original = try TestSupport.run(tool, ["parse", kernel])
            #expect(original.status == 0, "libbpf rejects the original \(kernel): \(original.stderr)")
            let btf = try BTF(contentsOf: kernel)
            #expect(String(decoding: original.stdout, as: UTF8.self) == "types \(btf.typeCount)\n",
                    "type count of \(kernel): libbpf says \(String(decoding: original.stdout, as: UTF8.self)), BTFKit \(btf.typeCount)")
            let name = (kernel as NSString).lastPathComponent
            let written = try BTFCheckTool.write(btf.serialized(), name: "roundtrip-" + name)
            let rewritten = try TestSupport.run(tool, ["parse", written])
            #expect(rewritten.status == 0, "libbpf rejects BTFKit's rewrite of \(kernel): \(rewritten.stderr)")
            #expect(rewritten.stdout == original.stdout)
            #expect(try FileIO.read(written) == FileIO.read(kernel), "\(name) is not written back byte for byte")
            try? FileManager.default.removeItem(atPath: written)
            print("libbpf agrees on \(name): \(btf.typeCount) types, written back byte for byte")
        }
    }

    /// The smallest kernel of the shared archive, the smallest fixture kernel and a big-endian fixture
    /// (when the fixtures exist), extracted. Chosen by archive size so that only these are extracted.
    static func sampleKernels() throws -> [String] {
        func size(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        let shared = TestSupport.kernelArchives(under: TestSupport.sharedArchive)
        let fixtures = TestSupport.kernelArchives(under: TestSupport.fixtures)
        var picks: [String] = []
        if let smallest = shared.min(by: { size($0) < size($1) }) { picks.append(smallest) }
        // A second, different distro: the smallest Ubuntu kernel.
        if let ubuntu = shared.filter({ $0.contains("/ubuntu/") }).min(by: { size($0) < size($1) }) { picks.append(ubuntu) }
        let native = fixtures.filter { !$0.contains("byteswapped") }
        if let smallestFixture = native.min(by: { size($0) < size($1) }) { picks.append(smallestFixture) }
        if let bigEndian = fixtures.first(where: { $0.contains("byteswapped") }) { picks.append(bigEndian) }
        #expect(!picks.isEmpty, "no kernels found under \(TestSupport.sharedArchive) or \(TestSupport.fixtures)")
        return try picks.map(TestSupport.extractedKernel)
    }
}

/// A small, well-formed BTF that uses every kind with the details the kernel checks: int encodings,
/// bitfield members (kind_flag), signed and unsigned enums, enum64, forward declarations of both
/// flavours, all modifiers, a type tag in a pointer chain, functions, variables in a data section,
/// a float and declaration tags on a struct, a member and a parameter.
enum AllKindsBTF {
    /// The INT encoding word: `BTF_INT_ENCODING << 24 | BTF_INT_OFFSET << 16 | BTF_INT_BITS`.
    static func intEncoding(signed: Bool = false, char: Bool = false, bool: Bool = false, bits: UInt32) -> UInt32 {
        var encoding = IntEncoding()
        if signed { encoding.insert(.signed) }
        if char { encoding.insert(.char) }
        if bool { encoding.insert(.bool) }
        return UInt32(encoding.rawValue) << 24 | bits
    }

    static func build() -> BTF {
        var b = BTFBuilder()
        func name(_ s: String) -> StringOffset { b.addString(s) }
        func member(_ n: String, _ type: TypeID, bitOffset: UInt32, bitfieldSize: UInt32 = 0) -> [UInt32] {
            [name(n).rawValue, type.rawValue, bitfieldSize << 24 | bitOffset]
        }
        func words(_ pairs: [(String, UInt32)]) -> [UInt32] { pairs.flatMap { [name($0.0).rawValue, $0.1] } }

        let int = b.add(TypeRecord(kind: .int, name: name("int"), sizeOrType: 4, extra: [intEncoding(signed: true, bits: 32)]))
        let uint = b.add(TypeRecord(kind: .int, name: name("unsigned int"), sizeOrType: 4, extra: [intEncoding(bits: 32)]))
        let char = b.add(TypeRecord(kind: .int, name: name("char"), sizeOrType: 1, extra: [intEncoding(char: true, bits: 8)]))
        b.add(TypeRecord(kind: .int, name: name("_Bool"), sizeOrType: 1, extra: [intEncoding(bool: true, bits: 8)]))
        let u64 = b.add(TypeRecord(kind: .int, name: name("long long unsigned int"), sizeOrType: 8, extra: [intEncoding(bits: 64)]))
        let intPointer = b.add(TypeRecord(kind: .pointer, name: .empty, sizeOrType: int.rawValue))
        let charArray = b.add(TypeRecord(kind: .array, name: .empty, sizeOrType: 0, extra: [char.rawValue, int.rawValue, 16]))
        // struct flags { unsigned int a:3; unsigned int b:5; int c; }: kind_flag packs bitfield sizes.
        let flags = b.add(TypeRecord(kind: .structure, name: name("flags"), vlen: 3, kindFlag: true, sizeOrType: 8,
                                     extra: member("a", uint, bitOffset: 0, bitfieldSize: 3)
                                         + member("b", uint, bitOffset: 3, bitfieldSize: 5)
                                         + member("c", int, bitOffset: 32)))
        b.add(TypeRecord(kind: .union, name: name("value"), vlen: 2, sizeOrType: 8,
                         extra: member("i", int, bitOffset: 0) + member("u", u64, bitOffset: 0)))
        let state = b.add(TypeRecord(kind: .enumeration, name: name("state"), vlen: 3, sizeOrType: 4,
                                     extra: words([("STATE_OFF", 0), ("STATE_ON", 1), ("STATE_MAX", 0xffff_ffff)])))
        b.add(TypeRecord(kind: .enumeration, name: name("delta"), vlen: 2, kindFlag: true, sizeOrType: 4,
                         extra: words([("DELTA_NEGATIVE", UInt32(bitPattern: -1)), ("DELTA_ZERO", 0)])))
        b.add(TypeRecord(kind: .enum64, name: name("big"), vlen: 2, sizeOrType: 8,
                         extra: [name("BIG_HUGE").rawValue, 0, 1, name("BIG_TOP").rawValue, 0xffff_ffff, 0xffff_ffff]))
        b.add(TypeRecord(kind: .enum64, name: name("signed_big"), vlen: 1, kindFlag: true, sizeOrType: 8,
                         extra: [name("SIGNED_BIG_MIN").rawValue, 0, 0x8000_0000]))
        let opaque = b.add(TypeRecord(kind: .forward, name: name("opaque"), sizeOrType: 0))
        b.add(TypeRecord(kind: .forward, name: name("opaque_union"), kindFlag: true, sizeOrType: 0))
        b.add(TypeRecord(kind: .typedef, name: name("u32"), sizeOrType: uint.rawValue))
        let constInt = b.add(TypeRecord(kind: .const, name: .empty, sizeOrType: int.rawValue))
        b.add(TypeRecord(kind: .volatile, name: .empty, sizeOrType: constInt.rawValue))
        b.add(TypeRecord(kind: .restrict, name: .empty, sizeOrType: intPointer.rawValue))
        // int __attribute__((btf_type_tag("user"))) *: the kernel wants type tags first in a pointee chain.
        let userInt = b.add(TypeRecord(kind: .typeTag, name: name("user"), sizeOrType: int.rawValue))
        let userPointer = b.add(TypeRecord(kind: .pointer, name: .empty, sizeOrType: userInt.rawValue))
        let proto = b.add(TypeRecord(kind: .functionPrototype, name: .empty, vlen: 2, sizeOrType: int.rawValue,
                                     extra: words([("a", int.rawValue), ("p", userPointer.rawValue)])))
        // FUNC's vlen is its linkage: 1 = global.
        let function = b.add(TypeRecord(kind: .function, name: name("handle"), vlen: 1, sizeOrType: proto.rawValue))
        let counter = b.add(TypeRecord(kind: .variable, name: name("counter"), sizeOrType: uint.rawValue, extra: [1]))
        let flagsVariable = b.add(TypeRecord(kind: .variable, name: name("flags_var"), sizeOrType: flags.rawValue, extra: [0]))
        b.add(TypeRecord(kind: .dataSection, name: name(".data"), vlen: 2, sizeOrType: 12,
                         extra: [counter.rawValue, 0, 4, flagsVariable.rawValue, 4, 8]))
        b.add(TypeRecord(kind: .float, name: name("double"), sizeOrType: 8))
        b.add(TypeRecord(kind: .declTag, name: name("tag_struct"), sizeOrType: flags.rawValue, extra: [UInt32(bitPattern: -1)]))
        b.add(TypeRecord(kind: .declTag, name: name("tag_member"), sizeOrType: flags.rawValue, extra: [1]))
        b.add(TypeRecord(kind: .declTag, name: name("tag_param"), sizeOrType: function.rawValue, extra: [0]))
        // struct node { struct node *next; char name[16]; struct opaque *o; }: a self-reference.
        let node = b.nextTypeID
        let nodePointer = TypeID(node.rawValue + 1), opaquePointer = TypeID(node.rawValue + 2)
        b.add(TypeRecord(kind: .structure, name: name("node"), vlen: 3, sizeOrType: 32,
                         extra: member("next", nodePointer, bitOffset: 0) + member("name", charArray, bitOffset: 64)
                             + member("o", opaquePointer, bitOffset: 192)))
        b.add(TypeRecord(kind: .pointer, name: .empty, sizeOrType: node.rawValue))
        b.add(TypeRecord(kind: .pointer, name: .empty, sizeOrType: opaque.rawValue))
        b.add(TypeRecord(kind: .typedef, name: name("state_t"), sizeOrType: state.rawValue))
        return b.build()
    }
}
