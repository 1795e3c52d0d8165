import BTF
import Foundation
@testable import TestSupport
import Testing

/// `BPFObject(contentsOf:)` on the programs in `bpf/`, checked against libbpf's own reading of the
/// same objects: libbpf's debug log names every CO-RE relocation it applies (section, index, kind,
/// local type id, access spec), which `Support/reloc_count.c` captures while loading the object.
@Suite("BPF objects and their CO-RE relocations")
struct BPFObjectTests {
    /// Compiled once for the suite; other suites compile the same sources into the same cache.
    private static let compiledObjects = Result { try TestSupport.compiledBPFObjects() }

    /// The relocation kinds each program is written to exercise (see the comment at the top of
    /// each `bpf/*.bpf.c`). More may appear; none of these may be missing.
    private static let expectedKinds: [String: Set<CORERelocationKind>] = [
        "execsnoop": [.fieldByteOffset],
        "task_fields": [.fieldByteOffset, .fieldByteSize, .fieldExists],
        "bitfields": [.fieldByteOffset, .fieldByteSize, .fieldExists, .fieldSigned, .fieldLShiftU64, .fieldRShiftU64],
        "flavors": [.fieldByteOffset, .fieldExists, .typeExists],
        "types_and_enums": [.typeExists, .typeSize, .typeMatches, .typeIDTarget, .typeIDLocal,
                            .enumValueExists, .enumValue],
        "report_fields": [.fieldByteOffset, .fieldExists, .typeExists, .enumValue],
        "uprobe_calls": [.fieldByteOffset],
        "nf_conntrack": [.fieldByteOffset, .fieldByteSize, .fieldExists, .typeExists, .enumValue, .enumValueExists],
        "guards": [.fieldByteOffset, .fieldByteSize, .fieldExists, .typeExists, .enumValueExists, .enumValue],
    ]

    /// Programs written NOT to load everywhere: report_fields reads task_struct.state unguarded
    /// (gone since 5.14), so libbpf poisons that read on this kernel and the verifier rejects it.
    /// Their relocations are still compared: libbpf logs them before the verifier runs.
    /// guards has unguarded reads on purpose too (unguarded_both reads task_struct.state).
    private static let rejectedOnModernKernels: Set<String> = ["report_fields", "guards"]

    private static func objects() throws -> [(name: String, path: String)] {
        try compiledObjects.get().map { path in
            ((path as NSString).lastPathComponent.replacingOccurrences(of: ".bpf.o", with: ""), path)
        }
    }

    @Test("every bpf/*.bpf.c program is covered by this suite")
    func everyProgramHasExpectations() throws {
        let names = Set(try Self.objects().map(\.name))
        #expect(names == Set(Self.expectedKinds.keys), "bpf/ programs and expectedKinds disagree")
    }

    @Test("each program carries the relocation kinds it is written for")
    func expectedKindsPresent() throws {
        for (name, path) in try Self.objects() {
            let object = try BPFObject(contentsOf: path)
            let ext = try #require(object.ext, "\(name): no .BTF.ext")
            let kinds = Set(ext.coreRelocations.flatMap { $0.records.map(\.kind) })
            let missing = (Self.expectedKinds[name] ?? []).subtracting(kinds)
            #expect(missing.isEmpty, "\(name) lacks \(missing.map(\.description).sorted())")
        }
    }

    @Test("every access string is in the string table and walks the local types")
    func accessStringsResolve() throws {
        for (name, path) in try Self.objects() {
            let object = try BPFObject(contentsOf: path)
            let btf = object.btf
            for section in object.ext?.coreRelocations ?? [] {
                #expect(Int(section.sectionNameOffset.rawValue) < btf.strings.count, "\(name): section name offset out of range")
                for (index, relocation) in section.records.enumerated() {
                    let place = "\(name) \(btf.string(section.sectionNameOffset)) #\(index)"
                    #expect(Int(relocation.accessStringOffset.rawValue) < btf.strings.count, "\(place): access string offset out of range")
                    #expect(relocation.typeID.rawValue != 0 && btf.contains(relocation.typeID), "\(place): bad root type \(relocation.typeID)")
                    guard btf.contains(relocation.typeID), relocation.typeID.rawValue != 0 else { continue }
                    let access = btf.string(relocation.accessStringOffset)
                    #expect(LocalAccess(btf: btf, relocation: relocation) != nil, "\(place): access '\(access)' does not resolve")
                }
            }
        }
    }

