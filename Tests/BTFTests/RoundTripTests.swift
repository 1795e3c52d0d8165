import BTF
import Foundation
@testable import TestSupport
import Testing

/// Parsing and writing back is lossless: byte-identical for every real input, in both byte orders,
/// and what we write is accepted by libbpf (through bpftool) with the same meaning.
@Suite("BTF round trip")
struct RoundTripTests {
    @Test("every kernel: parse, serialize, byte-swap and back")
    func kernelsRoundTrip() async throws {
        let kernels = try TestSupport.allKernels()
        #expect(!kernels.isEmpty || !TestSupport.isCI, "no kernels found")
        let clock = ContinuousClock()
        let started = clock.now
        let failures = try await DumpComparison.forEach(kernels) { path in
            try RoundTrip.check(original: try FileIO.read(path)[...], file: path)
        }
        for failure in failures { Issue.record(Comment(rawValue: failure)) }
        print("RoundTripTests: \(kernels.count) kernels round-tripped (both byte orders, bpftool on the swapped copy) in \(clock.now - started)")
    }

    @Test("every compiled BPF object: the .BTF section round-trips")
    func objectsRoundTrip() async throws {
        let objects = try DumpComparison.bpfObjects()
        let failures = try await DumpComparison.forEach(objects) { path in
            let elf = try ELFFile(contentsOf: path)
            guard let section = elf.section(named: ".BTF") else { return "\(path): no .BTF section" }
            return try RoundTrip.check(original: try elf.contents(of: section), file: path)
        }
        for failure in failures { Issue.record(Comment(rawValue: failure)) }
    }

    @Test("a BTF built in memory with one type of each kind is read by bpftool as expected",
          arguments: [ByteOrder.little, .big])
    func builtBTFAcceptedByBpftool(order: ByteOrder) throws {
        var btf = BuilderSamples.oneOfEachKind()
        btf.byteOrder = order
        let kinds = Set(btf.typeIDs.map { btf.type($0).kind })
        #expect(kinds.count == BTFKind.allCases.count, "the sample must hold every kind 1-19")
        #expect(String(decoding: btf.dumpText(), as: UTF8.self) == BuilderSamples.oneOfEachKindText)

        let bytes = btf.serialized()
        #expect(try BTF(parsing: bytes).serialized() == bytes)
        let path = try DumpComparison.writeTemporary(bytes, name: "one-of-each-\(order == .little ? "le" : "be").btf")
        defer { unlink(path) }
        if let difference = try Bpftool.dumpDifference(file: path, expected: Array(BuilderSamples.oneOfEachKindText.utf8)) {
            Issue.record(Comment(rawValue: difference))
        }
    }

    @Test("a 32-byte header with a kind-layout section is read, and written back byte for byte in both orders",
          arguments: [ByteOrder.little, .big])
    func kindLayoutHeaderRoundTrips(order: ByteOrder) throws {
        // Hand-assembled: header (32 bytes) | types | strings | kind layout (one entry per kind 1-19).
        let sample = BuilderSamples.oneOfEachKind()
        let types = sample.words, strings = sample.strings
        let layouts = BTFKind.allCases.map { kind in
            BTFKindLayout(infoSize: UInt8(kind.extraWords(vlen: 0) * 4), elementSize: UInt8(kind.extraWords(vlen: 1) * 4),
                          flags: UInt16(kind.rawValue) << 8 | 1)
        }
        var bytes: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: order == .little ? value.littleEndian : value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        put(UInt16(0xEB9F)); bytes += [1, 0]; put(UInt32(32))
        put(UInt32(0)); put(UInt32(types.count * 4))                      // type_off, type_len
        put(UInt32(types.count * 4)); put(UInt32(strings.count))          // str_off, str_len
        put(UInt32(types.count * 4 + strings.count)); put(UInt32(layouts.count * 4))  // layout_off, layout_len
        for word in types { put(word) }
        bytes += strings
        for layout in layouts { bytes += [layout.infoSize, layout.elementSize]; put(layout.flags) }

        let btf = try BTF(parsing: bytes, file: "kind-layout.btf")
        #expect(btf.header.headerLength == 32)
        #expect(btf.kindLayouts == layouts)
        #expect(btf.typeCount == sample.typeCount)
        #expect(btf.serialized() == bytes, "written back unchanged")
        let swapped = try BTF(parsing: btf.serialized(byteOrder: order.swapped))
        #expect(swapped.kindLayouts == layouts, "the layout flags survive a byte swap")
        #expect(swapped.serialized(byteOrder: order) == bytes)
    }
}

