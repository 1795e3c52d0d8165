@testable import BTF
@testable import CORE
import Foundation
@testable import TestSupport
import Testing

/// libbpf's CO-RE compatibility rules (`relo_core.c`) on small types made with `BTFBuilder`, one
/// table per rule, in the manner of cilium/ebpf's `TestCOREAreTypesCompatible` and
/// `TestCOREAreMembersCompatible`. Rootless: the expected values come from reading the libbpf
/// function each table names, and libbpf's own functions give them too where libbpf.a exports
/// them (`tools/core-rules.c`); the rules are also checked against libbpf on compiled objects by
/// `COREEngineTests` (bpf/core-cases).
@Suite("CO-RE rules on built types")
struct CORERuleTests {
    // MARK: - bpf_core_types_are_compat (type_exists, type_size, type_id_target)

    /// `__bpf_core_types_are_compat`: the root kinds must be CO-RE compatible *before* typedefs are
    /// skipped; below the root, structs/unions/enums/forwards/void are compatible whatever their
    /// names and members, ints unless one has a bit offset, pointers and arrays recurse (array
    /// lengths ignored), function prototypes compare arity, parameters and return type, any other
    /// kind (float) is "unexpected" and incompatible.
    static let typesAreCompatibleRows: [RuleRow] = [
        .init("struct vs struct with other members", .structure("s", [("a", .int("int"))]), .structure("s", [("b", .pointer(.void))]), true),
        .init("struct vs union", .structure("s", []), .union("s", []), false),
        .init("union vs union", .union("u", [("a", .int("int"))]), .union("u", []), true),
        .init("enum vs enum64 (btf_kind_core_compat)", .enumeration("e", ["A"]), .enum64("e", ["B"]), true),
        .init("forward vs forward", .forward("s"), .forward("s", union: true), true),
        .init("forward vs struct", .forward("s"), .structure("s", []), false),
        .init("ints of other size and sign", .int("int", size: 4, signed: true), .int("int", size: 8), true),
        .init("int with a bit offset", .int("int", bitOffset: 3), .int("int"), false),
        .init("typedef vs its int at the root (kinds differ before skipping)", .typedef("t", .int("int")), .int("t"), false),
        .init("typedefs over int and const int", .typedef("t", .int("int")), .typedef("t", .const(.int("int"))), true),
        .init("pointers to differently named structs", .pointer(.structure("a", [])), .pointer(.structure("b", [])), true),
        .init("pointer to int vs pointer to struct", .pointer(.int("int")), .pointer(.structure("s", [])), false),
        .init("pointers to void", .pointer(.void), .pointer(.void), true),
        .init("pointer to void vs pointer to int", .pointer(.void), .pointer(.int("int")), false),
        .init("arrays of other lengths", .array(.int("int"), count: 4), .array(.int("int"), count: 8), true),
        .init("array of int vs array of pointer", .array(.int("int"), count: 4), .array(.pointer(.void), count: 4), false),
        .init("prototypes with compatible parameters", .prototype(.int("int"), [.pointer(.void), .int("long", size: 8)]),
              .prototype(.int("int"), [.pointer(.void), .int("int")]), true),
        .init("prototypes of other arity", .prototype(.int("int"), [.int("int")]), .prototype(.int("int"), []), false),
        .init("prototypes with incompatible return types", .prototype(.pointer(.void), []), .prototype(.int("int"), []), false),
        .init("floats (unexpected kind)", .float("double", size: 8), .float("double", size: 8), false),
    ]

    @Test("typesAreCompatible follows __bpf_core_types_are_compat", arguments: typesAreCompatibleRows)
    func typesAreCompatibleTable(_ row: RuleRow) throws {
        #expect(try row.apply { try typesAreCompatible(local: $0, $1, target: $2, $3) } == row.expected)
    }

    // MARK: - bpf_core_fields_are_compat (field relocations, member by member)

