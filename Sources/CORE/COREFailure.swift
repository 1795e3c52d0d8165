import BTF

/// Why libbpf poisons or fails one CO-RE relocation: what went wrong, with the type ids, names,
/// positions and values involved, and the errno libbpf returns (`bpf_core_calc_relo_insn`,
/// `bpf_core_patch_insn`). `description` is the message reports and logs show; it is rendered from
/// the fields, so callers that need the facts never parse it.
public struct COREFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// An errno libbpf's CO-RE code returns (negated there).
    public enum Errno: Int32, Sendable {
        /// `EINVAL`: an invalid spec, a malformed type, an ambiguity, an instruction that does not fit.
        case invalid = 22
        /// `E2BIG`: a spec longer than `BPF_CORE_SPEC_MAX_LEN`, a bitfield too big for a 64-bit load.
        case tooBig = 7
        /// `ERANGE`: a new load/store offset that does not fit the instruction's 16 bits.
        case outOfRange = 34
        /// `EOPNOTSUPP`: a relocation kind the rule does not handle.
        case notSupported = 95
    }

    /// What went wrong.
    public enum Problem: Sendable, Equatable {
        /// No candidate matched (no target type of that name, or the field or enumerator is missing
        /// from every one): libbpf poisons the instruction.
        case noMatchingTarget(candidateCount: Int)
        /// The load/store would need a size change that reads a wrong value (sizes differ and the
        /// types are not both pointers or both unsigned ints): libbpf poisons the instruction.
        case unsafeMemorySizeAdjustment
        /// Two matching candidates disagree; libbpf fails the load.
        case ambiguity(COREAmbiguity)
        /// The relocation names a local type id the object's BTF does not have.
        case missingLocalType(TypeID)
        /// The local type has a kind number BTFKit does not know, so the rules cannot compare it
        /// (BTFKit's refusal; libbpf has no such case).
        case unknownLocalKind(TypeID, kindNumber: UInt8)
        /// The local type is anonymous: libbpf's candidate search needs a name.
        case anonymousLocalType(TypeID)
        /// The access string is invalid for the local BTF. `position` is the index of the number
        /// that fails in the access string (0 is the first), `nil` when the string as a whole is.
        case invalidAccessSpec(accessString: String, position: Int?, message: String)
        /// An access string, or the target path it leads to, longer than `coreSpecMaxLength` steps.
        case specTooLong(String)
        /// The bitfield cannot be read with one load of at most 8 bytes.
        case bitfieldTooBig(CORERelocationKind)
        /// A field relocation kind that cannot apply to an array element access (`a[n]`).
        case notApplicableToArrayAccess(CORERelocationKind)
        /// A relocation kind the rule does not handle.
        case unrecognizedRelocation(CORERelocationKind)
        /// A type the rule needs is missing or malformed in the local or target BTF (a nonexistent
        /// id, a size that cannot be resolved, nesting too deep to be real).
        case invalidBTF(String)
        /// The relocated instruction does not hold what the local BTF predicts, or cannot take the
        /// new value.
        case instructionMismatch(COREInstructionMismatch)
    }

    /// Which of libbpf's steps a rule failed in, for failures the problem alone does not place.
    public enum Step: Sendable, Equatable {
        /// Parsing the local access string (`bpf_core_parse_spec`); libbpf then returns -EINVAL
        /// whatever the parser returned.
        case parsingLocalSpec
        /// Matching this candidate (`bpf_core_spec_match`).
        case matchingCandidate(TypeID)
        /// Computing the values (`bpf_core_calc_relo`).
        case computingValue
    }

    public var problem: Problem
    public var step: Step?

    public init(_ problem: Problem, step: Step? = nil) {
        self.problem = problem
        self.step = step
    }

    /// The errno libbpf fails the relocation with, `nil` when it poisons the instruction instead
    /// (or when the refusal is BTFKit's own).
    public var errno: Errno? {
        step == .parsingLocalSpec ? .invalid : problem.errno
    }

    public var description: String {
        switch step {
        case .parsingLocalSpec: "parsing local spec failed: \(problem)"
        case .matchingCandidate(let id): "error matching candidate \(id): \(problem)"
        case .computingValue, nil: "\(problem)"
        }
    }
}

extension COREFailure.Problem: CustomStringConvertible {
    /// The errno of this problem where libbpf's rule returns it (see `COREFailure.errno`).
    public var errno: COREFailure.Errno? {
        switch self {
        case .noMatchingTarget, .unsafeMemorySizeAdjustment, .unknownLocalKind: nil
        case .specTooLong, .bitfieldTooBig: .tooBig
        case .unrecognizedRelocation: .notSupported
        case .instructionMismatch(let mismatch): mismatch.errno
        case .ambiguity, .missingLocalType, .anonymousLocalType, .invalidAccessSpec, .notApplicableToArrayAccess, .invalidBTF:
            .invalid
        }
    }

