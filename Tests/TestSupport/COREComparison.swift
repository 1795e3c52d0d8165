import BTF
import CORE
import Foundation
import Testing

/// Compares the engine's results with libbpf's outcomes, recording an issue per difference.
enum COREComparison {
    struct Report {
        var compared = 0
        var patched = 0, poisoned = 0, failed = 0
        var summary: String { "\(patched) patched, \(poisoned) poisoned, \(failed) failed" }
    }

    /// For each relocation libbpf reached: the engine's patch outcome (via the instruction bytes)
    /// equals libbpf's, and the engine's matching candidates (root ids, raw specs) are libbpf's.
    /// `candidateIDsComparable: false` when libbpf ran on another BTF than the engine (a trimmed one):
    /// then only the number of matching candidates is compared.
    static func compare(engine: [CORERelocationResult], object: String, oracle: [LibbpfOracle.Outcome],
                        context: String, targetIDsComparable: Bool, candidateIDsComparable: Bool = true) throws -> Report {
        let elf = try ELFFile(contentsOf: object)
        var byKey: [LibbpfOracle.Key: CORERelocationResult] = [:]
        for r in engine { byKey[LibbpfOracle.Key(section: r.sectionName, relocationIndex: r.relocationIndex)] = r }
        var report = Report()
        for expected in oracle {
            guard let result = byKey[expected.key] else {
                Issue.record("\(context): libbpf relocated \(expected.key), the engine has no such relocation")
                continue
            }
            report.compared += 1
            let section = try #require(elf.section(named: result.sectionName), "\(context): no section \(result.sectionName)")
            let code = try elf.contents(of: section)
            let start = code.startIndex + Int(result.relocation.instructionOffset)
            let instruction = code[start ..< min(start + 16, code.endIndex)]
            let got = result.patch(instruction: instruction)
            let where_ = "\(context) \(expected.key) (\(result.relocation.kind), prog \(expected.program))"
            switch (expected.result, got) {
            case let (.patched(v), .resolved(w)):
                report.patched += 1
                if v != w && (targetIDsComparable || result.relocation.kind != .typeIDTarget) {
                    Issue.record("\(where_): libbpf patched \(v), engine \(w)")
                }
            case (.poisoned, .poisoned):
                report.poisoned += 1
            case let (.failed(errno, message), .failed(failure)), let (.failed(errno, message), .ambiguous(failure)):
                report.failed += 1
                // libbpf logs the errno negated; the engine keeps the same one.
                if failure.errno.map({ -$0.rawValue }) != errno {
                    Issue.record("\(where_): libbpf failed with \(errno) (\(message)), engine with \(failure.errno.map { "-\($0.rawValue)" } ?? "no errno") [\(failure)]")
                }
            default:
                Issue.record("\(where_): libbpf \(expected.result), engine \(got) [\(result.outcome)]")
            }
            // The matching candidates libbpf printed are the engine's target specs.
            let engineCandidates = result.targetSpecs.map(\.rootTypeID.rawValue)
            let libbpfCandidates = expected.matchingCandidates.map(\.typeID)
            if !candidateIDsComparable {
                if engineCandidates.count != libbpfCandidates.count {
                    Issue.record("\(where_): libbpf matched \(libbpfCandidates.count) candidates, engine \(engineCandidates.count)")
                }
            } else if engineCandidates != libbpfCandidates {
                Issue.record("\(where_): libbpf matched candidates \(libbpfCandidates), engine \(engineCandidates)")
            } else if result.relocation.kind.isFieldBased {
                for (spec, candidate) in zip(result.targetSpecs, expected.matchingCandidates) where spec.rawSpec != candidate.rawSpec {
                    Issue.record("\(where_): target raw spec of [\(candidate.typeID)] libbpf \(candidate.rawSpec ?? []), engine \(spec.rawSpec)")
                }
            }
        }
        return report
    }
}