    @Test("the programs reach the features they are written for")
    func featuresPresent() throws {
        var sawFlavor = false, sawAnonymousMember = false, sawArrayElement = false
        var sawBitfield = false, sawEnum64 = false, sawNestedStruct = false
        for (_, path) in try Self.objects() {
            let object = try BPFObject(contentsOf: path)
            let btf = object.btf
            for relocation in object.ext?.coreRelocations.flatMap(\.records) ?? [] {
                guard let access = LocalAccess(btf: btf, relocation: relocation) else { continue }
                if btf.name(relocation.typeID).contains("___") { sawFlavor = true }
                if access.throughAnonymousMember { sawAnonymousMember = true }
                if access.arrayElementIndex { sawArrayElement = true }
                if access.endsOnBitfield { sawBitfield = true }
                if access.memberDepth >= 2 { sawNestedStruct = true }
                if relocation.kind.isEnumValueBased, btf.kind(relocation.typeID) == .enum64 { sawEnum64 = true }
            }
        }
        #expect(sawFlavor, "no relocation on a ___flavor type")
        #expect(sawAnonymousMember, "no access path through an anonymous struct or union")
        #expect(sawArrayElement, "no array element access")
        #expect(sawBitfield, "no relocation on a bitfield member")
        #expect(sawNestedStruct, "no access into a nested struct member")
        #expect(sawEnum64, "no enum relocation on a BTF_KIND_ENUM64 type (clang should emit one for perf_callchain_context)")
    }

    @Test("relocations match libbpf's: per-section counts, kinds, root types and access specs", .requiresRoot,
          .enabled(if: RelocCount.kernelHasBTF || TestSupport.isCI, "needs /sys/kernel/btf/vmlinux"))
    func relocationsMatchLibbpf() throws {
        let helper = try RelocCount.helper()
        for (name, path) in try Self.objects() {
            let object = try BPFObject(contentsOf: path)
            let btf = object.btf
            let report = try RelocCount.run(helper, object: path)
            // The programs must load on this kernel: absent features are guarded by existence checks.
            if Self.rejectedOnModernKernels.contains(name) {
                #expect(!report.loaded, "\(name) loaded, but its unguarded read of a vanished field should be poisoned")
            } else {
                #expect(report.loaded, "\(name) did not load: \(report.loadError)")
            }

            let ours = Dictionary(uniqueKeysWithValues: (object.ext?.coreRelocations ?? []).map {
                (btf.string($0.sectionNameOffset), $0.records)
            })
            #expect(ours.mapValues(\.count) == report.counts, "\(name): relocation counts per section")
            for (section, records) in ours {
                let logged = report.relocations[section] ?? [:]
                #expect(logged.count == records.count, "\(name) \(section): libbpf logged \(logged.count) of \(records.count)")
                for (index, relocation) in records.enumerated() {
                    let place = "\(name) \(section) #\(index)"
                    guard let line = logged[index] else { continue }
                    #expect(line.kind == relocation.kind.description, "\(place): kind")
                    #expect(line.typeID == relocation.typeID.rawValue, "\(place): root type")
                    let access = btf.string(relocation.accessStringOffset)
                    if relocation.kind.isFieldBased {
                        #expect(line.fieldAccess == access, "\(place): access spec")
                    } else if relocation.kind.isEnumValueBased {
                        // libbpf prints the enumerator the access string's index selects.
                        let t = btf.type(relocation.typeID)
                        let enumerator = Int(access).flatMap { $0 < t.vlen ? btf.enumerator(of: t, at: $0) : nil }
                        #expect(enumerator.map { btf.string($0.nameOffset) } == line.enumeratorName, "\(place): enumerator")
                    } else {
                        #expect(access == "0", "\(place): type-based access string is '\(access)'")
                    }
                }
            }
        }
    }
}

/// A CO-RE access string walked through the object's own types, as libbpf does for the local
/// side (`bpf_core_parse_spec`): the first index is an array index on the root type, each further
/// index a member of a struct/union or an element of an array. `nil` when any step does not exist.
private struct LocalAccess {
    var memberDepth = 0
    var throughAnonymousMember = false
    var arrayElementIndex = false
    var endsOnBitfield = false

