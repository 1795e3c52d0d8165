@testable import BTF
@testable import CORE
import Foundation
@testable import TestSupport
import Testing
@testable import Trim

/// What the minimizer keeps for each kind of relocation (bpftool's `btfgen_*` rules), checked on small
/// BTFs compiled from C with `clang -g -target bpf`, and that its output is BTF libbpf, bpftool and the
/// kernel accept.
@Suite struct MinimizerTests {
    /// The types used by most tests. `keep_*` globals make clang emit every type.
    static let source = """
        typedef int s32;
        typedef s32 my_int;
        struct inner { int a; my_int b; long c; };
        struct other { int z; };
        struct outer {
            int x;
            struct inner in;
            struct other *p;
            struct inner arr[4];
            const volatile int cv;
            int tail;
        };
        typedef struct outer outer_t;
        typedef outer_t outer2_t;
        typedef struct inner *inner_ptr;
        enum color { RED = 1, GREEN = 2, BLUE = 40 };
        struct flex_mid { int n; int zero[0]; int after; };
        struct flex_end { int n; int data[]; };
        struct undefined_struct;
        typedef struct undefined_struct undef_t;
        typedef undef_t *undef_ptr;
        struct tagged { int __attribute__((btf_type_tag("user"))) *up; int plain; };
        typedef int __attribute__((btf_type_tag("user"))) *tagged_ptr;
        typedef int (*callback)(struct other *, struct inner);
        struct with_callback { callback cb; struct outer o; };
        outer2_t keep_outer; inner_ptr keep_inner_ptr; enum color keep_color;
        struct flex_mid keep_flex_mid; struct flex_end *keep_flex_end; undef_ptr keep_undef;
        struct tagged keep_tagged; tagged_ptr keep_tagged_ptr; struct with_callback keep_cb;
        """

    static let btf: BTF = try! compileBTF(source, name: "minimizer-types")

    // MARK: - Field relocations

    @Test func fieldPathKeepsOnlyPathMembersWithOriginalOffsetsAndSizes() throws {
        let full = Self.btf
        let outer = try typeID("outer", .structure, in: full)
        var m = Minimizer(source: full)
        // outer.in.b: raw spec 0:1:1
        try m.record(CORESpec(rootTypeID: outer, relocationKind: .fieldByteOffset, rawSpec: [0, 1, 1]))
        let out = m.build()

        let outerOut = try typeID("outer", .structure, in: out)
        #expect(out.type(outerOut).size == full.type(outer).size)
        let originalIn = full.member(of: full.type(outer), at: 1)
        #expect(originalIn.bitOffset == 64) // after `int x`, aligned for the `long` inside
        #expect(memberSummary(outerOut, in: out) == [Member(name: "in", bitOffset: originalIn.bitOffset, typeName: "inner")])
        let innerOut = try typeID("inner", .structure, in: out)
        #expect(out.type(innerOut).size == 16)
        #expect(memberSummary(innerOut, in: out) == [Member(name: "b", bitOffset: 32, typeName: "my_int")])
        // The member's typedef chain is kept down to the INT.
        #expect(names(in: out).contains("my_int") && names(in: out).contains("s32") && names(in: out).contains("int"))
        // Nothing else: no `other`, no `long`, no enum.
        #expect(!names(in: out).contains("other") && !names(in: out).contains("long") && !names(in: out).contains("color"))
        #expect(out.typeCount - 1 == 5) // outer, inner, my_int, s32, int
    }

    @Test func pointerMemberPointeeBecomesVoid() throws {
        let full = Self.btf
        let outer = try typeID("outer", .structure, in: full)
        var m = Minimizer(source: full)
        try m.record(CORESpec(rootTypeID: outer, relocationKind: .fieldByteOffset, rawSpec: [0, 2])) // outer.p
        let out = m.build()
        let outerOut = try typeID("outer", .structure, in: out)
        let p = out.member(of: out.type(outerOut), at: 0)
        #expect(out.kind(p.type) == .pointer)
        #expect(out.type(p.type).referencedType == .void)
        #expect(!names(in: out).contains("other"))
    }

