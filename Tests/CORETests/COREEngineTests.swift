import BTF
import CORE
import Foundation
@testable import TestSupport
import Testing

/// The CO-RE engine against libbpf 1.1 itself: every relocation's outcome (patched value, poison,
/// failure) and the matching candidates' target specs must be libbpf's.
@Suite("CO-RE engine vs libbpf")
struct COREEngineTests {
    // MARK: - Unit cases (bpf/core-cases)

    /// The case files: each compiled as the local program and, with -DTARGET, as the target BTF.
    static let caseNames = ["fields", "bitfields", "types_enums", "candidates", "limits", "mixes"]

    @Test("unit case matches libbpf", .requiresRoot, arguments: caseNames)
    func unitCase(_ name: String) throws {
        try TestSupport.requireRoot("the libbpf CO-RE oracle loads objects")
        let fixture = try COREFixtures.caseFixture(name)
        let object = try BPFObject(contentsOf: fixture.object)
        let target = try BTF(contentsOf: fixture.targetBTF)
        let results = CORERelocator(target: target).resolveAll(in: object)
        #expect(!results.isEmpty, "\(name): no CO-RE relocations compiled")
        let oracle = try LibbpfOracle.outcomes(object: fixture.object, btf: fixture.targetBTF)
        let report = try COREComparison.compare(engine: results, object: fixture.object, oracle: oracle,
                                                context: name, targetIDsComparable: true)
        // Every relocation libbpf reached must have been compared, and libbpf must reach most.
        #expect(report.compared == oracle.count)
        #expect(report.compared > 0, "\(name): libbpf reached no relocation")
        print("core-case \(name): \(results.count) relocations, \(report.compared) compared with libbpf, outcomes \(report.summary)")
    }