    init?(btf: BTF, relocation: CORERelocation) {
        let text = btf.string(relocation.accessStringOffset)
        let indices = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        guard !indices.isEmpty, indices.allSatisfy({ $0 != nil && $0! >= 0 }) else { return nil }
        let steps = indices.map { $0! }
        if relocation.kind.isTypeBased { if steps == [0] { return } else { return nil } }
        if relocation.kind.isEnumValueBased {
            guard let kind = btf.kind(relocation.typeID), kind == .enumeration || kind == .enum64,
                  steps.count == 1, steps[0] < btf.type(relocation.typeID).vlen else { return nil }
            return
        }
        if steps[0] != 0 { arrayElementIndex = true }
        var current = relocation.typeID
        for step in steps.dropFirst() {
            guard let resolved = LocalAccess.skipModifiersAndTypedefs(btf, current), let kind = btf.kind(resolved) else { return nil }
            let t = btf.type(resolved)
            switch kind {
            case .structure, .union:
                guard step < t.vlen else { return nil }
                let member = btf.member(of: t, at: step)
                if member.nameOffset.isEmpty { throughAnonymousMember = true }
                memberDepth += 1
                endsOnBitfield = member.bitfieldSize > 0
                current = member.type
            case .array:
                arrayElementIndex = true
                endsOnBitfield = false
                current = btf.array(t).elementType
            default:
                return nil
            }
        }
    }

    private static func skipModifiersAndTypedefs(_ btf: BTF, _ id: TypeID) -> TypeID? {
        var id = id
        for _ in 0 ..< 64 {
            guard btf.contains(id), let kind = btf.kind(id) else { return nil }
            switch kind {
            case .typedef, .volatile, .const, .restrict, .typeTag: id = btf.type(id).referencedType
            default: return id
            }
        }
        return nil
    }
}

/// Builds and runs `Support/reloc_count.c`, and reads libbpf's debug log out of its output.
private enum RelocCount {
    struct Line {
        var kind: String
        var typeID: UInt32
        /// The raw access spec of a field relocation, `0:1:2` in `(0:1:2 @ offset 8)`.
        var fieldAccess: String?
        /// The enumerator of an enum relocation, `X` in `enum foo::X = 1`.
        var enumeratorName: String?
    }

    struct Report {
        var counts: [String: Int] = [:]
        var relocations: [String: [Int: Line]] = [:]
        var loaded = false
        var loadError = ""
    }

    static var kernelHasBTF: Bool { FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") }

    /// The compiled helper. Loading needs root and a kernel with BTF: the test's traits skip it
    /// without them, except under CI=true, where their absence fails here.
    static func helper() throws -> String {
        try TestSupport.requireRoot("reloc_count loads objects")
        guard kernelHasBTF else { throw TestSupportError("reloc_count needs /sys/kernel/btf/vmlinux to load objects") }
        return try built.get()
    }

    private static let built = Result<String, any Error> {
        try TestSupport.buildCHelper(TestSupport.packageRoot + "/Tests/BTFTests/Support/reloc_count.c", named: "reloc_count")
    }

    static func run(_ helper: String, object: String) throws -> Report {
        let r = try TestSupport.run(helper, [object])
        guard r.status == 0 || r.status == 1 else { throw TestSupportError("reloc_count \(object) failed: \(r.stderr)") }
        var report = Report()
        var sectionOfProgram: [String: String] = [:]
        // A subprogram of .text is no program of its own: its relocations belong to the section
        // of the "sec '...': found N CO-RE relocations" line before them.
        var currentSection: String?
        for line in String(decoding: r.stdout, as: UTF8.self).split(separator: "\n").map(String.init) {
            if line.hasPrefix("program ") {
                let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
                if parts.count == 3 { sectionOfProgram[parts[1]] = parts[2] }
            } else if line == "load ok" {
                report.loaded = true
            } else if line.hasPrefix("load failed") {
                report.loadError = line
            } else if let match = line.wholeMatch(of: /libbpf: sec '([^']+)': found (\d+) CO-RE relocations/) {
                report.counts[String(match.1)] = Int(match.2)
                currentSection = String(match.1)
            } else if let match = line.wholeMatch(of: /libbpf: prog '([^']+)': relo #(\d+): <([a-z0-9_]+)> \[(\d+)\] (.*)/),
                      let section = sectionOfProgram[String(match.1)] ?? currentSection, let index = Int(match.2), let typeID = UInt32(match.4) {
                let rest = String(match.5)
                var parsed = Line(kind: String(match.3), typeID: typeID)
                parsed.fieldAccess = rest.firstMatch(of: /\(([0-9:]+) @ offset/).map { String($0.1) }
                parsed.enumeratorName = rest.firstMatch(of: #/::([A-Za-z0-9_]+) = /#).map { String($0.1) }
                report.relocations[section, default: [:]][index] = parsed
            }
        }
        return report
    }
}
