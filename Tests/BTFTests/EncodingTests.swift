import BTF
import Foundation
import Testing
import Trim

/// libbpf master's type encoding (`include/uapi/linux/btf.h`, 2026): `BTF_INFO_VLEN(info) = info &
/// 0xffffff`, `BTF_INFO_KIND(info) = (info >> 24) & 0x7f`, and the kind-layout section
/// (`struct btf_layout { __u8 info_sz; __u8 elem_sz; __u16 flags; }` per kind number, located by
/// `layout_off`/`layout_len` in a 32-byte header) that lets a reader step over kinds it does not know:
/// such a record is 12 + info_sz + vlen * elem_sz bytes (libbpf's `btf_type_size_unknown`).
/// bpftool prints a kind it does not know as `[ID] UNKNOWN 'NAME'` and nothing more
/// (`btf_kind_safe` in `dump_btf_type`). Debian's bpftool (libbpf 1.1) predates both, so the
/// expected bytes and texts here are assembled by hand from those rules, not by BTFKit.
@Suite("BTF info encoding (24-bit vlen, 7-bit kind) and unknown kinds")
struct EncodingTests {
    /// `BTF_INFO_ENC` as libbpf master's headers spell it.
    static func info(kind: UInt32, vlen: UInt32, kindFlag: Bool = false) -> UInt32 {
        (kindFlag ? 1 << 31 : 0) | (kind & 0x7f) << 24 | vlen & 0xff_ffff
    }

    /// A layout entry for every kind number 0 ... 127: the real sizes for 1-19, and for three
    /// kinds BTFKit does not know: 20 (one info word, two-word elements), 21 (one-word elements),
    /// 127 (no extra words).
    static let layouts: [BTFKindLayout] = (0 ... 127).map { number in
        switch number {
        case 1 ... 19:
            let kind = BTFKind(rawValue: UInt8(number))!
            return BTFKindLayout(infoSize: UInt8(kind.extraWords(vlen: 0) * 4),
                                 elementSize: UInt8(kind.extraWords(vlen: 1) * 4 - kind.extraWords(vlen: 0) * 4), flags: 0)
        case 20: return BTFKindLayout(infoSize: 4, elementSize: 8, flags: 0)
        case 21: return BTFKindLayout(infoSize: 0, elementSize: 4, flags: 0)
        default: return BTFKindLayout(infoSize: 0, elementSize: 0, flags: 0)
        }
    }

    /// Strings and type words of a BTF with three records of unknown kinds between known ones.
    static func unknownKindSample() -> (words: [UInt32], strings: [UInt8], text: String) {
        var strings: [UInt8] = [0]
        func add(_ s: String) -> UInt32 {
            let offset = UInt32(strings.count)
            strings += Array(s.utf8) + [0]
            return offset
        }
        let int = add("int"), loc = add("loc"), site = add("site"), s = add("s"), a = add("a"), data = add(".data")
        var words: [UInt32] = []
        words += [int, info(kind: 1, vlen: 0), 4, 0x0100_0020]                        // [1] INT
        words += [loc, info(kind: 20, vlen: 2), 8, 0xdead, 1, 2, 3, 4]                // [2] kind 20: 1 + 2 * 2 words
        words += [site, info(kind: 21, vlen: 3, kindFlag: true), 1, 7, 8, 9]          // [3] kind 21: 3 words
        words += [s, info(kind: 4, vlen: 1), 4, a, 1, 0]                              // [4] STRUCT
        words += [0, info(kind: 127, vlen: 0), 0]                                     // [5] kind 127, anonymous
        words += [data, info(kind: 15, vlen: 2), 8, 2, 0, 4, 5, 4, 4]                 // [6] DATASEC naming [2] and [5]
        let text = """
        [1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
        [2] UNKNOWN 'loc'
        [3] UNKNOWN 'site'
        [4] STRUCT 's' size=4 vlen=1
        \t'a' type_id=1 bits_offset=0
        [5] UNKNOWN '(anon)'
        [6] DATASEC '.data' size=8 vlen=2
        \ttype_id=2 offset=0 size=4 (UNKNOWN 'loc')
        \ttype_id=5 offset=4 size=4 (UNKNOWN '(anon)')

        """
        return (words, strings, text)
    }

