@testable import BTF
@testable import CORE
@testable import TestSupport
import Testing

/// Matching by classes of identical candidates (`TargetTypeClasses`, the copies of a kernel whose
/// BTF was not deduplicated) gives each candidate exactly what matching it alone gives. Rootless:
/// the target holds copies of one struct built with `TypeBuilder` (which, like pahole without
/// deduplication, adds every type again), some identical, some different where a relocation looks
/// and some different only where none does.
@Suite("Classes of identical candidates")
struct TargetTypeClassesTests {
    /// `struct task { int pid; struct inner in; struct x *p; }` and variations of it.
    static func task(flag: BuiltType = .int("int"), flagName: String = "flag", pointee: String = "x",
                     innerFirst: Bool = false, anonymousFlag: Bool = false) -> BuiltType {
        let inner: BuiltType = anonymousFlag
            ? .structure("inner", [("", .union("", [(flagName, flag), ("other", .int("int"))]))])
            : .structure("inner", [(flagName, flag), ("tail", .array(.int("char", size: 1), count: 4))])
        var members: [(String, BuiltType)] = [("pid", .int("int")), ("in", inner), ("p", .pointer(.structure(pointee, [("a", .int("int"))])))]
        if innerFirst { members.swapAt(0, 1) }
        return .structure("task", members)
    }

    /// Each copy, and what it varies.
    static let copies: [(String, BuiltType)] = [
        ("identical", task()), ("identical", task()), ("identical", task()),
        ("another pointee", task(pointee: "y")), ("another pointee", task(pointee: "z")),
        ("a long flag", task(flag: .int("long", size: 8))),
        ("flag renamed", task(flagName: "flags")),
        ("members reordered", task(innerFirst: true)),
        ("flag in an anonymous union", task(anonymousFlag: true)),
        ("identical after the others", task()),
        ("a const flag", task(flag: .const(.int("int")))),
        ("identical at the end", task()),
    ]

    /// The target: every copy, in order; their ids are the candidates.
    static func target() -> (BTF, [TypeID]) {
        var builder = TypeBuilder()
        let ids = copies.map { builder.add($0.1) }
        return (builder.btf(), ids)
    }

    /// The local side: `struct task` as the program sees it, and one relocation per access string.
    static func local(_ accessStrings: [String], kind: CORERelocationKind = .fieldByteOffset) -> (COREBTF, [CORESpec]) {
        var builder = TypeBuilder()
        let root = builder.add(task())
        let offsets = accessStrings.map { builder.b.addString($0) }
        let btf = COREBTF(builder.btf())
        let specs = offsets.map { offset in
            try! CORESpec.parse(relocation: CORERelocation(instructionOffset: 0, typeID: root, accessStringOffset: offset, kind: kind), in: btf)
        }
        return (btf, specs)
    }

    @Test("each candidate matches as it does alone, for paths into the root, an embedded struct and an array",
          arguments: ["0:0", "0:1:0", "0:1:1:2", "0:2", "0:1"])
    func sameAsAlone(_ access: String) throws {
        let (target, candidates) = Self.target()
        let (local, specs) = Self.local([access])
        let relocator = CORERelocator(target: target)
        var shared = SharedMatches()
        let found = shared.classes(of: candidates, for: .fieldByteOffset, in: target)
        let classes = try #require(found)
        for (position, candidate) in candidates.enumerated() {
            let alone = try specs[0].match(local: local, target: COREBTF(target), candidate: candidate)
            let byClass = try relocator.matchCandidate(specs[0], local: local, candidate: candidate, shape: 0,
                                                       candidateClass: classes[position], shared: &shared)
            #expect(byClass.spec == alone, "\(Self.copies[position].0) (\(access))")
            if let alone {
                let exact = try calcTargetSide(.fieldByteOffset, targetSpec: alone, target: COREBTF(target))
                let decided = try relocator.decisionValue(.fieldByteOffset, spec: alone, candidate: candidate, shape: 0,
                                                          representative: byClass.representative, shared: &shared)
                #expect(decided.decidesLike(exact), "\(Self.copies[position].0) (\(access))")
            }
        }
        // Candidates are grouped by their own record (names and offsets of members): the copies that
        // differ only in member types share the first copy's class (differences are seen along the
        // path), the reordered one does not.
        #expect(classes[0] == classes[1] && classes[0] == classes[3] && classes[0] == classes[5] && classes[0] == classes[8])
        #expect(classes[0] != classes[7])
    }

    @Test("the copies differing where a path looks get their own match, not the representative's")
    func differencesAreSeen() throws {
        let (target, candidates) = Self.target()
        let (local, specs) = Self.local(["0:1:0"])
        let relocator = CORERelocator(target: target)
        var shared = SharedMatches()
        let found = shared.classes(of: candidates, for: .fieldByteOffset, in: target)
        let classes = try #require(found)
        var matched: [Bool] = []
        for (position, candidate) in candidates.enumerated() {
            matched.append(try relocator.match(specs[0], local: local, candidate: candidate, shape: 0,
                                               candidateClass: classes[position], shared: &shared) != nil)
        }
        // task.in.flag: missing where it is renamed, found everywhere else (in the anonymous union too).
        #expect(matched == Self.copies.map { $0.0 != "flag renamed" })
    }

    @Test("a reference loop without a pointer turns classes off instead of hanging")
    func loopsTurnClassesOff() throws {
        // struct task { union { int x; a y; }; int pid; } with typedef a -> typedef b -> typedef a:
        // finding pid looks inside the anonymous union first, whose class runs into the loop.
        var b = BTFBuilder()
        let int = b.add(TypeRecord(kind: .int, name: b.addString("int"), sizeOrType: 4, extra: [32]))
        let a = b.add(TypeRecord(kind: .typedef, name: b.addString("a"), sizeOrType: int.rawValue + 2))
        _ = b.add(TypeRecord(kind: .typedef, name: b.addString("b"), sizeOrType: a.rawValue))
        var candidates: [TypeID] = []
        for _ in 0 ..< 8 {
            let union = b.add(TypeRecord(kind: .union, name: .empty, vlen: 2, sizeOrType: 4,
                                         extra: [b.addString("x").rawValue, int.rawValue, 0, b.addString("y").rawValue, a.rawValue, 0]))
            candidates.append(b.add(TypeRecord(kind: .structure, name: b.addString("task"), vlen: 2, sizeOrType: 8,
                                               extra: [0, union.rawValue, 0, b.addString("pid").rawValue, int.rawValue, 32])))
        }
        let target = b.build()
        var shared = SharedMatches()
        let found = shared.classes(of: candidates, for: .fieldByteOffset, in: target)
        let classes = try #require(found)
        let (local, specs) = Self.local(["0:0"])
        let relocator = CORERelocator(target: target)
        for (position, candidate) in candidates.enumerated() {
            let alone = try specs[0].match(local: local, target: COREBTF(target), candidate: candidate)
            #expect(alone != nil)
            #expect(try relocator.match(specs[0], local: local, candidate: candidate, shape: 0,
                                        candidateClass: classes[position], shared: &shared) == alone)
        }
    }
}