    /// `bpf_core_fields_are_compat`: modifiers and typedefs skipped; any two structs/unions are
    /// compatible; pointers and floats always; enums and forwards need equal essential names or one
    /// anonymous; ints ignore size and sign but not a bit offset; arrays compare element types.
    static let fieldsAreCompatibleRows: [RuleRow] = [
        .init("struct vs union", .structure("a", [("x", .int("int"))]), .union("b", []), true),
        .init("pointer to int vs pointer to struct", .pointer(.int("int")), .pointer(.structure("s", [])), true),
        .init("floats of other sizes", .float("float", size: 4), .float("double", size: 8), true),
        .init("ints of other size and sign", .int("char", size: 1, signed: true), .int("long", size: 8), true),
        .init("int with a bit offset in the target", .int("int"), .int("int", bitOffset: 8), false),
        .init("int vs pointer", .int("long", size: 8), .pointer(.void), false),
        .init("enum vs its flavor", .enumeration("state", ["A"]), .enumeration("state___v2", ["B"]), true),
        .init("enums of other names", .enumeration("state", ["A"]), .enumeration("mode", ["A"]), false),
        .init("anonymous enum vs named enum", .enumeration("", ["A"]), .enumeration("mode", ["A"]), true),
        .init("enum vs enum64 of the same name", .enumeration("e", ["A"]), .enum64("e", ["A"]), true),
        .init("forwards of the same name", .forward("s"), .forward("s"), true),
        .init("forwards of other names", .forward("s"), .forward("t"), false),
        .init("forward vs struct of the same name", .forward("s"), .structure("s", []), false),
        .init("arrays of other lengths", .array(.int("int"), count: 2), .array(.int("int"), count: 16), true),
        .init("array of int vs array of struct", .array(.int("int"), count: 2), .array(.structure("s", []), count: 2), false),
        .init("typedef and const volatile skipped", .typedef("u32", .int("unsigned int")), .const(.volatile(.int("int"))), true),
        .init("prototypes (not a field type)", .prototype(.void, []), .prototype(.void, []), false),
    ]

    @Test("fieldsAreCompatible follows bpf_core_fields_are_compat", arguments: fieldsAreCompatibleRows)
    func fieldsAreCompatibleTable(_ row: RuleRow) throws {
        #expect(try row.apply { try fieldsAreCompatible(local: $0, $1, target: $2, $3) } == row.expected)
    }

    // MARK: - __bpf_core_types_match (type_matches)