    /// libbpf-style text; problems found inside a rule function end with the errno, as libbpf's
    /// warnings print the rule's return value.
    public var description: String {
        switch self {
        case .noMatchingTarget(let count): "no matching target found among \(count) candidates"
        case .unsafeMemorySizeAdjustment: "load/store accesses the field with a size that cannot be adjusted"
        case .ambiguity(let ambiguity): "\(ambiguity)"
        case .missingLocalType(let id): "local type \(id) does not exist"
        case let .unknownLocalKind(id, kindNumber): "local type \(id) has kind \(kindNumber), which BTFKit does not know"
        case .anonymousLocalType(let id): "target candidate search failed for anonymous local type \(id)"
        case .instructionMismatch(let mismatch): "\(mismatch)"
        case .invalidAccessSpec(_, _, let message), .specTooLong(let message), .invalidBTF(let message):
            "\(message) (-\(errno!.rawValue))"
        case .bitfieldTooBig(let kind):
            "relocation \(kind) can't be satisfied for bitfield (too big for a 64-bit load) (-\(errno!.rawValue))"
        case .notApplicableToArrayAccess(let kind): "relocation \(kind) can't be applied to array access (-\(errno!.rawValue))"
        case .unrecognizedRelocation(let kind): "unrecognized CO-RE relocation \(kind) (-\(errno!.rawValue))"
        }
    }
}

/// Two matching candidates that libbpf finds disagreeing (`bpf_core_calc_relo_insn`): on the field's
/// bit offset, or on the relocation's decision (poison or not, and the new value).
public struct COREAmbiguity: Sendable, Equatable, CustomStringConvertible {
    /// What the candidates disagree on.
    public enum Disagreement: Sendable, Equatable {
        /// The field's bit offset from the start of the root type ("field offset ambiguity").
        case fieldOffset
        /// The value to patch in, or whether to poison ("relocation decision ambiguity").
        case decision
    }

    /// One side of the disagreement.
    public struct Candidate: Sendable, Equatable {
        /// The candidate's type id in the target BTF.
        public var typeID: TypeID
        /// Its name (with any `___flavor` suffix).
        public var name: String
        /// The value disagreed on: the bit offset (`.fieldOffset`) or the new value (`.decision`).
        public var value: UInt64
        /// Whether the candidate asks for the instruction to be poisoned (`.decision` only).
        public var poisons: Bool

        public init(typeID: TypeID, name: String, value: UInt64, poisons: Bool = false) {
            self.typeID = typeID; self.name = name; self.value = value; self.poisons = poisons
        }
    }

    public var disagreement: Disagreement
    /// The first matching candidate, whose result libbpf had taken.
    public var first: Candidate
    /// The later candidate that disagrees with it.
    public var other: Candidate

    public init(_ disagreement: Disagreement, first: Candidate, other: Candidate) {
        self.disagreement = disagreement; self.first = first; self.other = other
    }

    /// libbpf's warning without the program and relocation prefix (the later value first).
    public var description: String {
        switch disagreement {
        case .fieldOffset: "field offset ambiguity: \(other.value) != \(first.value)"
        case .decision: "relocation decision ambiguity: \(other.value) != \(first.value)"
        }
    }
}

/// A relocated instruction that `bpf_core_patch_insn` refuses: what it found against what the
/// local BTF predicts.
public struct COREInstructionMismatch: Sendable, Equatable, CustomStringConvertible {
    public enum Problem: Sendable, Equatable {
        /// Fewer than 8 bytes (16 for a 64-bit immediate load) were given.
        case truncated
        /// An ALU instruction whose source is a register, not an immediate.
        case registerSource
        /// The immediate or offset is not the value the local BTF gives.
        case unexpectedValue(expected: UInt64, got: UInt64)
        /// The new load/store offset does not fit in 16 signed bits.
        case offsetTooBig(UInt64)
        /// The load/store size is not the local field's size.
        case unexpectedMemorySize(expected: UInt32, got: UInt32)
        /// The target field's size is not a load/store size (1, 2, 4, 8).
        case invalidNewMemorySize(UInt32)
        /// A 64-bit immediate load with registers, offsets or a second half that are not zero.
        case unexpectedLDIMM64Form
        /// An instruction class CO-RE does not relocate.
        case unsupportedInstruction
    }

    /// The instruction's opcode byte, `nil` when no byte was given.
    public var opcode: UInt8?
    public var problem: Problem

    public init(opcode: UInt8?, _ problem: Problem) {
        self.opcode = opcode; self.problem = problem
    }

    /// libbpf returns -ERANGE for an offset too big, -EINVAL for the rest.
    public var errno: COREFailure.Errno {
        if case .offsetTooBig = problem { return .outOfRange }
        return .invalid
    }

    /// The class libbpf names in its warnings (ALU/ALU64, LDX/ST/STX, LDIMM64).
    var className: String {
        switch (opcode ?? 0xff) & 0x07 {
        case 0x04, 0x07: "ALU/ALU64"
        case 0x01, 0x02, 0x03: "LDX/ST/STX"
        case 0x00: "LDIMM64"
        default: "unknown"
        }
    }

    public var description: String {
        switch problem {
        case .truncated: "instruction is truncated"
        case .registerSource: "ALU instruction with a register source"
        case let .unexpectedValue(expected, got): "unexpected \(className) value: got \(got), expected \(expected)"
        case .offsetTooBig(let value): "LDX/ST/STX offset too big: \(value)"
        case let .unexpectedMemorySize(expected, got): "unexpected memory size \(got), expected \(expected)"
        case .invalidNewMemorySize(let size): "invalid new memory size \(size)"
        case .unexpectedLDIMM64Form: "LDIMM64 instruction has an unexpected form"
        case .unsupportedInstruction: "cannot relocate instruction with opcode 0x\(String(opcode ?? 0, radix: 16))"
        }
    }
}