    /// Engine facts that hold whatever libbpf says, pinned on the unit cases.
    @Test("essential names and flavors find every flavor as a candidate")
    func flavorsAreCandidates() throws {
        let fixture = try COREFixtures.caseFixture("fields")
        let object = try BPFObject(contentsOf: fixture.object)
        let target = try BTF(contentsOf: fixture.targetBTF)
        let relocator = CORERelocator(target: target)
        let flavored = try #require(object.btf.typeIDs.first { object.btf.name($0) == "flavored___v1" })
        let candidates = try #require(relocator.candidates(for: flavored, in: object.btf))
        #expect(candidates.map { target.name($0) } == ["flavored"])
        let anonymous = try #require(object.btf.typeIDs.first {
            object.btf.kind($0) == .union && object.btf.name($0).isEmpty
        })
        #expect(relocator.candidates(for: anonymous, in: object.btf) == nil)
    }

    /// The failures carry their facts (no root: the engine alone), and their text is libbpf's
    /// warning: both candidates of an ambiguity, the access-string position of a bad step, the
    /// errno libbpf returns, the instruction's opcode and values.
    @Test("failures carry both ambiguous candidates, the access-string position, the errno and the instruction")
    func failureFacts() throws {
        let fixture = try COREFixtures.caseFixture("candidates")
        let target = try BTF(contentsOf: fixture.targetBTF)
        let results = CORERelocator(target: target).resolveAll(in: try BPFObject(contentsOf: fixture.object))
        let ambiguities = results.compactMap { result -> COREAmbiguity? in
            guard case .ambiguous(let failure) = result.outcome, case .ambiguity(let ambiguity) = failure.problem else { return nil }
            #expect(failure.errno == .invalid)
            return ambiguity
        }
        #expect(ambiguities.map(\.disagreement) == [.fieldOffset, .decision])
        for ambiguity in ambiguities {
            // Two flavors of one local type, told apart by id and name, with the values they disagree on.
            #expect(ambiguity.first.typeID != ambiguity.other.typeID && ambiguity.first.value != ambiguity.other.value)
            #expect(target.name(ambiguity.first.typeID) == ambiguity.first.name && target.name(ambiguity.other.typeID) == ambiguity.other.name)
            #expect(Set([ambiguity.first.name, ambiguity.other.name]) == (ambiguity.disagreement == .fieldOffset ? ["amb___a", "amb___b"] : ["dec___a", "dec___b"]))
        }
        let anonymousRoot = try #require(results.first { $0.sectionName == "tracepoint/syscalls/sys_enter_getegid" })
        let anonymous = try #require(anonymousRoot.outcome.failure)
        #expect(anonymous.problem == .anonymousLocalType(anonymousRoot.relocation.typeID) && anonymous.errno == .invalid)

        // A member index past the end, as the fourth number of the access string.
        let mutated = try COREFixtures.replacingBTFString(in: try COREFixtures.caseFixture("fields").object, "0:4:1:1", with: "0:4:1:7")
        defer { try? FileManager.default.removeItem(atPath: mutated) }
        let fields = try COREFixtures.caseFixture("fields")
        let parsed = CORERelocator(target: try BTF(contentsOf: fields.targetBTF)).resolveAll(in: try BPFObject(contentsOf: mutated))
        let bad = try #require(parsed.compactMap(\.outcome.failure).first)
        guard case let .invalidAccessSpec(accessString, position, _) = bad.problem else { Issue.record("\(bad)"); return }
        #expect(accessString == "0:4:1:7" && position == 3 && bad.step == .parsingLocalSpec && bad.errno == .invalid)
        #expect(bad.description.hasPrefix("parsing local spec failed: member index 7 out of range for ") && bad.description.hasSuffix(" (-22)"))

        // An ALU instruction that does not hold the local value: libbpf's "unexpected insn value".
        let resolved = try #require(results.first { $0.value?.validate == true && $0.relocation.kind == .fieldByteOffset })
        let expected = try #require(resolved.value?.originalValue)
        let wrong = UInt32(truncatingIfNeeded: expected + 1)
        let alu: [UInt8] = [0x07, 0x01, 0, 0] + withUnsafeBytes(of: wrong.littleEndian, Array.init)  // r1 += imm
        let mismatch = try #require(resolved.patch(instruction: alu[...]).failure)
        #expect(mismatch.problem == .instructionMismatch(COREInstructionMismatch(opcode: 0x07, .unexpectedValue(expected: expected, got: expected + 1))))
        #expect(mismatch.description == "unexpected ALU/ALU64 value: got \(expected + 1), expected \(expected)" && mismatch.errno == .invalid)
    }

    /// Access strings clang never emits (out-of-range indices, malformed numbers, a root index other
    /// than 0, blanks and signs that libbpf's sscanf accepts, a type-based string other than "0"):
    /// written over the object's string table, they give the engine and libbpf the same outcomes.
    @Test("rewritten access strings match libbpf", .requiresRoot, arguments: [
        ("fields", "0:5:2:3", "0:5:7:3"),     // array index past the end: parse error
        ("fields", "0:12:3:1", "0:12:9:1"),   // flexible array: any index is fine
        ("fields", "0:4:1:1", "0:4:1:7"),     // member index past the end
        ("fields", "0:10:5", "0:10:x"),       // not a number
        ("fields", "0:1:0", "1:1:0"),         // root index 1: one whole struct further
        ("fields", "0:11", ":011"),           // leading ':'
        ("fields", "0:10", "0 10"),           // sscanf skips the blank: same as 0:10
        ("fields", "0:12", "0:+2"),           // sscanf takes a sign
        ("types_enums", "0", "1"),            // type-based relocations must say "0"
    ])
    func rewrittenAccessStrings(_ name: String, _ original: String, _ replacement: String) throws {
        try TestSupport.requireRoot("the libbpf CO-RE oracle loads objects")
        let fixture = try COREFixtures.caseFixture(name)
        let mutated = try COREFixtures.replacingBTFString(in: fixture.object, original, with: replacement)
        defer { try? FileManager.default.removeItem(atPath: mutated) }
        let object = try BPFObject(contentsOf: mutated)
        let results = CORERelocator(target: try BTF(contentsOf: fixture.targetBTF)).resolveAll(in: object)
        let oracle = try LibbpfOracle.outcomes(object: mutated, btf: fixture.targetBTF)
        let report = try COREComparison.compare(engine: results, object: mutated, oracle: oracle,
                                                context: "\(name) with \"\(original)\" -> \"\(replacement)\"",
                                                targetIDsComparable: true)
        #expect(report.compared > 0)
        print("core rewritten \(name) \"\(original)\" -> \"\(replacement)\": \(report.summary)")
    }

    // MARK: - Real kernels

    /// Every project BPF object (and the unit cases' programs) against every kernel: the engine's
    /// outcomes are libbpf's. Kernels run in parallel; the time is printed.
    @Test("project objects on every kernel match libbpf", .requiresRoot)
    func realKernels() async throws {
        try TestSupport.requireRoot("the libbpf CO-RE oracle loads objects")
        var objects = try TestSupport.compiledBPFObjects()
        objects += try COREEngineTests.caseNames.map { try COREFixtures.caseFixture($0).object }
        var kernels = try TestSupport.allKernels()
        #expect(!kernels.isEmpty)
        // The running kernel's own BTF, when it has one: a current layout beside btfhub's.
        let running = "/sys/kernel/btf/vmlinux"
        if FileManager.default.isReadableFile(atPath: running) { kernels.append(running) }
        let parsedObjects = try objects.map { try BPFObject(contentsOf: $0) }
        let started = Date()
        let lanes = max(2, ProcessInfo.processInfo.activeProcessorCount)

        let objectPaths = objects
        let reports = try await withThrowingTaskGroup(of: KernelReport.self) { group in
            var next = 0
            var reports: [KernelReport] = []
            while next < min(lanes, kernels.count) {
                let kernel = kernels[next]
                group.addTask { try COREEngineTests.check(kernel: kernel, objects: objectPaths, parsed: parsedObjects) }
                next += 1
            }
            while let report = try await group.next() {
                reports.append(report)
                if next < kernels.count {
                    let kernel = kernels[next]
                    group.addTask { try COREEngineTests.check(kernel: kernel, objects: objectPaths, parsed: parsedObjects) }
                    next += 1
                }
            }
            return reports
        }
        let elapsed = Date().timeIntervalSince(started)
        let compared = reports.reduce(0) { $0 + $1.compared }
        let slowest = reports.max { $0.engineSeconds < $1.engineSeconds }
        print(String(format: "core real kernels: %d kernels x %d objects, %d relocations compared with libbpf in %.1f s",
                     reports.count, objects.count, compared, elapsed))
        if let slowest {
            print(String(format: "core slowest engine kernel: %@ parse+index %.2f s, resolveAll %.3f s",
                         (slowest.kernel as NSString).lastPathComponent, slowest.indexSeconds, slowest.engineSeconds))
        }
        #expect(compared > 0)
    }

    struct KernelReport: Sendable {
        var kernel: String
        var compared: Int
        var indexSeconds: Double
        var engineSeconds: Double
    }

    static func check(kernel: String, objects: [String], parsed: [BPFObject]) throws -> KernelReport {
        let t0 = Date()
        let target = try BTF(contentsOf: kernel)
        let relocator = CORERelocator(target: target)
        let t1 = Date()
        var engineSeconds = 0.0
        var compared = 0
        for (path, object) in zip(objects, parsed) {
            let s = Date()
            let results = relocator.resolveAll(in: object)
            engineSeconds += Date().timeIntervalSince(s)
            let oracle = try LibbpfOracle.outcomes(object: path, btf: kernel)
            let context = "\((path as NSString).lastPathComponent) on \((kernel as NSString).lastPathComponent)"
            compared += try COREComparison.compare(engine: results, object: path, oracle: oracle, context: context,
                                                   targetIDsComparable: true).compared
        }
        return KernelReport(kernel: kernel, compared: compared, indexSeconds: t1.timeIntervalSince(t0),
                            engineSeconds: engineSeconds)
    }
}
