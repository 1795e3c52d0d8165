import BTF
import CORE

/// The coverage report as JSON (`btf-trim --report FILE.json`).
///
/// Compact but complete: relocations are described once in `relocations`; each kernel carries a
/// string of one-letter outcome codes (`outcomes`, one letter per relocation, in relocation order),
/// the patched values (`values`, `null` where nothing is patched) and, for the relocations that are
/// not resolved, `[relocation, reason]` pairs into the shared `reasons` table. Values above 2^53
/// (beyond what a JSON double holds exactly) are written as decimal strings. Keys and arrays come
/// in a fixed order, so the same sweep gives the same bytes. Version 2 adds `programs`: per program
/// a string of verdicts (`verdicts`, one letter per kernel: L, G, X, F) and the `[kernel,
/// relocation]` pairs that stop it (`rejectedAt`). See docs/report.md.
extension CoverageReport {
    /// The report's JSON text, one line per relocation, group and kernel.
    public func json() -> [UInt8] {
        var reasons: [String] = []
        var reasonIndex: [String: Int] = [:]
        func reasonID(_ reason: String) -> Int {
            if let id = reasonIndex[reason] { return id }
            reasonIndex[reason] = reasons.count
            reasons.append(reason)
            return reasons.count - 1
        }
        // Reasons are numbered in kernel order, then relocation order: deterministic.
        let kernelReasons: [[(Int, Int)]] = kernels.map { kernel in
            kernel.outcomes.indices.compactMap { r in kernel.outcomes[r].reason.map { (r, reasonID($0)) } }
        }

        var out = JSONText()
        out.raw("{\n")
        out.raw("\"format\": \"btfkit-coverage-report\",\n\"version\": 2,\n\"input\": "); out.string(input); out.raw(",\n")
        out.raw("\"legend\": {")
        for (i, entry) in CoverageOutcome.legend.enumerated() {
            if i > 0 { out.raw(", ") }
            out.string(String(entry.code)); out.raw(": "); out.string(entry.meaning)
        }
        out.raw("},\n")
        out.raw("\"programLegend\": {")
        for (i, entry) in GuardVerdict.legend.enumerated() {
            if i > 0 { out.raw(", ") }
            out.string(String(entry.code)); out.raw(": "); out.string(entry.meaning)
        }
        out.raw("},\n")
        out.raw("\"objects\": ["); out.list(objects) { out, path in out.string(path) }; out.raw("],\n")

        let covered = coveredKernelCount
        let fullyCovered = kernels.filter { $0.failure == nil && $0.problems.isEmpty }.count
        out.raw("\"totals\": {\"relocations\": \(relocations.count), \"kernels\": \(kernels.count), \"kernelsCovered\": \(covered), "
                + "\"kernelsAllResolved\": \(fullyCovered), \"kernelsFailed\": \(kernels.count - covered), "
                + "\"relocationsWithProblems\": \(problemRelocations.count), \"programs\": \(programs.count), "
                + "\"programsWithProblems\": \(problemPrograms.count), \"relocationsBlocking\": \(blockingRelocations.count), "
                + "\"relocationsGuarded\": \(guardedRelocations.count)},\n")

        out.raw("\"programs\": [\n")
        for (p, program) in programs.enumerated() {
            let item = programCoverage[p]
            out.raw("{\"id\": \(p), \"object\": \(program.objectIndex), \"name\": "); out.string(program.name)
            out.raw(", \"section\": "); out.string(program.sectionName)
            out.raw(", \"counts\": {\"L\": \(item.counts["L", default: 0]), \"G\": \(item.counts["G", default: 0]), "
                    + "\"X\": \(item.counts["X", default: 0]), \"F\": \(item.counts["F", default: 0])}")
            out.raw(", \"verdicts\": ")
            out.string(String(kernels.map { p < $0.verdicts.count ? $0.verdicts[p].code : "-" }))
            out.raw(", \"rejectedAt\": [")
            let pairs = kernels.indices.flatMap { k in p < kernels[k].verdicts.count ? kernels[k].verdicts[p].sites.map { (k, $0) } : [] }
            out.list(pairs) { out, pair in out.raw("[\(pair.0), \(pair.1)]") }
            out.raw("]")
            if item.problemCount > 0 { out.raw(", \"summary\": "); out.string(sentence(for: item)) }
            out.raw(p == programs.count - 1 ? "}\n" : "},\n")
        }
        out.raw("],\n")

        out.raw("\"relocations\": [\n")
        for (r, relocation) in relocations.enumerated() {
            let item = coverage[r]
            out.raw("{\"id\": \(r), \"object\": \(relocation.objectIndex), \"section\": "); out.string(relocation.sectionName)
            out.raw(", \"relo\": \(relocation.indexInSection), \"insn\": \(relocation.instructionOffset), \"kind\": ")
            out.string("\(relocation.kind)")
            out.raw(", \"existenceCheck\": \(relocation.kind.isExistenceCheck), \"name\": "); out.string(relocation.name)
            if hasVerdicts {
                let poisoned = item.counts["P", default: 0] > 0
                out.raw(", \"reachedOn\": \(blockingKernelCounts[r]), \"guarded\": \(poisoned && blockingKernelCounts[r] == 0)")
            }
            out.raw(", \"access\": "); out.string(relocation.accessString)
            out.raw(", \"counts\": "); out.counts(item.counts)
            out.raw(", \"unresolvedByGroup\": [")
            out.list(item.byGroup) { out, entry in out.raw("[\(entry.group), \(entry.count), \(entry.of)]") }
            out.raw("]")
            if item.unresolvedCount > 0 { out.raw(", \"summary\": "); out.string(sentence(for: item)) }
            out.raw(r == relocations.count - 1 ? "}\n" : "},\n")
        }
        out.raw("],\n")

        out.raw("\"groups\": [\n")
        for (g, group) in groups.enumerated() {
            let members = group.kernelIndices.map { kernels[$0] }
            let identity = members.first?.identity
            out.raw("{\"id\": \(g), \"key\": "); out.string(group.key); out.raw(", \"label\": "); out.string(group.label)
            if let identity {
                out.raw(", \"distro\": "); out.string(identity.distro); out.raw(", \"version\": "); out.string(identity.version)
                out.raw(", \"arch\": "); out.string(identity.arch)
            }
            out.raw(", \"kernels\": \(members.count), \"kernelsAllResolved\": \(members.filter { $0.failure == nil && $0.problems.isEmpty }.count)")
            out.raw(", \"kernelsFailed\": \(members.filter { $0.failure != nil }.count)")
            // [relocation, kernels of the group where it does not work], worst first.
            var problems: [Int: Int] = [:]
            for kernel in members { for r in kernel.problems { problems[r, default: 0] += 1 } }
            let sorted = problems.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            out.raw(", \"problems\": ["); out.list(sorted) { out, entry in out.raw("[\(entry.key), \(entry.value)]") }; out.raw("]")
            out.raw(g == groups.count - 1 ? "}\n" : "},\n")
        }
        out.raw("],\n")

        out.raw("\"kernels\": [\n")
        var groupOfKernel = [Int](repeating: 0, count: kernels.count)
        for (g, group) in groups.enumerated() { for k in group.kernelIndices { groupOfKernel[k] = g } }
        for (k, kernel) in kernels.enumerated() {
            out.raw("{\"name\": "); out.string(kernel.name); out.raw(", \"group\": \(groupOfKernel[k]), \"release\": "); out.string(kernel.release)
            if let failure = kernel.failure {
                out.raw(", \"error\": "); out.string(failure)
            } else {
                out.raw(", \"counts\": "); out.counts(kernel.counts)
                out.raw(", \"outcomes\": "); out.string(String(kernel.outcomes.map(\.code)))
                out.raw(", \"values\": ["); out.list(kernel.outcomes) { out, outcome in out.value(outcome.value) }; out.raw("]")
                out.raw(", \"reasons\": ["); out.list(kernelReasons[k]) { out, pair in out.raw("[\(pair.0), \(pair.1)]") }; out.raw("]")
            }
            out.raw(k == kernels.count - 1 ? "}\n" : "},\n")
        }
        out.raw("],\n")

        out.raw("\"reasons\": [\n")
        for (i, reason) in reasons.enumerated() { out.string(reason); out.raw(i == reasons.count - 1 ? "\n" : ",\n") }
        out.raw("]\n}\n")
        return out.bytes
    }

