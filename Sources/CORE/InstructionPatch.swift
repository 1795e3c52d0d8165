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
        func mismatch(_ problem: COREInstructionMismatch.Problem) -> CORERelocationOutcome {
            .failed(COREFailure(.instructionMismatch(COREInstructionMismatch(opcode: bytes.first, problem))))
        }
        guard bytes.count >= 8 else { return mismatch(.truncated) }
        func s16(_ at: Int) -> Int16 { Int16(bitPattern: UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8) }
        func s32(_ at: Int) -> Int32 {
            Int32(bitPattern: UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24)
        }
        let code = bytes[0]
        let original = value.originalValue, new = value.newValue
        switch code & 0x07 {
        case 0x04, 0x07: // BPF_ALU, BPF_ALU64
            guard code & 0x08 == 0 else { return mismatch(.registerSource) }
            let imm = UInt64(bitPattern: Int64(s32(4)))
            if value.validate && imm != original {
                return mismatch(.unexpectedValue(expected: original, got: imm))
            }
            return .resolved(new)
        case 0x01, 0x02, 0x03: // BPF_LDX, BPF_ST, BPF_STX
            let offset = UInt64(bitPattern: Int64(s16(2)))
            if value.validate && offset != original {
                return mismatch(.unexpectedValue(expected: original, got: offset))
            }
            if new > UInt64(Int16.max) { return mismatch(.offsetTooBig(new)) }
            if value.failsMemorySizeAdjustment {
                return .poisoned(COREFailure(.unsafeMemorySizeAdjustment))
            }
            if value.newSize != value.originalSize {
                let instructionSize: UInt32 = [4, 2, 1, 8][Int(code >> 3 & 0x03)]
                guard instructionSize == value.originalSize else {
                    return mismatch(.unexpectedMemorySize(expected: value.originalSize, got: instructionSize))
                }
                guard [1, 2, 4, 8].contains(value.newSize) else {
                    return mismatch(.invalidNewMemorySize(value.newSize))
                }
            }
            return .resolved(new)
        case 0x00: // BPF_LD: only the 64-bit immediate load
            guard code == 0x18, bytes.count >= 16, bytes[1] >> 4 == 0, s16(2) == 0,
                  bytes[8] == 0, bytes[9] == 0, s16(10) == 0 else {
                return mismatch(.unexpectedLDIMM64Form)
            }
            let imm = UInt64(UInt32(bitPattern: s32(4))) | UInt64(UInt32(bitPattern: s32(12))) << 32
            if value.validate && imm != original {
                return mismatch(.unexpectedValue(expected: original, got: imm))
            }
            return .resolved(new)
        default:
            return mismatch(.unsupportedInstruction)
        }
    }
}
