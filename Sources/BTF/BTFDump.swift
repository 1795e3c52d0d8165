import Glibc

// The text format of `bpftool btf dump file FILE` (raw format), as printed by bpftool's
// `dump_btf_type` (bpftool 7.1 / libbpf 1.1):
//
//     [ID] KIND 'NAME' <kind-specific fields>
//     \t<one line per member, enumerator, parameter or section variable>
//
// Anonymous names print as `(anon)`. A 44 MB kernel dumps to about 150 MB of text, so the dump is
// formatted straight into a byte buffer (no `String` per line) and handed out in chunks.

extension BTF {
    /// Writes every type in the text format of `bpftool btf dump file FILE` (raw format).
    ///
    /// Names are bytes in BTF; a name that is not valid UTF-8 reaches `out` with replacement
    /// characters. `dumpText()` and `dump(chunks:)` give the exact bytes.
    public func dump<Target: TextOutputStream>(to out: inout Target) {
        dump { chunk in out.write(String(decoding: chunk, as: UTF8.self)) }
    }

    /// The whole dump as UTF-8 bytes, exactly as bpftool prints it.
    public func dumpText() -> [UInt8] {
        var text: [UInt8] = []
        dump { chunk in text.append(contentsOf: chunk) }
        return text
    }

    /// Writes the dump to an open file descriptor (standard output is 1).
    public func dump(toFileDescriptor fd: Int32) throws(BTFError) {
        var failure: BTFError?
        dump { chunk in
            guard failure == nil else { return }
            do { try writeAll(fd, chunk) } catch { failure = BTFError("cannot write the dump: \(error)") }
        }
        if let failure { throw failure }
    }

    /// Produces the dump as a sequence of byte chunks (about 1 MB each, always ending between two
    /// names, so never inside a multi-byte character). `chunk` must not keep the buffer it is given.
    public func dump(chunks chunk: (UnsafeRawBufferPointer) -> Void) {
        // The writer keeps the sink only while this call runs.
        withoutActuallyEscaping(chunk) { sink in
            words.withUnsafeBufferPointer { words in
                strings.withUnsafeBufferPointer { strings in
                    var writer = DumpWriter(strings: strings, sink: sink)
                    // Split BTF prints its own types only, as `bpftool btf dump file F -B BASE` does.
                    for index in firstOwnTypeID.index ..< typeStarts.count {
                        writer.writeType(id: UInt32(index), at: Int(typeStarts[index]), words: words,
                                         typeStarts: typeStarts)
                    }
                    writer.finish()
                }
            }
        }
    }
}

/// Formats bpftool's text into a fixed buffer and passes it to `sink` when it fills up.
private struct DumpWriter: ~Copyable {
    private let strings: UnsafeBufferPointer<UInt8>
    private let sink: (UnsafeRawBufferPointer) -> Void
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var used = 0

    /// Room for the longest line without names: a kind word and a handful of 20-digit numbers.
    private static let fixedLineBound = 256

    init(strings: UnsafeBufferPointer<UInt8>, sink: @escaping (UnsafeRawBufferPointer) -> Void) {
        self.strings = strings
        self.sink = sink
        capacity = 1 << 20
        buffer = .allocate(capacity: capacity)
    }

    deinit { buffer.deallocate() }

    /// Hands out what is buffered; called at the end and whenever the next line might not fit.
    mutating func finish() {
        if used > 0 { sink(UnsafeRawBufferPointer(start: buffer, count: used)) }
        used = 0
    }

    /// Makes room for `count` more bytes, flushing (and growing, for a giant name) as needed.
    @inline(__always)
    private mutating func reserve(_ count: Int) {
        guard used + count > capacity else { return }
        finish()
        if count > capacity {
            buffer.deallocate()
            capacity = count
            buffer = .allocate(capacity: capacity)
        }
    }

    // MARK: Primitives (callers have reserved the room)

    @inline(__always)
    private mutating func byte(_ b: UInt8) {
        buffer[used] = b
        used += 1
    }

    @inline(__always)
    /// bpftool's name for a FUNC's or VAR's linkage value.
    private static func linkageName(_ linkage: UInt32) -> StaticString {
        switch linkage {
        case 0: "static"
        case 1: "global"
        case 2: "extern"
        default: "(unknown)"
        }
    }

