import BTF
import CORE

/// How one CO-RE relocation comes out on one kernel: libbpf's decision, including what
/// `bpf_core_patch_insn` does to the instruction.
public enum CoverageOutcome: Sendable, Equatable {
    /// The instruction is patched with this value (offset, size, 1 for an existence check that
    /// holds, type id, enumerator value ...).
    case resolved(UInt64)
    /// An existence check (`field_exists`, `type_exists`, `enumval_exists`, `type_matches`) that is 0
    /// on this kernel: the program asked and can branch on the answer, nothing breaks.
    case absent
    /// The field, type or enumerator is not found (or the load size cannot be adjusted): libbpf
    /// substitutes an invalid instruction, and the verifier rejects the program if it is reachable.
    case poisoned(reason: String)
    /// Several candidate types match and disagree: libbpf fails the load.
    case ambiguous(reason: String)
    /// Any other error libbpf fails the load with (invalid access spec, bitfield too big to load ...).
    case failed(reason: String)

    /// The one-letter code used in reports: R resolved, A absent, P poisoned, M ambiguous, F failed.
    public var code: Character {
        switch self {
        case .resolved: "R"
        case .absent: "A"
        case .poisoned: "P"
        case .ambiguous: "M"
        case .failed: "F"
        }
    }

    /// Whether the program will not work on this kernel because of this relocation (poisoned,
    /// ambiguous or failed). An existence check that is 0 is not a problem.
    public var isProblem: Bool {
        switch self {
        case .resolved, .absent: false
        case .poisoned, .ambiguous, .failed: true
        }
    }

    /// The patched value (0 for an absent existence check), `nil` when nothing is patched.
    public var value: UInt64? {
        switch self {
        case .resolved(let value): value
        case .absent: 0
        case .poisoned, .ambiguous, .failed: nil
        }
    }

    /// Why it is not resolved, `nil` when it is (or is an absent existence check).
    public var reason: String? {
        switch self {
        case .resolved, .absent: nil
        case .poisoned(let reason), .ambiguous(let reason), .failed(let reason): reason
        }
    }

    /// What each code means, in code order.
    public static let legend: [(code: Character, meaning: String)] = [
        ("R", "resolved: the instruction is patched with the value"),
        ("A", "absent: an existence check is 0 on this kernel (fine: the program branches on it)"),
        ("P", "poisoned: field/type/enumerator not found, the instruction is replaced by an invalid one"),
        ("M", "ambiguous: candidate types disagree, libbpf fails the load"),
        ("F", "failed: libbpf fails the load on this relocation"),
    ]
}

extension CORERelocationKind {
    /// Whether the relocation asks a yes/no question (libbpf patches 0 rather than poisoning when
    /// there is no match): `field_exists`, `type_exists`, `enumval_exists`, `type_matches`.
    public var isExistenceCheck: Bool {
        self == .fieldExists || self == .typeExists || self == .enumValueExists || self == .typeMatches
    }
}

/// One CO-RE relocation of one object, named for people.
public struct CoverageRelocation: Sendable, Equatable {
    /// Index of the object in the sweep.
    public var objectIndex: Int
    public var objectPath: String
    /// The program section (`tracepoint/sched/sched_process_exec`).
    public var sectionName: String
    /// The index of the record within its section (libbpf's `relo #N`).
    public var indexInSection: Int
    /// Byte offset of the instruction within its section.
    public var instructionOffset: UInt32
    public var kind: CORERelocationKind
    /// The access string as the compiler wrote it (`0:1:2`).
    public var accessString: String
    /// `task_struct.__state`, `struct mm_rss_stat`, `enum bpf_func_id::BPF_FUNC_ringbuf_output`:
    /// the local root type and the member path (anonymous members skipped, array indices in brackets).
    public var name: String

    /// The object's file name without directories.
    public var objectName: String { objectPath.split(separator: "/").last.map(String.init) ?? objectPath }