    /// Assembles a raw BTF file: header (32 bytes when `layouts` is not nil), types, and strings
    /// and layout in the order `layoutFirst` says, with `padding` zero bytes before a trailing layout.
    static func assemble(words: [UInt32], strings: [UInt8], layouts: [BTFKindLayout]?, order: ByteOrder,
                         layoutFirst: Bool = true, padding: Int = 0) -> [UInt8] {
        var bytes: [UInt8] = []
        func put<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: order == .little ? value.littleEndian : value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        let typeLen = words.count * 4, layoutLen = (layouts?.count ?? 0) * 4
        let strOff = layouts != nil && layoutFirst ? typeLen + layoutLen : typeLen
        let layoutOff = layoutFirst ? typeLen : typeLen + strings.count + padding
        put(UInt16(0xEB9F)); bytes += [1, 0]; put(UInt32(layouts == nil ? 24 : 32))
        put(UInt32(0)); put(UInt32(typeLen)); put(UInt32(strOff)); put(UInt32(strings.count))
        if layouts != nil { put(UInt32(layoutOff)); put(UInt32(layoutLen)) }
        for word in words { put(word) }
        func putLayouts() { for l in layouts ?? [] { bytes += [l.infoSize, l.elementSize]; put(l.flags) } }
        if layoutFirst { putLayouts(); bytes += strings } else { bytes += strings; bytes += [UInt8](repeating: 0, count: padding); putLayouts() }
        return bytes
    }

    @Test("kinds BTFKit does not know are stepped over with the kind layout, dumped as bpftool does, kept byte for byte",
          arguments: [ByteOrder.little, .big], [(true, 0), (false, 0), (false, 3)])
    func unknownKindsRoundTrip(order: ByteOrder, placement: (layoutFirst: Bool, padding: Int)) throws {
        let sample = Self.unknownKindSample()
        let bytes = Self.assemble(words: sample.words, strings: sample.strings, layouts: Self.layouts, order: order,
                                  layoutFirst: placement.layoutFirst, padding: placement.padding)
        let btf = try BTF(parsing: bytes, file: "unknown-kinds.btf")
        #expect(btf.typeCount == 7)
        #expect(btf.type(TypeID(2)).kind == .unknown && btf.type(TypeID(2)).kindNumber == 20)
        #expect(btf.type(TypeID(3)).kindNumber == 21 && btf.type(TypeID(3)).vlen == 3 && btf.type(TypeID(3)).kindFlag)
        #expect(btf.type(TypeID(5)).kindNumber == 127)
        #expect(btf.recordWordCount(TypeID(2)) == 8 && btf.recordWordCount(TypeID(3)) == 6)
        #expect(btf.record(TypeID(2)).extra == [0xdead, 1, 2, 3, 4], "the unknown record's words survive as they are")
        // The records after the unknown ones are found where they are: the walk stepped correctly.
        #expect(btf.name(TypeID(4)) == "s" && btf.members(of: btf.type(TypeID(4))).map(\.type) == [TypeID(1)])
        #expect(String(decoding: btf.dumpText(), as: UTF8.self) == sample.text)
        #expect(btf.serialized() == bytes, "written back byte for byte")
        let swapped = try BTF(parsing: btf.serialized(byteOrder: order.swapped))
        #expect(swapped.serialized(byteOrder: order) == bytes, "and through the other byte order")
        #expect(swapped.dumpText() == btf.dumpText())
    }