    /// `__bpf_core_types_match` (and `bpf_core_names_match`, `bpf_core_enums_match`,
    /// `bpf_core_composites_match`): names must match after typedefs are skipped (an anonymous
    /// target only an anonymous local); kinds must be equal, except a struct/union behind a pointer
    /// also matches a forward of the same flavor and enums match enum64s; ints need equal size and
    /// sign; arrays equal lengths; every local member needs a same-named target member of a matching
    /// type (only name and kind behind a pointer); enums equal sizes and every local enumerator
    /// name in the target; prototypes arity, parameters and return type; floats never match.
    static let typesMatchRows: [RuleRow] = [
        .init("equal ints", .int("int", signed: true), .int("int", signed: true), true),
        .init("ints of other sizes", .int("int"), .int("int", size: 8), false),
        .init("ints of other signs", .int("int", signed: true), .int("int"), false),
        .init("local members a subset of the target's", .structure("s", [("a", .int("int"))]),
              .structure("s", [("b", .int("int")), ("a", .int("int"))]), true),
        .init("a local member missing from the target", .structure("s", [("a", .int("int")), ("b", .int("int"))]),
              .structure("s", [("a", .int("int"))]), false),
        .init("a member of another size", .structure("s", [("a", .int("int"))]), .structure("s", [("a", .int("int", size: 8))]), false),
        .init("struct vs union", .structure("s", []), .union("s", []), false),
        .init("structs of other names", .structure("s", []), .structure("t", []), false),
        .init("struct vs its flavor", .structure("s___old", []), .structure("s", []), true),
        .init("typedef at the root skipped before the names", .typedef("alias", .structure("s", [])), .structure("s", []), true),
        .init("anonymous member type vs named one", .structure("s", [("a", .structure("", []))]),
              .structure("s", [("a", .structure("n", []))]), false),
        .init("anonymous member types", .structure("s", [("a", .structure("", [("x", .int("int"))]))]),
              .structure("s", [("a", .structure("", [("x", .int("int"))]))]), true),
        .init("behind a pointer: only names and kinds", .pointer(.structure("s", [("a", .int("int"))])),
              .pointer(.structure("s", [("b", .pointer(.void))])), true),
        .init("behind a pointer: struct vs struct forward", .pointer(.structure("s", [])), .pointer(.forward("s")), true),
        .init("behind a pointer: union vs union forward", .pointer(.union("u", [])), .pointer(.forward("u", union: true)), true),
        .init("behind a pointer: struct vs union forward", .pointer(.structure("s", [])), .pointer(.forward("s", union: true)), false),
        .init("forward vs struct, not behind a pointer", .forward("s"), .structure("s", []), false),
        .init("forwards of the same flavor", .forward("s"), .forward("s"), true),
        .init("enum enumerators a subset, in another order", .enumeration("e", ["A", "B"]), .enumeration("e", ["C", "B", "A"]), true),
        .init("a local enumerator missing", .enumeration("e", ["A", "D"]), .enumeration("e", ["A", "B"]), false),
        .init("enumerator flavors", .enumeration("e", ["A___1"]), .enumeration("e", ["A"]), true),
        .init("enums of other sizes", .enumeration("e", ["A"], size: 4), .enumeration("e", ["A"], size: 8), false),
        .init("enum vs enum64 of one size", .enumeration("e", ["A"], size: 8), .enum64("e", ["A"]), true),
        .init("arrays of one length", .array(.int("int"), count: 4), .array(.int("int"), count: 4), true),
        .init("arrays of other lengths", .array(.int("int"), count: 4), .array(.int("int"), count: 5), false),
        .init("equal prototypes", .prototype(.void, [.int("int")]), .prototype(.void, [.int("int")]), true),
        .init("prototypes of other arity", .prototype(.void, [.int("int")]), .prototype(.void, []), false),
        .init("floats (unexpected kind)", .float("double", size: 8), .float("double", size: 8), false),
    ]

    @Test("typesMatch follows __bpf_core_types_match", arguments: typesMatchRows)
    func typesMatchTable(_ row: RuleRow) throws {
        #expect(try row.apply { try typesMatch(local: $0, $1, target: $2, $3) } == row.expected)
    }

    // MARK: - Enumerator matching (enumval_exists, enumval_value)

    /// The enum branch of `bpf_core_spec_match`: the target (typedefs skipped) must be an ENUM or
    /// ENUM64 with an enumerator of the local enumerator's essential name; the first such one is
    /// taken. Values are not compared.
    static let enumeratorRows: [EnumeratorRow] = [
        .init("same name, other position", local: "A", .enumeration("e", ["B", "A"]), expected: 1),
        .init("local flavor stripped", local: "A___old", .enumeration("e", ["A"]), expected: 0),
        .init("target flavor stripped", local: "A", .enumeration("e", ["B", "A___new"]), expected: 1),
        .init("first of two flavors", local: "A___x", .enumeration("e", ["A___y", "A"]), expected: 0),
        .init("a longer name is another name", local: "A", .enumeration("e", ["AB"]), expected: nil),
        .init("enum64 target", local: "A", .enum64("e", ["A"]), expected: 0),
        .init("typedef to an enum", local: "A", .typedef("t", .enumeration("e", ["A"])), expected: 0),
        .init("not an enum", local: "A", .structure("e", [("A", .int("int"))]), expected: nil),
    ]

