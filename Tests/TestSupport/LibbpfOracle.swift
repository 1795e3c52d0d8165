import Foundation
import Testing

/// libbpf's own CO-RE relocation decisions, read from `tools/core-oracle.c` (built on first use).
///
/// The oracle loads the object with `btf_custom_path` and parses libbpf 1.1's debug log; see the
/// header of `tools/core-oracle.c` for the line formats. Parsing assumptions:
/// - each section's relocations follow its "sec 'S': found N CO-RE relocations" line, so
///   (section, relo #) identifies a relocation (the relo index counts records within a section);
/// - the value of a patched instruction is the number after " -> " of its first "patched insn" line
///   (`mem_sz` lines only report a load size change);
/// - a poisoned ldimm64 logs two "substituting insn" lines; the instruction's own is the last;
/// - a failed relocation is named by "failed to relocate" / "failed to patch insn"; its reason is the
///   last other warning libbpf printed about the same relo #;
/// - libbpf stops at the first failure: the oracle reruns with that program not autoloaded, so a
///   relocation of a failing program that comes after its failure has no outcome, and relocations
///   of programs that do not autoload (`SEC("?...")`) have none either.
///
/// Comparing libbpf on a full BTF with libbpf on a trimmed one: key both runs' outcomes by `Key`
/// (`outcomesByKey`) and compare `result`s; `type_id_target` values and candidate type ids are ids
/// of the respective BTF and differ after trimming (compare them through the id mapping, or skip).
enum LibbpfOracle {
    /// What libbpf did with one relocation.
    enum Result: Sendable, Equatable, CustomStringConvertible {
        /// Patched; the new value ("imm A -> NEW", "off A -> NEW", "imm64 A -> NEW").
        case patched(UInt64)
        /// The instruction was replaced by an invalid call (no target, or an unsafe size change).
        case poisoned
        /// The load failed on this relocation (errno, libbpf's message).
        case failed(errno: Int32, message: String)

        var description: String {
            switch self {
            case let .patched(v): "patched \(v)"
            case .poisoned: "poisoned"
            case let .failed(errno, message): "failed \(errno) (\(message))"
            }
        }
    }

    /// A candidate libbpf reported as matching ("matching candidate #C ... [ID] ... (RAW @ offset)").
    struct Candidate: Sendable, Equatable {
        var typeID: UInt32
        /// The target raw spec for field relocations; `nil` for type and enum relocations.
        var rawSpec: [Int]?
    }

    struct Key: Hashable, Sendable, CustomStringConvertible {
        var section: String
        var relocationIndex: Int
        var description: String { "\(section) relo #\(relocationIndex)" }
    }

    /// libbpf's outcome for one relocation.
    struct Outcome: Sendable, Equatable {
        var key: Key
        var program: String
        /// The instruction index within the program (not known for failures).
        var instructionIndex: Int?
        var result: Result
        var matchingCandidates: [Candidate]
    }

    /// The compiled oracle, built once per test process (into the test cache).
    static let executable = Swift.Result<String, any Error> {
        try TestSupport.buildCHelper(TestSupport.packageRoot + "/tools/core-oracle.c", named: "core-oracle")
    }

    /// Loads `object` with libbpf against `btf` (root needed) and returns libbpf's outcome per
    /// relocation it reached, in log order.
    static func outcomes(object: String, btf: String) throws -> [Outcome] {
        let oracle = try executable.get()
        let r = try TestSupport.run(oracle, [object, btf])
        guard r.status == 0 || r.status == 1 else {
            throw TestSupportError("core-oracle \(object) \(btf) exited \(r.status): \(r.stderr)")
        }
        return try parse(String(decoding: r.stdout, as: UTF8.self))
    }

    /// `outcomes(object:btf:)` keyed by section and relocation index.
    static func outcomesByKey(object: String, btf: String) throws -> [Key: Outcome] {
        Dictionary(try outcomes(object: object, btf: btf).map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Parses the oracle's tab-separated output.
    static func parse(_ text: String) throws -> [Outcome] {
        var outcomes: [Outcome] = []
        var candidates: [Key: [Candidate]] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            switch f.first {
            case "cand":
                guard f.count == 6, let index = Int(f[2]), let id = UInt32(f[4]) else {
                    throw TestSupportError("bad oracle line: \(line)")
                }
                let raw = f[5] == "-" ? nil : f[5].split(separator: ":").compactMap { Int($0) }
                candidates[Key(section: f[1], relocationIndex: index), default: []].append(Candidate(typeID: id, rawSpec: raw))
            case "relo":
                guard f.count >= 7, let index = Int(f[2]) else { throw TestSupportError("bad oracle line: \(line)") }
                let key = Key(section: f[1], relocationIndex: index)
                let result: Result
                switch f[5] {
                case "patched":
                    guard let v = UInt64(f[6]) else { throw TestSupportError("bad patched value: \(line)") }
                    result = .patched(v)
                case "poisoned":
                    result = .poisoned
                case "failed":
                    result = .failed(errno: Int32(f[6]) ?? 0, message: f.count > 7 ? f[7] : "")
                default:
                    throw TestSupportError("bad oracle outcome: \(line)")
                }
                outcomes.append(Outcome(key: key, program: f[3], instructionIndex: Int(f[4]), result: result,
                                        matchingCandidates: candidates[key] ?? []))
            default:
                continue
            }
        }
        return outcomes
    }
}

/// libbpf's outcome for one relocation (the name other tests use).
typealias OracleOutcome = LibbpfOracle.Outcome