enum RoundTrip {
    /// Checks one raw BTF blob; returns a failure message naming `file`, or `nil`.
    ///
    /// 1. parse → `serialized()` gives the input bytes back;
    /// 2. written in the other byte order, parsed again and written in the original order, it is
    ///    the input again, and it dumps to the same text;
    /// 3. bpftool reads the swapped file and prints that same text (the dump tests show the text
    ///    equals bpftool's for the original).
    static func check(original: ArraySlice<UInt8>, file: String) throws -> String? {
        let btf = try BTF(parsing: original, file: file)
        let written = btf.serialized()
        if let at = firstDifference(written, original) {
            return "\(file): serialized() differs from the input at byte \(at) (sizes \(written.count), \(original.count))"
        }
        let otherOrder = btf.byteOrder.swapped
        let swappedBytes = btf.serialized(byteOrder: otherOrder)
        let swapped = try BTF(parsing: swappedBytes, file: "\(file) (\(otherOrder) copy)")
        guard swapped.byteOrder == otherOrder else {
            return "\(file): the \(otherOrder) copy was read as \(swapped.byteOrder)"
        }
        let back = swapped.serialized(byteOrder: btf.byteOrder)
        if let at = firstDifference(back, original) {
            return "\(file): \(otherOrder) copy written back in \(btf.byteOrder) differs from the input at byte \(at)"
        }
        let text = btf.dumpText()
        if swapped.dumpText() != text {
            return "\(file): the \(otherOrder) copy dumps to different text"
        }
        let path = try DumpComparison.writeTemporary(swappedBytes, name: "swapped.btf")
        defer { unlink(path) }
        return try Bpftool.dumpDifference(file: path, expected: text).map { "\(otherOrder) copy of " + $0 }
    }

    /// The first index where `a` and `b` differ (including one being longer), or `nil`.
    static func firstDifference(_ a: [UInt8], _ b: ArraySlice<UInt8>) -> Int? {
        let common = min(a.count, b.count)
        let equal = a.withUnsafeBytes { x in b.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, common) == 0 } }
        if equal { return a.count == b.count ? nil : common }
        var i = 0
        while a[i] == b[b.startIndex + i] { i += 1 }
        return i
    }
}

