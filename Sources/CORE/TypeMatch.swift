import BTF

/// libbpf's `bpf_core_names_match`: an anonymous target name matches only an anonymous local name;
/// otherwise the essential names must be equal.
func namesMatch(local: BTF, _ localName: StringOffset, target: BTF, _ targetName: StringOffset) -> Bool {
    let l = local.nameBytes(localName), t = target.nameBytes(targetName)
    if t.isEmpty { return l.isEmpty }
    return essentialNamesEqual(l, t)
}

/// libbpf's `bpf_core_enums_match`: equal sizes, and every local enumerator has a target enumerator
/// of the same essential name (values are not compared; ENUM and ENUM64 may mix).
func enumsMatch(local: BTF, _ l: BTFType, target: BTF, _ t: BTFType) -> Bool {
    guard l.size == t.size, l.vlen <= t.vlen else { return false }
    for i in 0 ..< l.vlen {
        let localName = local.enumeratorNameOffset(l, at: i)
        let found = (0 ..< t.vlen).contains {
            namesMatch(local: local, localName, target: target, target.enumeratorNameOffset(t, at: $0))
        }
        if !found { return false }
    }
    return true
}

/// libbpf's `bpf_core_composites_match`: every local member has a same-named target member whose
/// type matches (checked recursively with one level less).
func compositesMatch(local: BTF, _ l: BTFType, target: BTF, _ t: BTFType, behindPointer: Bool,
                     level: Int) throws(COREFailure) -> Bool {
    guard l.vlen <= t.vlen else { return false }
    for i in 0 ..< l.vlen {
        let localMember = local.member(of: l, at: i)
        var matched = false
        for j in 0 ..< t.vlen {
            let targetMember = target.member(of: t, at: j)
            guard namesMatch(local: local, localMember.nameOffset, target: target, targetMember.nameOffset) else { continue }
            if try typesMatch(local: local, localMember.type, target: target, targetMember.type,
                              behindPointer: behindPointer, level: level - 1) {
                matched = true
                break
            }
        }
        if !matched { return false }
    }
    return true
}

/// libbpf's `__bpf_core_types_match` (entered with `behind_ptr` false and level 32): the stricter
/// check behind `type_matches`. After skipping modifiers and typedefs, names must match; kinds must
/// be equal except that a struct/union behind a pointer also matches a forward declaration of the
/// same flavor and ENUM matches ENUM64; ints need equal size and signedness; arrays equal counts;
/// structs/unions are compared member by member unless behind a pointer; function prototypes by
/// arity, parameters and return type. Floats and other kinds never match (libbpf warns).
func typesMatch(local: BTF, _ localID: TypeID, target: BTF, _ targetID: TypeID,
                behindPointer: Bool = false, level: Int = 32) throws(COREFailure) -> Bool {
    if level <= 0 { throw COREFailure(.invalidBTF("type match nested deeper than 32 levels")) }
    var localID = localID, targetID = targetID, behindPointer = behindPointer
    var depth = 32
    while true {
        depth -= 1
        if depth < 0 { throw COREFailure(.invalidBTF("type match chain longer than 32 steps")) }
        guard let l = local.skipModifiersAndTypedefs(localID), let t = target.skipModifiersAndTypedefs(targetID) else {
            throw COREFailure(.invalidBTF("type \(localID) or \(targetID) does not exist"))
        }
        localID = l; targetID = t
        let localName = l == .void ? StringOffset.empty : local.type(l).nameOffset
        let targetName = t == .void ? StringOffset.empty : target.type(t).nameOffset
        guard namesMatch(local: local, localName, target: target, targetName) else { return false }
        let localKind = local.coreKind(l), targetKind = target.coreKind(t)

        switch localKind {
        case nil:
            return targetKind == nil
        case .forward:
            let localFlag = local.type(l).kindFlag
            if behindPointer {
                if targetKind == .forward { return localFlag == target.type(t).kindFlag }
                // A forward declaration's kind_flag says struct (0) or union (1).
                return (targetKind == .structure && !localFlag) || (targetKind == .union && localFlag)
            }
            guard targetKind == .forward else { return false }
            return localFlag == target.type(t).kindFlag
        case .enumeration, .enum64:
            guard targetKind?.isEnum == true else { return false }
            return enumsMatch(local: local, local.type(l), target: target, target.type(t))
        case .structure, .union:
            if behindPointer {
                if localKind == targetKind { return true }
                guard targetKind == .forward else { return false }
                return (localKind == .union) == target.type(t).kindFlag
            }
            guard localKind == targetKind else { return false }
            return try compositesMatch(local: local, local.type(l), target: target, target.type(t),
                                       behindPointer: behindPointer, level: level)
        case .int:
            guard targetKind == .int else { return false }
            let lt = local.type(l), tt = target.type(t)
            let localSigned = local.intInfo(lt).encoding.contains(.signed)
            let targetSigned = target.intInfo(tt).encoding.contains(.signed)
            return lt.size == tt.size && localSigned == targetSigned
        case .pointer:
            guard targetKind == .pointer else { return false }
            behindPointer = true
            localID = local.type(l).referencedType
            targetID = target.type(t).referencedType
        case .array:
            guard targetKind == .array else { return false }
            let la = local.array(local.type(l)), ta = target.array(target.type(t))
            guard la.count == ta.count else { return false }
            localID = la.elementType
            targetID = ta.elementType
        case .functionPrototype:
            guard targetKind == .functionPrototype else { return false }
            let lt = local.type(l), tt = target.type(t)
            guard lt.vlen == tt.vlen else { return false }
            for i in 0 ..< lt.vlen {
                guard try typesMatch(local: local, local.parameter(of: lt, at: i).type, target: target,
                                     target.parameter(of: tt, at: i).type, behindPointer: behindPointer,
                                     level: level - 1) else { return false }
            }
            localID = lt.referencedType
            targetID = tt.referencedType
        default:
            return false
        }
    }
}
