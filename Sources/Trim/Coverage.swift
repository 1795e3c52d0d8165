import BTF
import CORE

/// How one CO-RE relocation comes out on one kernel: libbpf's decision (`CORERelocationOutcome`,
/// including what `bpf_core_patch_insn` does to the instruction), with existence checks that are 0
/// told apart. The failures are the engine's, unchanged.
public enum CoverageOutcome: Sendable, Equatable {
    /// The instruction is patched with this value (offset, size, 1 for an existence check that
    /// holds, type id, enumerator value ...).
    case resolved(UInt64)
    /// An existence check (`field_exists`, `type_exists`, `enumval_exists`, `type_matches`) that is 0
    /// on this kernel: the program asked and can branch on the answer, nothing breaks.
    case absent
    /// The field, type or enumerator is not found (or the load size cannot be adjusted): libbpf
    /// substitutes an invalid instruction, and the verifier rejects the program if it is reachable.
    case poisoned(COREFailure)
    /// Several candidate types match and disagree: libbpf fails the load.
    case ambiguous(COREFailure)
    /// Any other error libbpf fails the load with (invalid access spec, bitfield too big to load ...).
    case failed(COREFailure)

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
    public var failure: COREFailure? {
        switch self {
        case .resolved, .absent: nil
        case .poisoned(let failure), .ambiguous(let failure), .failed(let failure): failure
        }
    }

    /// `failure` as the reports print it.
    public var reason: String? { failure?.description }

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

/// One program of a sweep's objects (a function of a program section, as libbpf lists them).
public struct CoverageProgram: Sendable, Equatable {
    /// Index of the object in the sweep.
    public var objectIndex: Int
    public var objectPath: String
    /// The function's name (`handle_exec`), as `bpf_program__name` gives it.
    public var name: String
    /// Its ELF section (`tracepoint/sched/sched_process_exec`).
    public var sectionName: String

    /// The object's file name without directories.
    public var objectName: String { objectPath.split(separator: "/").last.map(String.init) ?? objectPath }
}

/// Every CO-RE relocation of a sweep's objects, in object order and `.BTF.ext` order, with what
/// classifying a kernel's decisions needs (the relocated instructions' bytes), and every program
/// with the guard analysis that turns a kernel's decisions into per-program verdicts.
public struct CoverageRelocationTable: Sendable {
    public let relocations: [CoverageRelocation]
    /// Every program of every object, in object order and address order.
    public let programs: [CoverageProgram]
    /// Per relocation, the bytes of the relocated instruction (up to 16; empty when the section is
    /// missing, and then the engine's decision is taken as it is).
    private let instructions: [[UInt8]]
    /// Per object: its code and relocation sites (the object's relocations are table indices
    /// `relocationRanges[i]`, in site order), and its programs' function indices in the image.
    private let analyses: [GuardAnalysis]
    private let relocationRanges: [Range<Int>]
    private let programFunctions: [(object: Int, function: Int)]

    /// Names every relocation and program of `objects`; reads each object's ELF again for the code.
    public init(objects: [BPFObject]) throws(BTFError) {
        var relocations: [CoverageRelocation] = []
        var instructions: [[UInt8]] = []
        var programs: [CoverageProgram] = []
        var analyses: [GuardAnalysis] = []
        var ranges: [Range<Int>] = []
        var functions: [(object: Int, function: Int)] = []
        for (objectIndex, object) in objects.enumerated() {
            let elf = try ELFFile(contentsOf: object.path)
            let first = relocations.count
            // Resolving the object against its own BTF gives the parsed local specs, which name
            // the accessed members; the local side is the same for every kernel.
            let local = object.ext == nil ? [] : CORERelocator(target: object.btf).resolveAll(in: object)
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
            let image = try BPFProgramImage(elf: elf, path: object.path)
            let sites = relocations[first...].map { (section: $0.sectionName, offset: $0.instructionOffset) }
            analyses.append(GuardAnalysis(image: image, sites: sites))
            ranges.append(first ..< relocations.count)
            for (f, function) in image.functions.enumerated() where function.isProgram {
                programs.append(CoverageProgram(objectIndex: objectIndex, objectPath: object.path, name: function.name,
                                                sectionName: image.sections[function.section].name))
                functions.append((objectIndex, f))
            }
        }
        self.relocations = relocations
        self.instructions = instructions
        self.programs = programs
        self.analyses = analyses
        self.relocationRanges = ranges
        self.programFunctions = functions
    }

    /// Remembers verdicts per object and relocation inputs: kernels with the same decisions for
    /// an object's relocations get the same verdicts, so most kernels cost a dictionary lookup.
    public struct VerdictCache: Sendable {
        var verdicts: [Int: [[GuardRelocationInput]: [GuardVerdict]]] = [:]
        public init() {}
    }

    /// One verdict per program of the table, for one kernel's outcomes (`classify`'s result); a
    /// verdict's `site` is an index into `relocations`.
    public func verdicts(for outcomes: [CoverageOutcome], cache: inout VerdictCache) -> [GuardVerdict] {
        var result: [GuardVerdict] = []
        result.reserveCapacity(programs.count)
        var perObject: [Int: [GuardVerdict]] = [:]
        for (object, _) in programFunctions {
            if perObject[object] == nil {
                let range = relocationRanges[object]
                let inputs = range.map { $0 < outcomes.count ? CoverageRelocationTable.input(outcomes[$0]) : .failed }
                if let known = cache.verdicts[object]?[inputs] {
                    perObject[object] = known
                } else {
                    let analysis = analyses[object]
                    let verdicts = programFunctions.filter { $0.object == object }.map { entry -> GuardVerdict in
                        switch analysis.verdict(program: entry.function, inputs: inputs) {
                        case .rejected(let sites): .rejected(sites: sites.map { range.lowerBound + $0 })
                        case .fails(let site): .fails(site: range.lowerBound + site)
                        case let other: other
                        }
                    }
                    cache.verdicts[object, default: [:]][inputs] = verdicts
                    perObject[object] = verdicts
                }
            }
            let ordinal = programFunctions.prefix { $0.object != object }.count
            result.append(perObject[object]![result.count - ordinal])
        }
        return result
    }

    /// What the guard analysis needs of an outcome: the patched value, poison, or a failed load.
    static func input(_ outcome: CoverageOutcome) -> GuardRelocationInput {
        switch outcome {
        case .resolved(let value): .value(value)
        case .absent: .value(0)
        case .poisoned: .poisoned
        case .ambiguous, .failed: .failed
        }
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
        case .poisoned(let failure):
            return .poisoned(failure)
        case .ambiguous(let failure):
            return .ambiguous(failure)
        case .failed(let failure):
            return .failed(failure)
        }
    }

    /// The relocation's name (`task_struct.__state`, `struct mm_rss_stat`, `enum bpf_func_id::X`),
    /// as `CORESpec.displayName` gives it.
    static func name(of result: CORERelocationResult, in btf: BTF) -> String {
        CORESpec.displayName(of: result.relocation, spec: result.localSpec, in: btf)
    }
}