    @Test func pointeeKeptWhenAnotherRelocationNeedsIt() throws {
        let full = Self.btf
        var m = Minimizer(source: full)
        try m.record(CORESpec(rootTypeID: try typeID("outer", .structure, in: full), relocationKind: .fieldByteOffset, rawSpec: [0, 2]))
        try m.record(CORESpec(rootTypeID: try typeID("other", .structure, in: full), relocationKind: .typeSize, rawSpec: [0]))
        let out = m.build()
        let outerOut = try typeID("outer", .structure, in: out)
        let p = out.member(of: out.type(outerOut), at: 0)
        #expect(out.name(out.type(p.type).referencedType) == "other")
    }

    @Test func arrayStepKeepsArrayIndexTypeAndElementPath() throws {
        let full = Self.btf
        let outer = try typeID("outer", .structure, in: full)
        var m = Minimizer(source: full)
        try m.record(CORESpec(rootTypeID: outer, relocationKind: .fieldByteOffset, rawSpec: [0, 3, 2, 2])) // outer.arr[2].c
        let out = m.build()
        let outerOut = try typeID("outer", .structure, in: out)
        let arr = out.member(of: out.type(outerOut), at: 0)
        #expect(out.string(arr.nameOffset) == "arr")
        #expect(out.kind(arr.type) == .array)
        let array = out.array(out.type(arr.type))
        #expect(array.count == 4)
        #expect(out.name(array.elementType) == "inner")
        #expect(out.kind(array.indexType) == .int)
        #expect(memberSummary(array.elementType, in: out) == [Member(name: "c", bitOffset: 64, typeName: "long")])
    }

    @Test func modifiersOnThePathAreKept() throws {
        let full = Self.btf
        let outer = try typeID("outer", .structure, in: full)
        var m = Minimizer(source: full)
        try m.record(CORESpec(rootTypeID: outer, relocationKind: .fieldByteSize, rawSpec: [0, 4])) // outer.cv
        let out = m.build()
        let outerOut = try typeID("outer", .structure, in: out)
        let cv = out.member(of: out.type(outerOut), at: 0)
        let kinds = chainKinds(from: cv.type, in: out)
        #expect(Set(kinds) == [.const, .volatile, .int] && kinds.count == 3)
    }

    @Test func zeroLengthArrayThatWasNotLastStaysNotLast() throws {
        let full = Self.btf
        let flexMid = try typeID("flex_mid", .structure, in: full)
        var m = Minimizer(source: full)
        try m.record(CORESpec(rootTypeID: flexMid, relocationKind: .fieldByteOffset, rawSpec: [0, 1, 0])) // zero[0]
        let out = m.build()
        // libbpf's is_flex_arr looks at the member's position: `after` must stay behind `zero`.
        #expect(memberSummary(try typeID("flex_mid", .structure, in: out), in: out).map(\.name) == ["zero", "after"])

        var m2 = Minimizer(source: full)
        try m2.record(CORESpec(rootTypeID: try typeID("flex_end", .structure, in: full), relocationKind: .fieldByteOffset, rawSpec: [0, 1, 3]))
        let out2 = m2.build()
        #expect(memberSummary(try typeID("flex_end", .structure, in: out2), in: out2).map(\.name) == ["data"])
    }

    // MARK: - Type, enum and type_matches relocations

    @Test func typeRelocationKeepsTypedefChainAndEmptyStructWithSize() throws {
        let full = Self.btf
        var m = Minimizer(source: full)
        try m.record(CORESpec(rootTypeID: try typeID("outer2_t", .typedef, in: full), relocationKind: .typeSize, rawSpec: [0]))
        let out = m.build()
        #expect(names(in: out) == ["outer2_t", "outer_t", "outer"].sorted())
        let outerOut = try typeID("outer", .structure, in: out)
        #expect(out.type(outerOut).vlen == 0)
        #expect(out.type(outerOut).size == full.type(try typeID("outer", .structure, in: full)).size)
    }