    private mutating func text(_ s: StaticString) {
        let count = s.utf8CodeUnitCount
        (buffer + used).update(from: s.utf8Start, count: count)
        used += count
    }

    @inline(__always)
    private mutating func decimal(_ value: UInt64) {
        var digits = 1
        var rest = value
        while rest >= 10 { rest /= 10; digits += 1 }
        var v = value
        var at = used + digits - 1
        repeat {
            buffer[at] = UInt8(truncatingIfNeeded: v % 10) &+ 48
            v /= 10
            at -= 1
        } while v != 0
        used += digits
    }

    @inline(__always)
    private mutating func decimal(_ value: UInt32) { decimal(UInt64(value)) }

    private mutating func signedDecimal(_ value: Int64) {
        if value < 0 {
            byte(UInt8(ascii: "-"))
            decimal(value.magnitude)
        } else {
            decimal(UInt64(value))
        }
    }

    /// The NUL-terminated name at `offset` (bpftool's `btf_str`): `(anon)` for offset 0,
    /// `(invalid)` past the string table (possible only in a hand-built BTF). The bytes are
    /// reserved here, together with `extra` bytes for the rest of the line.
    private mutating func name(_ offset: UInt32, reservingExtra extra: Int) {
        if offset == 0 {
            reserve(extra + 8)
            text("(anon)")
            return
        }
        let start = Int(offset)
        guard start < strings.count else {
            reserve(extra + 16)
            text("(invalid)")
            return
        }
        var end = start
        while end < strings.count && strings[end] != 0 { end += 1 }
        let length = end - start
        reserve(extra + length)
        (buffer + used).update(from: strings.baseAddress! + start, count: length)
        used += length
    }

    // MARK: One type