    @Test("enumerator matching follows bpf_core_spec_match", arguments: enumeratorRows)
    func enumeratorTable(_ row: EnumeratorRow) throws {
        let (local, localEnum) = BuiltType.enumeration("e", ["X", row.local]).built()
        let (target, t) = row.target.built()
        let spec = CORESpec(rootTypeID: localEnum, relocationKind: .enumValue,
                            accessors: [COREAccessor(typeID: localEnum, index: 1, name: Array(row.local.utf8))], rawSpec: [1])
        let matched = try spec.match(local: COREBTF(local), target: COREBTF(target), candidate: t)
        #expect(matched?.accessors.first?.index == row.expected)
        #expect(matched?.rawSpec == row.expected.map { [$0] })
    }

    // MARK: - Flavors (bpf_core_essential_name_len)

    /// `bpf_core_essential_name_len` with `bpf_core_is_flavor_sep`: the name up to the last `X___Y`
    /// where neither X nor Y is an underscore.
    static let essentialNameRows: [(String, String)] = [
        ("task_struct", "task_struct"),
        ("task_struct___2", "task_struct"),
        ("task_struct___old___2", "task_struct___old"),
        ("a___b___", "a"),
        ("a____b", "a____b"),       // four underscores: X or Y would be '_'
        ("_x___y", "_x"),
        ("x___", "x___"),           // nothing after the separator
        ("___x", "___x"),
        ("x___y", "x"),
        ("", ""),
    ]

    @Test("essential names drop the last ___flavor", arguments: essentialNameRows)
    func essentialNames(_ name: String, _ essential: String) {
        #expect(String(decoding: Array(name.utf8)[..<essentialNameLength(Array(name.utf8)[...])], as: UTF8.self) == essential)
    }

    // MARK: - libbpf itself

    /// libbpf's `bpf_core_types_are_compat`, `bpf_core_types_match` and
    /// `bpf_core_essential_name_len` (global in libbpf.a, not exported by libbpf.so).
    static let libbpfRules = Result<String, any Error> {
        try TestSupport.buildCHelper(TestSupport.packageRoot + "/tools/core-rules.c", named: "core-rules",
                                     libraries: ["-Wl,-Bstatic", "-lbpf", "-Wl,-Bdynamic", "-lelf", "-lz"])
    }

    @Test("libbpf's own bpf_core_types_are_compat, bpf_core_types_match and essential names give the tables' values")
    func tablesAgreeWithLibbpf() throws {
        let tool = try Self.libbpfRules.get()
        let directory = TestSupport.cache + "/core-rules-btf"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (rule, rows) in [("compat", Self.typesAreCompatibleRows), ("match", Self.typesMatchRows)] {
            for (i, row) in rows.enumerated() {
                let (local, l) = row.local.built(), (target, t) = row.target.built()
                let localPath = directory + "/\(rule)-\(i)-local.btf", targetPath = directory + "/\(rule)-\(i)-target.btf"
                try FileIO.writeAtomically(local.serialized(), to: localPath)
                try FileIO.writeAtomically(target.serialized(), to: targetPath)
                let run = try TestSupport.run(tool, [localPath, "\(l.rawValue)", targetPath, "\(t.rawValue)"])
                let output = String(decoding: run.stdout, as: UTF8.self)
                #expect(run.status == 0 && output.contains("\(rule) \(row.expected ? 1 : 0)\n"),
                        "\(row.testDescription): libbpf says \(output) \(run.stderr)")
            }
        }
        for (name, essential) in Self.essentialNameRows {
            let run = try TestSupport.run(tool, ["--essential", name])
            #expect(String(decoding: run.stdout, as: UTF8.self) == "\(essential.utf8.count)\n", "\(name)")
        }
    }

    /// `bpf_core_add_cands`: target types of the local type's essential name (the target's flavor
    /// dropped too) and a CO-RE compatible kind, in id order; an anonymous local type has none.
    @Test("candidates: essential names on both sides, compatible kinds, id order")
    func candidates() throws {
        var b = TypeBuilder()
        let names = ["task", "task___2", "taskx", "task___old___v", "task"]
        for name in names { _ = b.add(.structure(name, [])) }
        _ = b.add(.union("task", []))
        let target = b.btf()
        let relocator = CORERelocator(target: target)
        let expectations: [(String, BuiltType, [UInt32]?)] = [
            ("plain name", .structure("task", []), [1, 2, 5]),
            ("local flavor", .structure("task___v1", []), [1, 2, 5]),
            ("union: union candidates only", .union("task___u", []), [6]),
            ("a flavor's essential name keeps its inner ___", .structure("task___old___x", []), [4]),
            ("no such name", .structure("tas", []), []),
            ("anonymous", .structure("", []), nil),
        ]
        for (what, local, expected) in expectations {
            let (btf, id) = local.built()
            #expect(relocator.candidates(for: id, in: btf)?.map(\.rawValue) == expected, "\(what)")
        }
    }
}

