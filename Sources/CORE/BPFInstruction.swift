/// One 8-byte BPF instruction (`struct bpf_insn`), little-endian as objects for x86 and arm64 are.
/// A 64-bit immediate load (`BPF_LD | BPF_IMM | BPF_DW`) spans two; its second half is kept as an
/// instruction of its own and `imm64` joins them.
public struct BPFInstruction: Sendable, Equatable {
    public var code: UInt8
    public var dst: UInt8
    public var src: UInt8
    public var off: Int16
    public var imm: Int32

    public init(code: UInt8, dst: UInt8 = 0, src: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0) {
        self.code = code; self.dst = dst; self.src = src; self.off = off; self.imm = imm
    }

    /// Decodes `bytes` (a multiple of 8; a trailing partial instruction is ignored).
    public static func decode(_ bytes: ArraySlice<UInt8>) -> [BPFInstruction] {
        var result: [BPFInstruction] = []
        result.reserveCapacity(bytes.count / 8)
        var at = bytes.startIndex
        while at + 8 <= bytes.endIndex {
            let off = UInt16(bytes[at + 2]) | UInt16(bytes[at + 3]) << 8
            let imm = UInt32(bytes[at + 4]) | UInt32(bytes[at + 5]) << 8 | UInt32(bytes[at + 6]) << 16 | UInt32(bytes[at + 7]) << 24
            result.append(BPFInstruction(code: bytes[at], dst: bytes[at + 1] & 0x0f, src: bytes[at + 1] >> 4,
                                         off: Int16(bitPattern: off), imm: Int32(bitPattern: imm)))
            at += 8
        }
        return result
    }

    /// `BPF_CLASS(code)`: 0 LD, 1 LDX, 2 ST, 3 STX, 4 ALU, 5 JMP, 6 JMP32, 7 ALU64.
    public var instructionClass: UInt8 { code & 0x07 }
    /// `BPF_OP(code)` for ALU and jump instructions.
    public var operation: UInt8 { code & 0xf0 }
    /// `BPF_SRC(code)`: the source operand is a register (`BPF_X`) rather than `imm` (`BPF_K`).
    public var usesRegisterSource: Bool { code & 0x08 != 0 }
    /// `BPF_MODE(code)` for loads and stores (0x60 `BPF_MEM`, 0x80 `BPF_MEMSX`, 0xc0 `BPF_ATOMIC`).
    public var mode: UInt8 { code & 0xe0 }
    /// Access width in bytes of a load or store (`BPF_SIZE`).
    public var accessSize: Int { [4, 2, 1, 8][Int(code >> 3 & 0x03)] }

    /// `BPF_LD | BPF_IMM | BPF_DW`: the two-slot 64-bit immediate load.
    public var isLoadImmediate64: Bool { code == 0x18 }
    /// `BPF_JMP | BPF_CALL`.
    public var isCall: Bool { code == 0x85 }
    /// `BPF_JMP | BPF_EXIT`.
    public var isExit: Bool { code == 0x95 }
    /// A call to another BPF function (`src_reg == BPF_PSEUDO_CALL`).
    public var isPseudoCall: Bool { isCall && src == 1 }
    /// A 64-bit immediate load of a function's address (`BPF_PSEUDO_FUNC`, callbacks for bpf_loop ...).
    public var isPseudoFunction: Bool { isLoadImmediate64 && src == 4 }

    /// The call libbpf substitutes for an instruction whose CO-RE relocation found nothing
    /// (`bpf_core_poison_insn`: `call 0xbad2310`, "bad relo"): the verifier rejects it when reached.
    public static let poisonHelperID: Int32 = 195_896_080
}