    @Test("an unknown kind without a layout entry, or with sizes that are not whole words, is refused by name")
    func unknownKindRefusedWithoutLayout() throws {
        let sample = Self.unknownKindSample()
        let noLayout = Self.assemble(words: sample.words, strings: sample.strings, layouts: nil, order: .little)
        #expect {
            try BTF(parsing: noLayout, file: "no-layout.btf")
        } throws: { error in
            let e = error as! BTFError
            return e.typeID == TypeID(2) && e.offset == 24 + 4 * 4 + 4 && e.file == "no-layout.btf"
                && e.problem.contains("invalid kind 20") && e.problem.contains("no kind-layout section")
        }
        var odd = Self.layouts
        odd[21] = BTFKindLayout(infoSize: 0, elementSize: 6, flags: 0)   // libbpf master: sizes must be multiples of 4
        let oddBytes = Self.assemble(words: sample.words, strings: sample.strings, layouts: odd, order: .little)
        #expect {
            try BTF(parsing: oddBytes)
        } throws: { error in
            let e = error as! BTFError
            return e.typeID == TypeID(3) && e.problem.contains("kind 21") && e.problem.contains("no usable size")
        }
        // A layout too short to reach kind 127.
        let short = Self.assemble(words: sample.words, strings: sample.strings, layouts: Array(Self.layouts.prefix(22)), order: .little)
        #expect(throws: BTFError.self) { try BTF(parsing: short) }
    }

    @Test("BTFBuilder writes a kind-layout section and records of unknown kinds; the result reads back")
    func builderWritesLayout() throws {
        var b = BTFBuilder()
        b.kindLayouts = Self.layouts
        let int = b.add(TypeRecord(kind: .int, name: b.addString("int"), sizeOrType: 4, extra: [0x0100_0020]))
        let loc = b.add(TypeRecord(nameOffset: b.addString("loc"), info: Self.info(kind: 20, vlen: 1), sizeOrType: 8,
                                   extra: [42, int.rawValue, 0]))
        let built = b.build()
        let bytes = built.serialized()
        let read = try BTF(parsing: bytes)
        #expect(read.kindLayouts == Self.layouts)
        #expect(read.type(loc).kindNumber == 20 && read.record(loc).extra == [42, 1, 0])
        #expect(read.serialized() == bytes)
        #expect(String(decoding: read.dumpText(), as: UTF8.self) == """
            [1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
            [2] UNKNOWN 'loc'

            """)
    }

    @Test("a struct with 70,000 members (vlen past 16 bits) reads, dumps and round-trips", arguments: [ByteOrder.little, .big])
    func hugeVlenRoundTrips(order: ByteOrder) throws {
        let count = 70_000
        #expect(count > 0xffff && count & 0xffff != count, "old 16-bit readers would see another vlen")
        var strings: [UInt8] = [0]
        let int = UInt32(strings.count); strings += Array("int".utf8) + [0]
        let big = UInt32(strings.count); strings += Array("big".utf8) + [0]
        var memberNames: [UInt32] = []
        for i in 0 ..< count {
            memberNames.append(UInt32(strings.count))
            strings += Array("m\(i)".utf8) + [0]
        }
        var words: [UInt32] = [int, Self.info(kind: 1, vlen: 0), 4, 0x0100_0020]
        words += [big, Self.info(kind: 4, vlen: UInt32(count)), UInt32(count * 4)]
        for i in 0 ..< count { words += [memberNames[i], 1, UInt32(i * 32)] }
        // An enum of the same width, to cover the other vlen-sized kind.
        words += [0, Self.info(kind: 6, vlen: UInt32(count)), 4]
        for i in 0 ..< count { words += [memberNames[i], UInt32(i)] }
        let bytes = Self.assemble(words: words, strings: strings, layouts: nil, order: order)

        let btf = try BTF(parsing: bytes, file: "huge-vlen.btf")
        #expect(btf.typeCount == 4)
        let s = btf.type(TypeID(2))
        #expect(s.vlen == count)
        #expect(btf.member(of: s, at: count - 1).bitOffset == UInt32((count - 1) * 32))
        #expect(btf.type(TypeID(3)).vlen == count)
        #expect(btf.serialized() == bytes)
        #expect(try BTF(parsing: btf.serialized(byteOrder: order.swapped)).serialized(byteOrder: order) == bytes)

        var expected = "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n[2] STRUCT 'big' size=\(count * 4) vlen=\(count)\n"
        for i in 0 ..< count { expected += "\t'm\(i)' type_id=1 bits_offset=\(i * 32)\n" }
        expected += "[3] ENUM '(anon)' encoding=UNSIGNED size=4 vlen=\(count)\n"
        for i in 0 ..< count { expected += "\t'm\(i)' val=\(i)\n" }
        #expect(String(decoding: btf.dumpText(), as: UTF8.self) == expected)

        // The record the minimizer and the builder work with keeps the full vlen too.
        var record = btf.record(TypeID(2))
        #expect(record.vlen == count && record.extra.count == 3 * count)
        record.setVlen(count + 1)
        #expect(record.vlen == count + 1 && record.kind == .structure, "setVlen leaves the kind bits alone")
        #expect(TypeRecord(kind: .structure, name: .empty, vlen: BTFInfo.maxVlen, sizeOrType: 0).vlen == 0xff_ffff)
    }

    @Test("a trim that needs a type of unknown kind is refused by name")
    func unknownKindRefusedByMinimizer() throws {
        let sample = Self.unknownKindSample()
        // [7] TYPEDEF 'tloc' -> [2] (kind 20).
        var strings = sample.strings
        let tloc = UInt32(strings.count); strings += Array("tloc".utf8) + [0]
        let words = sample.words + [tloc, Self.info(kind: 8, vlen: 0), 2]
        let btf = try BTF(parsing: Self.assemble(words: words, strings: strings, layouts: Self.layouts, order: .little))
        var minimizer = Minimizer(source: btf)
        try minimizer.keepType(TypeID(4), followingPointers: false)      // a known struct: fine
        #expect {
            try minimizer.keepType(TypeID(7), followingPointers: false)
        } throws: { error in
            let e = error as! BTFError
            return e.typeID == TypeID(2) && e.problem.contains("kind 20") && e.problem.contains("BTFKit does not know")
        }
    }
}