    @Test func typeRelocationFollowsPointers() throws {
        let full = Self.btf
        var m = Minimizer(source: full)
        try m.record(CORESpec(rootTypeID: try typeID("inner_ptr", .typedef, in: full), relocationKind: .typeExists, rawSpec: [0]))
        let out = m.build()
        let ptr = out.type(try typeID("inner_ptr", .typedef, in: out)).referencedType
        #expect(out.name(out.type(ptr).referencedType) == "inner")
        #expect(out.type(out.type(ptr).referencedType).vlen == 0)
    }

    @Test func kindsBpftoolRefusesAreKept() throws {
        let full = Self.btf
        var m = Minimizer(source: full)
        // typedef -> PTR -> typedef -> FWD (bpftool: "unsupported kind: FWD")
        try m.record(CORESpec(rootTypeID: try typeID("undef_ptr", .typedef, in: full), relocationKind: .typeExists, rawSpec: [0]))
        // typedef -> PTR -> TYPE_TAG -> INT (bpftool: "unsupported kind: TYPE_TAG")
        try m.record(CORESpec(rootTypeID: try typeID("tagged_ptr", .typedef, in: full), relocationKind: .typeExists, rawSpec: [0]))
        let out = m.build()
        let kinds = Set(out.typeIDs.map { out.type($0).kind })
        #expect(kinds.contains(.forward))
        #expect(kinds.contains(.typeTag))
        #expect(try chainKinds(from: typeID("tagged_ptr", .typedef, in: out), in: out) == [.typedef, .pointer, .typeTag, .int])
    }

    @Test func enumRelocationKeepsWholeEnum() throws {
        let full = Self.btf
        var m = Minimizer(source: full)
        try m.record(CORESpec(rootTypeID: try typeID("color", .enumeration, in: full), relocationKind: .enumValue, rawSpec: [2]))
        let out = m.build()
        let color = try typeID("color", .enumeration, in: out)
        #expect(out.enumerators(of: out.type(color)).map { out.string($0.nameOffset) } == ["RED", "GREEN", "BLUE"])
        #expect(out.enumerators(of: out.type(color)).map(\.value) == [1, 2, 40])
        #expect(out.typeCount == 2)
    }

    @Test func typeMatchesKeepsFullMemberClosureAndPointeesByName() throws {
        let full = Self.btf
        var m = Minimizer(source: full)
        try m.record(CORESpec(rootTypeID: try typeID("with_callback", .structure, in: full), relocationKind: .typeMatches, rawSpec: [0]))
        let out = m.build()
        let cb = try typeID("with_callback", .structure, in: out)
        #expect(memberSummary(cb, in: out).map(\.name) == ["cb", "o"])
        let outerOut = try typeID("outer", .structure, in: out)
        #expect(memberSummary(outerOut, in: out).map(\.name) == ["x", "in", "p", "arr", "cv", "tail"])
        #expect(memberSummary(try typeID("inner", .structure, in: out), in: out).map(\.name) == ["a", "b", "c"])
        // Behind a pointer (outer.p, the callback's parameters) composites are compared by name only.
        #expect(out.type(try typeID("other", .structure, in: out)).vlen == 0)
        #expect(names(in: out).contains("callback"))
    }

    @Test func typeIDLocalNeedsNoTarget() throws {
        var m = Minimizer(source: Self.btf)
        try m.record(CORESpec(rootTypeID: try typeID("outer", .structure, in: Self.btf), relocationKind: .typeIDLocal, rawSpec: [0]))
        #expect(m.build().typeCount == 1)
    }

    @Test func badSpecIsAnErrorNotACrash() throws {
        let full = Self.btf
        var m = Minimizer(source: full)
        let outer = try typeID("outer", .structure, in: full)
        #expect(throws: BTFError.self) { try m.record(CORESpec(rootTypeID: outer, relocationKind: .fieldByteOffset, rawSpec: [0, 99])) }
        #expect(throws: BTFError.self) { try m.record(CORESpec(rootTypeID: TypeID(UInt32(full.typeCount + 5)), relocationKind: .typeSize)) }
        #expect(throws: BTFError.self) { try m.record(CORESpec(rootTypeID: outer, relocationKind: .fieldByteOffset, rawSpec: [0, 0, 1])) } // int has no members
    }

