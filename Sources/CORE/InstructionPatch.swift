import BTF

extension CORERelocationResult {
    /// What libbpf's `bpf_core_patch_insn` does with this result on the relocated instruction:
    /// `.resolved(newValue)` when it patches, `.poisoned` when it substitutes an invalid
    /// instruction (no target, or an unsafe load/store size change), `.failed` when the instruction
    /// does not hold the value the local BTF predicts or cannot take the new one.
    ///
    /// `instruction` holds the instruction's bytes (16 for a 64-bit immediate load, else at least
    /// 8), little-endian as BPF objects for x86/arm64 are.
    public func patch(instruction: ArraySlice<UInt8>) -> CORERelocationOutcome {
        guard let value else { return outcome }
        if value.poison { return outcome }
        let bytes = Array(instruction)
        guard bytes.count >= 8 else { return .failed(reason: "instruction is truncated") }
        func s16(_ at: Int) -> Int16 { Int16(bitPattern: UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8) }
        func s32(_ at: Int) -> Int32 {
            Int32(bitPattern: UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24)
        }
        let code = bytes[0]
        let original = value.originalValue, new = value.newValue
        switch code & 0x07 {
        case 0x04, 0x07: // BPF_ALU, BPF_ALU64
            guard code & 0x08 == 0 else { return .failed(reason: "ALU instruction with a register source") }
            let imm = UInt64(bitPattern: Int64(s32(4)))
            if value.validate && imm != original {
                return .failed(reason: "unexpected ALU/ALU64 value: got \(imm), expected \(original)")
            }
            return .resolved(new)
        case 0x01, 0x02, 0x03: // BPF_LDX, BPF_ST, BPF_STX
            let offset = UInt64(bitPattern: Int64(s16(2)))
            if value.validate && offset != original {
                return .failed(reason: "unexpected LDX/ST/STX value: got \(offset), expected \(original)")
            }
            if new > UInt64(Int16.max) { return .failed(reason: "LDX/ST/STX offset too big: \(new)") }
            if value.failsMemorySizeAdjustment {
                return .poisoned(reason: "load/store accesses the field with a size that cannot be adjusted")
            }
            if value.newSize != value.originalSize {
                let instructionSize: UInt32 = [4, 2, 1, 8][Int(code >> 3 & 0x03)]
                guard instructionSize == value.originalSize else {
                    return .failed(reason: "unexpected memory size \(instructionSize), expected \(value.originalSize)")
                }
                guard [1, 2, 4, 8].contains(value.newSize) else {
                    return .failed(reason: "invalid new memory size \(value.newSize)")
                }
            }
            return .resolved(new)
        case 0x00: // BPF_LD: only the 64-bit immediate load
            guard code == 0x18, bytes.count >= 16, bytes[1] >> 4 == 0, s16(2) == 0,
                  bytes[8] == 0, bytes[9] == 0, s16(10) == 0 else {
                return .failed(reason: "LDIMM64 instruction has an unexpected form")
            }
            let imm = UInt64(UInt32(bitPattern: s32(4))) | UInt64(UInt32(bitPattern: s32(12))) << 32
            if value.validate && imm != original {
                return .failed(reason: "unexpected LDIMM64 value: got \(imm), expected \(original)")
            }
            return .resolved(new)
        default:
            return .failed(reason: "cannot relocate instruction with opcode 0x\(String(code, radix: 16))")
        }
    }
}