// MARK: - Building the types

/// A type written as a value, built into a fresh BTF whose last type is the root.
indirect enum BuiltType: Sendable, CustomStringConvertible {
    case void
    case int(String, size: UInt32 = 4, signed: Bool = false, bitOffset: UInt32 = 0)
    case pointer(BuiltType)
    case array(BuiltType, count: UInt32)
    /// A struct, or a union with `union`.
    case composite(String, [BuiltMember], union: Bool)
    case forward(String, union: Bool = false)
    case enumeration(String, [String], size: UInt32 = 4)
    case enum64(String, [String])
    case typedef(String, BuiltType)
    case const(BuiltType)
    case volatile(BuiltType)
    case float(String, size: UInt32)
    case prototype(BuiltType, [BuiltType])

    static func structure(_ name: String, _ members: [(String, BuiltType)]) -> BuiltType {
        .composite(name, members.map { BuiltMember(name: $0.0, type: $0.1) }, union: false)
    }

    static func union(_ name: String, _ members: [(String, BuiltType)]) -> BuiltType {
        .composite(name, members.map { BuiltMember(name: $0.0, type: $0.1) }, union: true)
    }

    /// The BTF holding this type and what it refers to, and the type's id.
    func built() -> (BTF, TypeID) {
        var b = TypeBuilder()
        let id = b.add(self)
        return (b.btf(), id)
    }

    var description: String {
        switch self {
        case .void: "void"
        case let .int(name, size, signed, bitOffset):
            "\(signed ? "signed " : "")\(name)/\(size)\(bitOffset > 0 ? " at bit \(bitOffset)" : "")"
        case .pointer(let t): "\(t) *"
        case let .array(t, count): "\(t)[\(count)]"
        case let .composite(name, members, union):
            "\(union ? "union" : "struct") \(name) {\(members.map(\.description).joined(separator: "; "))}"
        case let .forward(name, union): "\(union ? "union" : "struct") \(name);"
        case let .enumeration(name, values, size): "enum \(name)/\(size) {\(values.joined(separator: ", "))}"
        case let .enum64(name, values): "enum64 \(name) {\(values.joined(separator: ", "))}"
        case let .typedef(name, t): "typedef \(t) \(name)"
        case .const(let t): "const \(t)"
        case .volatile(let t): "volatile \(t)"
        case let .float(name, size): "\(name)/\(size)"
        case let .prototype(returns, parameters): "\(returns) (\(parameters.map(\.description).joined(separator: ", ")))"
        }
    }
}

struct BuiltMember: Sendable, CustomStringConvertible {
    var name: String
    var type: BuiltType
    var description: String { "\(type) \(name)" }
}

/// Adds `BuiltType`s to a `BTFBuilder`, children first.
struct TypeBuilder {
    var b = BTFBuilder()