/// Hand-built BTF covering every kind, with the text bpftool 7.1 prints for it written out by
/// hand from bpftool's `dump_btf_type` (not produced by our dump).
enum BuilderSamples {
    static func oneOfEachKind() -> BTF {
        var b = BTFBuilder()
        func name(_ s: String) -> UInt32 { b.addString(s).rawValue }
        // 1 INT: signed, 32 bits.
        b.add(TypeRecord(kind: .int, name: b.addString("int"), sizeOrType: 4, extra: [0x0100_0020]))
        // 2 PTR to int.
        b.add(TypeRecord(kind: .pointer, name: .empty, sizeOrType: 1))
        // 3 ARRAY of 4 int indexed by int.
        b.add(TypeRecord(kind: .array, name: .empty, sizeOrType: 0, extra: [1, 1, 4]))
        // 4 STRUCT with kind_flag: two bitfields and an anonymous plain member.
        let a = name("a"), bb = name("b")
        b.add(TypeRecord(kind: .structure, name: b.addString("s"), vlen: 3, kindFlag: true, sizeOrType: 24,
                         extra: [a, 1, 3 << 24 | 0, bb, 1, 5 << 24 | 3, 0, 3, 64]))
        // 5 UNION.
        let x = name("x")
        b.add(TypeRecord(kind: .union, name: b.addString("u"), vlen: 2, sizeOrType: 8, extra: [x, 1, 0, bb, 2, 0]))
        // 6 ENUM, signed.
        let minus = name("MINUS"), two = name("TWO")
        b.add(TypeRecord(kind: .enumeration, name: b.addString("e"), vlen: 2, kindFlag: true, sizeOrType: 4,
                         extra: [minus, 0xffff_ffff, two, 2]))
        // 7 FWD union.
        b.add(TypeRecord(kind: .forward, name: b.addString("fu"), kindFlag: true, sizeOrType: 0))
        // 8 TYPEDEF, 9 VOLATILE, 10 CONST, 11 RESTRICT.
        b.add(TypeRecord(kind: .typedef, name: b.addString("t"), sizeOrType: 1))
        b.add(TypeRecord(kind: .volatile, name: .empty, sizeOrType: 1))
        b.add(TypeRecord(kind: .const, name: .empty, sizeOrType: 9))
        b.add(TypeRecord(kind: .restrict, name: .empty, sizeOrType: 2))
        // 12 FUNC (global) of 13 FUNC_PROTO int(int x, int).
        b.add(TypeRecord(kind: .function, name: b.addString("fn"), vlen: 1, sizeOrType: 13))
        b.add(TypeRecord(kind: .functionPrototype, name: .empty, vlen: 2, sizeOrType: 1, extra: [x, 1, 0, 1]))
        // 14 VAR (global) in 15 DATASEC.
        b.add(TypeRecord(kind: .variable, name: b.addString("v"), sizeOrType: 1, extra: [1]))
        b.add(TypeRecord(kind: .dataSection, name: b.addString(".data"), vlen: 1, sizeOrType: 4, extra: [14, 0, 4]))
        // 16 FLOAT.
        b.add(TypeRecord(kind: .float, name: b.addString("double"), sizeOrType: 8))
        // 17 DECL_TAG on member 1 of the struct.
        b.add(TypeRecord(kind: .declTag, name: b.addString("tag"), sizeOrType: 4, extra: [1]))
        // 18 TYPE_TAG on int.
        b.add(TypeRecord(kind: .typeTag, name: b.addString("user"), sizeOrType: 1))
        // 19 ENUM64, unsigned.
        b.add(TypeRecord(kind: .enum64, name: b.addString("e64"), vlen: 1, sizeOrType: 8,
                         extra: [name("BIG"), 0xffff_ffff, 0xff]))
        return b.build()
    }

    static let oneOfEachKindText = """
    [1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
    [2] PTR '(anon)' type_id=1
    [3] ARRAY '(anon)' type_id=1 index_type_id=1 nr_elems=4
    [4] STRUCT 's' size=24 vlen=3
    \t'a' type_id=1 bits_offset=0 bitfield_size=3
    \t'b' type_id=1 bits_offset=3 bitfield_size=5
    \t'(anon)' type_id=3 bits_offset=64
    [5] UNION 'u' size=8 vlen=2
    \t'x' type_id=1 bits_offset=0
    \t'b' type_id=2 bits_offset=0
    [6] ENUM 'e' encoding=SIGNED size=4 vlen=2
    \t'MINUS' val=-1
    \t'TWO' val=2
    [7] FWD 'fu' fwd_kind=union
    [8] TYPEDEF 't' type_id=1
    [9] VOLATILE '(anon)' type_id=1
    [10] CONST '(anon)' type_id=9
    [11] RESTRICT '(anon)' type_id=2
    [12] FUNC 'fn' type_id=13 linkage=global
    [13] FUNC_PROTO '(anon)' ret_type_id=1 vlen=2
    \t'x' type_id=1
    \t'(anon)' type_id=1
    [14] VAR 'v' type_id=1, linkage=global
    [15] DATASEC '.data' size=4 vlen=1
    \ttype_id=14 offset=0 size=4 (VAR 'v')
    [16] FLOAT 'double' size=8
    [17] DECL_TAG 'tag' type_id=4 component_idx=1
    [18] TYPE_TAG 'user' type_id=1
    [19] ENUM64 'e64' encoding=UNSIGNED size=8 vlen=1
    \t'BIG' val=1099511627775ULL

    """
}