    /// Writes type `id`, whose record starts at word `start`, with all its lines.
    mutating func writeType(id: UInt32, at start: Int, words: UnsafeBufferPointer<UInt32>, typeStarts: [UInt32]) {
        let info = words[start + 1]
        let vlen = BTFInfo.vlen(info)
        let kindFlag = info >> 31 != 0
        let sizeOrType = words[start + 2]
        let kind = BTFInfo.kind(info)

        reserve(Self.fixedLineBound)
        byte(UInt8(ascii: "["))
        decimal(id)
        text("] ")
        writeKindName(kind)
        text(" '")
        name(words[start], reservingExtra: Self.fixedLineBound)
        byte(UInt8(ascii: "'"))

        let extra = start + 3
        switch kind {
        case .int:
            let encoding = words[extra]
            text(" size="); decimal(sizeOrType)
            text(" bits_offset="); decimal(encoding >> 16 & 0xff)
            text(" nr_bits="); decimal(encoding & 0xff)
            text(" encoding=")
            switch encoding >> 24 & 0x0f {
            case 0: text("(none)")
            case 1: text("SIGNED")
            case 2: text("CHAR")
            case 4: text("BOOL")
            default: text("UNKN")
            }

        case .pointer, .const, .volatile, .restrict, .typedef, .typeTag:
            text(" type_id="); decimal(sizeOrType)

        case .array:
            text(" type_id="); decimal(words[extra])
            text(" index_type_id="); decimal(words[extra + 1])
            text(" nr_elems="); decimal(words[extra + 2])

        case .structure, .union:
            text(" size="); decimal(sizeOrType)
            text(" vlen="); decimal(UInt32(vlen))
            for i in 0 ..< vlen {
                let member = extra + 3 * i
                let rawOffset = words[member + 2]
                // With kind_flag the offset word packs the bitfield size into its top byte.
                let bitOffset = kindFlag ? rawOffset & 0xff_ffff : rawOffset
                let bitfieldSize = kindFlag ? rawOffset >> 24 : 0
                reserve(Self.fixedLineBound)
                text("\n\t'")
                name(words[member], reservingExtra: Self.fixedLineBound)
                text("' type_id="); decimal(words[member + 1])
                text(" bits_offset="); decimal(bitOffset)
                if bitfieldSize != 0 { text(" bitfield_size="); decimal(bitfieldSize) }
            }

        case .enumeration:
            text(kindFlag ? " encoding=SIGNED" : " encoding=UNSIGNED")
            text(" size="); decimal(sizeOrType)
            text(" vlen="); decimal(UInt32(vlen))
            for i in 0 ..< vlen {
                let enumerator = extra + 2 * i
                let value = words[enumerator + 1]
                reserve(Self.fixedLineBound)
                text("\n\t'")
                name(words[enumerator], reservingExtra: Self.fixedLineBound)
                text("' val=")
                if kindFlag { signedDecimal(Int64(Int32(bitPattern: value))) } else { decimal(value) }
            }

        case .enum64:
            text(kindFlag ? " encoding=SIGNED" : " encoding=UNSIGNED")
            text(" size="); decimal(sizeOrType)
            text(" vlen="); decimal(UInt32(vlen))
            for i in 0 ..< vlen {
                let enumerator = extra + 3 * i
                let value = UInt64(words[enumerator + 2]) << 32 | UInt64(words[enumerator + 1])
                reserve(Self.fixedLineBound)
                text("\n\t'")
                name(words[enumerator], reservingExtra: Self.fixedLineBound)
                text("' val=")
                // bpftool prints C literals here: %lldLL or %lluULL.
                if kindFlag { signedDecimal(Int64(bitPattern: value)); text("LL") } else { decimal(value); text("ULL") }
            }

        case .forward:
            text(kindFlag ? " fwd_kind=union" : " fwd_kind=struct")

        case .function:
            text(" type_id="); decimal(sizeOrType)
            // A FUNC keeps its linkage in vlen.
            text(" linkage="); text(Self.linkageName(UInt32(vlen)))

        case .functionPrototype:
            text(" ret_type_id="); decimal(sizeOrType)
            text(" vlen="); decimal(UInt32(vlen))
            for i in 0 ..< vlen {
                let parameter = extra + 2 * i
                reserve(Self.fixedLineBound)
                text("\n\t'")
                name(words[parameter], reservingExtra: Self.fixedLineBound)
                text("' type_id="); decimal(words[parameter + 1])
            }

        case .variable:
            // The comma is bpftool's.
            text(" type_id="); decimal(sizeOrType)
            text(", linkage="); text(Self.linkageName(words[extra]))

        case .dataSection:
            text(" size="); decimal(sizeOrType)
            text(" vlen="); decimal(UInt32(vlen))
            for i in 0 ..< vlen {
                let variable = extra + 3 * i
                let typeID = words[variable]
                reserve(Self.fixedLineBound)
                text("\n\ttype_id="); decimal(typeID)
                text(" offset="); decimal(words[variable + 1])
                text(" size="); decimal(words[variable + 2])
                // bpftool names the variable's type; `void` (id 0) is its UNKNOWN kind.
                if Int(typeID) < typeStarts.count {
                    text(" (")
                    if typeID == 0 {
                        text("UNKNOWN '(anon)'")
                    } else {
                        let target = Int(typeStarts[Int(typeID)])
                        writeKindName(BTFInfo.kind(words[target + 1]))
                        text(" '")
                        name(words[target], reservingExtra: Self.fixedLineBound)
                        byte(UInt8(ascii: "'"))
                    }
                    byte(UInt8(ascii: ")"))
                }
            }

        case .float:
            text(" size="); decimal(sizeOrType)

        case .declTag:
            text(" type_id="); decimal(sizeOrType)
            text(" component_idx="); signedDecimal(Int64(Int32(bitPattern: words[extra])))

        case .unknown:
            // bpftool's dump_btf_type prints only the common part of a kind it does not know.
            break
        }
        reserve(1)
        byte(UInt8(ascii: "\n"))
    }

    /// bpftool's `btf_kind_str`.
    private mutating func writeKindName(_ kind: BTFKind) {
        switch kind {
        case .int: text("INT")
        case .pointer: text("PTR")
        case .array: text("ARRAY")
        case .structure: text("STRUCT")
        case .union: text("UNION")
        case .enumeration: text("ENUM")
        case .forward: text("FWD")
        case .typedef: text("TYPEDEF")
        case .volatile: text("VOLATILE")
        case .const: text("CONST")
        case .restrict: text("RESTRICT")
        case .function: text("FUNC")
        case .functionPrototype: text("FUNC_PROTO")
        case .variable: text("VAR")
        case .dataSection: text("DATASEC")
        case .float: text("FLOAT")
        case .declTag: text("DECL_TAG")
        case .typeTag: text("TYPE_TAG")
        case .enum64: text("ENUM64")
        case .unknown: text("UNKNOWN")
        }
    }
}