    // MARK: - Candidate retention

    @Test func minimalRetentionKeepsOneCommonCandidate() throws {
        let (full, copies) = try duplicatedStructs(3)
        // All results share one local root type, hence one libbpf candidate-cache entry.
        let relocation = CORERelocation(instructionOffset: 0, typeID: TypeID(2), accessStringOffset: .empty, kind: .fieldByteOffset)
        // The first and the third copy disagree.
        func ambiguity(_ disagreement: COREAmbiguity.Disagreement, _ copies: [TypeID]) -> COREFailure {
            COREFailure(.ambiguity(COREAmbiguity(disagreement, first: .init(typeID: copies[0], name: "task", value: 0),
                                                 other: .init(typeID: copies[2], name: "task", value: 32))))
        }
        func result(_ candidates: [TypeID], _ outcome: CORERelocationOutcome, member: Int = 0) -> CORERelocationResult {
            CORERelocationResult(relocation: relocation, sectionName: "s", localSpec: nil,
                                 targetSpecs: candidates.map { CORESpec(rootTypeID: $0, relocationKind: .fieldByteOffset, rawSpec: [0, member]) },
                                 outcome: outcome)
        }
        // All three copies agree on both relocations: one copy is enough.
        var minimal = Minimizer(source: full)
        try minimal.record([result(copies, .resolved(0)), result([copies[1], copies[2]], .resolved(4), member: 1)])
        let outMinimal = minimal.build()
        #expect(outMinimal.typeIDs.filter { outMinimal.name($0) == "task" }.count == 1)
        // The common candidate is the one in both matched sets (libbpf narrowed the list to it).
        let kept = try typeID("task", .structure, in: outMinimal)
        #expect(memberSummary(kept, in: outMinimal).map(\.name) == ["pid", "tgid"])

        var all = Minimizer(source: full)
        try all.record([result(copies, .resolved(0))], retention: .allMatching)
        let outAll = all.build()
        #expect(outAll.typeIDs.filter { outAll.name($0) == "task" }.count == 3)

        // A failed relocation (candidates disagree) keeps every candidate it saw.
        var failed = Minimizer(source: full)
        try failed.record([result([copies[0], copies[2]], .ambiguous(ambiguity(.fieldOffset, copies)))])
        let outFailed = failed.build()
        #expect(outFailed.typeIDs.filter { outFailed.name($0) == "task" }.count == 2)

        // Agreeing relocations, then an ambiguity between the first and the third copy as the type's
        // last relocation: those two reproduce it. A relocation after the failure keeps everything.
        var lastFails = Minimizer(source: full)
        try lastFails.record([result(copies, .resolved(0)), result([copies[0], copies[2]], .ambiguous(ambiguity(.decision, copies)))])
        let outLastFails = lastFails.build()
        #expect(outLastFails.typeIDs.filter { outLastFails.name($0) == "task" }.count == 2)
        var failsThenMore = Minimizer(source: full)
        try failsThenMore.record([result([copies[0], copies[2]], .ambiguous(ambiguity(.decision, copies))), result(copies, .resolved(0))])
        let outFailsThenMore = failsThenMore.build()
        #expect(outFailsThenMore.typeIDs.filter { outFailsThenMore.name($0) == "task" }.count == 3)

        // Disjoint matched sets (no common candidate): every candidate is kept.
        var disjoint = Minimizer(source: full)
        try disjoint.record([result([copies[0]], .resolved(0)), result([copies[1]], .resolved(0))])
        let outDisjoint = disjoint.build()
        #expect(outDisjoint.typeIDs.filter { outDisjoint.name($0) == "task" }.count == 2)
    }

