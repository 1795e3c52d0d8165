import BTF
import CORE
import Foundation
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

/// Builds the local/target pairs of bpf/core-cases into the test cache.
enum COREFixtures {
    struct Fixture {
        var object: String
        var targetBTF: String
    }

    /// A copy of `object` whose `.BTF` string `original` (a whole NUL-terminated string) is
    /// overwritten with `replacement` of the same length.
    static func replacingBTFString(in object: String, _ original: String, with replacement: String) throws -> String {
        precondition(original.utf8.count == replacement.utf8.count)
        let elf = try ELFFile(contentsOf: object)
        let section = try #require(elf.section(named: ".BTF"))
        var bytes = elf.bytes
        let start = Int(section.offset), end = start + Int(section.size)
        // The string table is the tail of .BTF: header length, then str_off/str_len at 16/20.
        func u32(_ at: Int) -> Int { Int(UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24) }
        let stringsStart = start + u32(start + 4) + u32(start + 16)
        let needle = [0] + Array(original.utf8) + [0]
        var at = stringsStart
        while at + needle.count <= end, !bytes[at ..< at + needle.count].elementsEqual(needle) { at += 1 }
        guard at + needle.count <= end else { throw TestSupportError("\(object): no string \"\(original)\" in .BTF") }
        bytes.replaceSubrange(at + 1 ..< at + 1 + original.utf8.count, with: Array(replacement.utf8))
        let output = object + ".rewritten-\(getpid())-\(UUID().uuidString).o"
        try FileIO.writeAtomically(bytes, to: output)
        return output
    }

    static func caseFixture(_ name: String) throws -> Fixture {
        let dir = TestSupport.packageRoot + "/bpf/core-cases"
        let out = TestSupport.cache + "/core-cases"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let source = dir + "/\(name).c"
        // Unique temporary names: tests in this and other processes may build the same case at once.
        let unique = "\(getpid())-\(UUID().uuidString)"
        let object = out + "/\(name).bpf.o"
        let localObject = object + ".\(unique)"
        let targetObject = out + "/\(name).target.o.\(unique)"
        let targetBTF = out + "/\(name).target.btf"
        for (output, extra) in [(localObject, [String]()), (targetObject, ["-DTARGET"])] {
            let r = try TestSupport.run("clang", ["-g", "-O2", "-target", "bpf", "-I", dir] + extra + ["-c", source, "-o", output])
            guard r.status == 0 else { throw TestSupportError("clang failed on core case \(name) \(extra): \(r.stderr)") }
        }
        _ = rename(localObject, object)
        let target = try BTF(contentsOf: targetObject)
        try FileIO.writeAtomically(target.serialized(), to: targetBTF)
        try? FileManager.default.removeItem(atPath: targetObject)
        return Fixture(object: object, targetBTF: targetBTF)
    }
}