    /// Writes `json()` to `path` atomically (a temporary file renamed over it).
    public func writeJSON(to path: String) throws(BTFError) {
        try FileIO.writeAtomically(json(), to: path)
    }
}

/// A tiny JSON emitter: the report needs strings, integers, booleans and fixed layouts only.
struct JSONText {
    var bytes: [UInt8] = []

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// A JSON string literal, escaping quotes, backslashes and control characters.
    mutating func string(_ text: String) {
        bytes.append(0x22)
        for byte in text.utf8 {
            switch byte {
            case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
            case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
            case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
            case 0 ..< 0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(0x22)
    }

    /// A patched value: a number when a double holds it exactly, else a decimal string; `null` for none.
    mutating func value(_ value: UInt64?) {
        guard let value else { return raw("null") }
        if value <= 1 << 53 { raw(String(value)) } else { string(String(value)) }
    }

    /// `{"R": 3, "A": 0, ...}` in legend order.
    mutating func counts(_ counts: [Character: Int]) {
        raw("{")
        raw(CoverageOutcome.legend.map { "\"\($0.code)\": \(counts[$0.code, default: 0])" }.joined(separator: ", "))
        raw("}")
    }

    /// The elements separated by ", ".
    mutating func list<Element>(_ elements: some Sequence<Element>, _ body: (inout JSONText, Element) -> Void) {
        var first = true
        for element in elements {
            if !first { raw(", ") }
            first = false
            body(&self, element)
        }
    }
}