    /// libbpf failed while matching or computing a candidate (no spec reported for it): the candidates
    /// tried after the last matched one keep their whole member closure, so the failure stays.
    @Test func failingCandidateWithoutSpecKeepsItsClosure() throws {
        let (full, copies) = try duplicatedStructs(3)
        let relocation = CORERelocation(instructionOffset: 0, typeID: TypeID(2), accessStringOffset: .empty, kind: .fieldByteOffset)
        var failed = CORERelocationResult(relocation: relocation, sectionName: "s",
                                          localSpec: CORESpec(rootTypeID: TypeID(2), relocationKind: .fieldByteOffset, rawSpec: [0, 0]),
                                          targetSpecs: [CORESpec(rootTypeID: copies[0], relocationKind: .fieldByteOffset, rawSpec: [0, 0])],
                                          outcome: .failed(COREFailure(.bitfieldTooBig(.fieldByteOffset), step: .computingValue)))
        failed.candidateIDs = copies
        var m = Minimizer(source: full)
        try m.record([failed])
        let out = m.build()
        let tasks = out.typeIDs.filter { out.name($0) == "task" }
        #expect(tasks.map { memberSummary($0, in: out).map(\.name) } == [["pid"], ["pid", "tgid"], ["pid", "tgid"]])

        // A local spec that does not parse involves no target type.
        failed.localSpec = nil
        failed.targetSpecs = []
        var unparsed = Minimizer(source: full)
        try unparsed.record([failed])
        #expect(unparsed.build().typeCount == 1)
    }

    // MARK: - Output format and validity

    @Test func outputKeepsTheSourceByteOrder() throws {
        let big = try BTF(parsing: Self.btf.serialized(byteOrder: .big))
        #expect(big.byteOrder == .big)
        var m = Minimizer(source: big)
        try m.record(CORESpec(rootTypeID: try typeID("outer", .structure, in: big), relocationKind: .fieldByteOffset, rawSpec: [0, 1, 1]))
        let out = m.build()
        #expect(out.byteOrder == .big)
        let bytes = out.serialized()
        #expect(bytes[0] == 0xEB && bytes[1] == 0x9F) // big-endian magic
        let reparsed = try BTF(parsing: bytes)
        #expect(memberSummary(try typeID("outer", .structure, in: reparsed), in: reparsed).map(\.name) == ["in"])
    }

    @Test func stringsAreDeduplicated() throws {
        let full = Self.btf
        var m = Minimizer(source: full)
        try m.record(CORESpec(rootTypeID: try typeID("with_callback", .structure, in: full), relocationKind: .typeMatches, rawSpec: [0]))
        let out = m.build()
        var seen = Set<[UInt8]>()
        for piece in out.strings.split(separator: 0, omittingEmptySubsequences: false).dropLast() where !piece.isEmpty {
            #expect(seen.insert(Array(piece)).inserted, "string \(String(decoding: piece, as: UTF8.self)) stored twice")
        }
    }

    /// bpftool, libbpf (`btf__parse`) and, as root, the running kernel (`BPF_BTF_LOAD`) accept the
    /// output of every relocation kind at once.
    @Test func outputIsAcceptedByBpftoolLibbpfAndTheKernel() throws {
        let full = Self.btf
        var m = Minimizer(source: full)
        let outer = try typeID("outer", .structure, in: full)
        try m.record(CORESpec(rootTypeID: outer, relocationKind: .fieldByteOffset, rawSpec: [0, 1, 1]))
        try m.record(CORESpec(rootTypeID: outer, relocationKind: .fieldByteOffset, rawSpec: [0, 2]))
        try m.record(CORESpec(rootTypeID: outer, relocationKind: .fieldByteOffset, rawSpec: [0, 3, 2, 2]))
        try m.record(CORESpec(rootTypeID: try typeID("color", .enumeration, in: full), relocationKind: .enumValue, rawSpec: [0]))
        try m.record(CORESpec(rootTypeID: try typeID("with_callback", .structure, in: full), relocationKind: .typeMatches, rawSpec: [0]))
        try m.record(CORESpec(rootTypeID: try typeID("undef_ptr", .typedef, in: full), relocationKind: .typeExists, rawSpec: [0]))
        try m.record(CORESpec(rootTypeID: try typeID("tagged_ptr", .typedef, in: full), relocationKind: .typeExists, rawSpec: [0]))
        try m.record(CORESpec(rootTypeID: try typeID("flex_mid", .structure, in: full), relocationKind: .fieldByteOffset, rawSpec: [0, 1, 0]))
        let out = m.build()
        for order in [ByteOrder.little, .big] {
            let path = try Self.scratch("validity-\(order == .little ? "le" : "be").btf")
            try FileIO.writeAtomically(out.serialized(byteOrder: order), to: path)
            let dump = try TestSupport.run("bpftool", ["btf", "dump", "file", path])
            #expect(dump.status == 0, "bpftool rejects \(path): \(dump.stderr)")
            #expect(String(decoding: dump.stdout, as: UTF8.self).contains("STRUCT 'outer' size="))
            let parse = try TestSupport.run(try BTFCheckTool.path(), ["parse", path])
            #expect(parse.status == 0, "libbpf rejects \(path): \(parse.stderr)")
            #expect(String(decoding: parse.stdout, as: UTF8.self) == "types \(out.typeCount)\n")
        }
        if TestSupport.isRoot {
            let path = try Self.scratch("validity-le.btf")
            let load = try TestSupport.run(try BTFCheckTool.path(), ["load", path])
            #expect(load.status == 0, "the kernel rejects \(path): \(load.stderr)")
        } else {
            TestSupport.skipPart("kernel BTF load of the minimized BTF needs root")
        }
    }