    mutating func add(_ type: BuiltType) -> TypeID {
        switch type {
        case .void:
            return .void
        case let .int(name, size, signed, bitOffset):
            let encoding: UInt32 = signed ? 1 : 0
            return b.add(TypeRecord(kind: .int, name: b.addString(name), sizeOrType: size,
                                    extra: [encoding << 24 | bitOffset << 16 | size * 8]))
        case .pointer(let target):
            let t = add(target)
            return b.add(TypeRecord(kind: .pointer, name: .empty, sizeOrType: t.rawValue))
        case let .array(element, count):
            let e = add(element)
            let index = add(.int("__ARRAY_SIZE_TYPE__"))
            return b.add(TypeRecord(kind: .array, name: .empty, sizeOrType: 0, extra: [e.rawValue, index.rawValue, count]))
        case let .composite(name, members, union):
            let ids = members.map { add($0.type) }
            var extra: [UInt32] = []
            for (i, (member, id)) in zip(members, ids).enumerated() {
                extra += [b.addString(member.name).rawValue, id.rawValue, UInt32(i * 64)]
            }
            return b.add(TypeRecord(kind: union ? .union : .structure, name: b.addString(name), vlen: members.count,
                                    sizeOrType: UInt32(members.count * 8), extra: extra))
        case let .forward(name, union):
            return b.add(TypeRecord(kind: .forward, name: b.addString(name), kindFlag: union, sizeOrType: 0))
        case let .enumeration(name, values, size):
            var extra: [UInt32] = []
            for (i, value) in values.enumerated() { extra += [b.addString(value).rawValue, UInt32(i)] }
            return b.add(TypeRecord(kind: .enumeration, name: b.addString(name), vlen: values.count, sizeOrType: size, extra: extra))
        case let .enum64(name, values):
            var extra: [UInt32] = []
            for (i, value) in values.enumerated() { extra += [b.addString(value).rawValue, UInt32(i), 0] }
            return b.add(TypeRecord(kind: .enum64, name: b.addString(name), vlen: values.count, sizeOrType: 8, extra: extra))
        case let .typedef(name, target):
            let t = add(target)
            return b.add(TypeRecord(kind: .typedef, name: b.addString(name), sizeOrType: t.rawValue))
        case .const(let target):
            let t = add(target)
            return b.add(TypeRecord(kind: .const, name: .empty, sizeOrType: t.rawValue))
        case .volatile(let target):
            let t = add(target)
            return b.add(TypeRecord(kind: .volatile, name: .empty, sizeOrType: t.rawValue))
        case let .float(name, size):
            return b.add(TypeRecord(kind: .float, name: b.addString(name), sizeOrType: size))
        case let .prototype(returns, parameters):
            let r = add(returns)
            let ids = parameters.map { add($0) }
            return b.add(TypeRecord(kind: .functionPrototype, name: .empty, vlen: ids.count, sizeOrType: r.rawValue,
                                    extra: ids.flatMap { [0, $0.rawValue] }))
        }
    }

    func btf() -> BTF { b.build() }
}

/// One row of a rule table: the rule applied to `local` and `target` gives `expected`.
struct RuleRow: Sendable, CustomTestStringConvertible {
    var name: String
    var local: BuiltType
    var target: BuiltType
    var expected: Bool

    init(_ name: String, _ local: BuiltType, _ target: BuiltType, _ expected: Bool) {
        self.name = name; self.local = local; self.target = target; self.expected = expected
    }

    var testDescription: String { "\(name): \(local) vs \(target) → \(expected)" }

    /// The rule's answer for the built local and target types.
    func apply(_ rule: (BTF, TypeID, BTF, TypeID) throws -> Bool) throws -> Bool {
        let (localBTF, l) = local.built(), (targetBTF, t) = target.built()
        return try rule(localBTF, l, targetBTF, t)
    }
}

/// One row of the enumerator table: the local enumerator name, the target type, the index of the
/// target enumerator it matches (`nil`: none).
struct EnumeratorRow: Sendable, CustomTestStringConvertible {
    var name: String
    var local: String
    var target: BuiltType
    var expected: Int?

    init(_ name: String, local: String, _ target: BuiltType, expected: Int?) {
        self.name = name; self.local = local; self.target = target; self.expected = expected
    }

    var testDescription: String { "\(name): \(local) in \(target) → \(expected.map(String.init) ?? "none")" }
}