    /// `report_fields.bpf.o tracepoint/sched/sched_process_exec +24`: where the instruction is.
    public var location: String { "\(objectName) \(sectionName) +\(instructionOffset)" }
}

/// Every CO-RE relocation of a sweep's objects, in object order and `.BTF.ext` order, with what
/// classifying a kernel's decisions needs (the relocated instructions' bytes).
public struct CoverageRelocationTable: Sendable {
    public let relocations: [CoverageRelocation]
    /// Per relocation, the bytes of the relocated instruction (up to 16; empty when the section is
    /// missing, and then the engine's decision is taken as it is).
    private let instructions: [[UInt8]]

    /// Names every relocation of `objects`; reads each object's ELF again for the instructions.
    public init(objects: [BPFObject]) throws(BTFError) {
        var relocations: [CoverageRelocation] = []
        var instructions: [[UInt8]] = []
        for (objectIndex, object) in objects.enumerated() {
            guard object.ext != nil else { continue }
            let elf = try ELFFile(contentsOf: object.path)
            // Resolving the object against its own BTF gives the parsed local specs, which name
            // the accessed members; the local side is the same for every kernel.
            let local = CORERelocator(target: object.btf).resolveAll(in: object)
            var sectionBytes: [String: ArraySlice<UInt8>] = [:]
            for result in local {
                let relocation = result.relocation
                relocations.append(CoverageRelocation(
                    objectIndex: objectIndex, objectPath: object.path, sectionName: result.sectionName,
                    indexInSection: result.relocationIndex, instructionOffset: relocation.instructionOffset,
                    kind: relocation.kind, accessString: object.btf.string(relocation.accessStringOffset),
                    name: CoverageRelocationTable.name(of: result, in: object.btf)))
                if sectionBytes[result.sectionName] == nil, let section = elf.section(named: result.sectionName) {
                    sectionBytes[result.sectionName] = try elf.contents(of: section)
                }
                let code = sectionBytes[result.sectionName] ?? []
                let start = code.startIndex + Int(relocation.instructionOffset)
                instructions.append(start < code.endIndex ? Array(code[start ..< min(start + 16, code.endIndex)]) : [])
            }
        }
        self.relocations = relocations
        self.instructions = instructions
    }

    /// Classifies one kernel's decisions (`TrimResult.relocations`: per object, in `.BTF.ext`
    /// order) into one outcome per relocation of the table, in table order.
    public func classify(_ results: [[CORERelocationResult]]) -> [CoverageOutcome] {
        var outcomes: [CoverageOutcome] = []
        outcomes.reserveCapacity(relocations.count)
        for result in results.joined() {
            let index = outcomes.count
            guard index < relocations.count else { break }
            let instruction = instructions[index]
            let decided = instruction.isEmpty ? result.outcome : result.patch(instruction: instruction[...])
            outcomes.append(CoverageRelocationTable.classify(decided, kind: result.relocation.kind))
        }
        return outcomes
    }

    /// Turns an engine outcome into a report outcome: existence checks that are 0 are `absent`,
    /// and failures are split into ambiguities and other errors.
    public static func classify(_ outcome: CORERelocationOutcome, kind: CORERelocationKind) -> CoverageOutcome {
        switch outcome {
        case .resolved(let value):
            return kind.isExistenceCheck && value == 0 ? .absent : .resolved(value)
        case .poisoned(let reason):
            return .poisoned(reason: reason)
        case .ambiguous(let reason):
            return .ambiguous(reason: reason)
        case .failed(let reason):
            return .failed(reason: reason)
        }
    }

    /// The relocation's name (`task_struct.__state`, `struct mm_rss_stat`, `enum bpf_func_id::X`),
    /// as `CORESpec.displayName` gives it.
    static func name(of result: CORERelocationResult, in btf: BTF) -> String {
        CORESpec.displayName(of: result.relocation, spec: result.localSpec, in: btf)
    }
}