    // MARK: - Helpers

    struct Member: Equatable, CustomStringConvertible {
        var name: String
        var bitOffset: UInt32
        var typeName: String
        var description: String { "\(name)@\(bitOffset):\(typeName)" }
    }

    func memberSummary(_ id: TypeID, in btf: BTF) -> [Member] {
        btf.members(of: btf.type(id)).map { Member(name: btf.string($0.nameOffset), bitOffset: $0.bitOffset, typeName: btf.name($0.type)) }
    }

    func names(in btf: BTF) -> [String] {
        btf.typeIDs.map { btf.name($0) }.filter { !$0.isEmpty }.sorted()
    }

    func chainKinds(from id: TypeID, in btf: BTF) -> [BTFKind] {
        var kinds: [BTFKind] = []
        var id = id
        while let kind = btf.kind(id) {
            kinds.append(kind)
            guard kind.thirdWordIsType else { break }
            id = btf.type(id).referencedType
        }
        return kinds
    }

    /// A BTF with `count` identical copies of `struct task { int pid; int tgid; }`, as a
    /// non-deduplicated kernel has; returns the copies' ids.
    func duplicatedStructs(_ count: Int) throws -> (BTF, [TypeID]) {
        var b = BTFBuilder()
        let int = b.add(TypeRecord(kind: .int, name: b.addString("int"), sizeOrType: 4, extra: [0x0100_0020]))
        var ids: [TypeID] = []
        for _ in 0 ..< count {
            ids.append(b.add(TypeRecord(kind: .structure, name: b.addString("task"), vlen: 2, sizeOrType: 8,
                                        extra: [b.addString("pid").rawValue, int.rawValue, 0,
                                                b.addString("tgid").rawValue, int.rawValue, 32])))
        }
        return (try BTF(parsing: b.build().serialized()), ids)
    }

    static func scratch(_ name: String) throws -> String {
        let dir = TestSupport.cache + "/minimizer"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/" + name
    }

    /// Compiles C to a BPF object with clang and returns its `.BTF`.
    static func compileBTF(_ code: String, name: String) throws -> BTF {
        let c = try scratch(name + ".c"), o = try scratch(name + ".o")
        try code.write(toFile: c, atomically: true, encoding: .utf8)
        let r = try TestSupport.run("clang", ["-g", "-O2", "-target", "bpf", "-c", c, "-o", o])
        guard r.status == 0 else { throw TestSupportError("clang failed: \(r.stderr)") }
        return try BTF(contentsOf: o)
    }

}

/// The id of the type called `name` of kind `kind`.
func typeID(_ name: String, _ kind: BTFKind, in btf: BTF) throws -> TypeID {
    guard let id = btf.typeIDs.first(where: { btf.type($0).kind == kind && btf.name($0) == name }) else {
        throw TestSupportError("no \(kind) named \(name)")
    }
    return id
}
