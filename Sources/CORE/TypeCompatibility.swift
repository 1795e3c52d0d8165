import BTF

/// libbpf's `bpf_core_types_are_compat` (`__bpf_core_types_are_compat` with level 32): the check
/// behind `type_exists`, `type_size` and `type_id_target`. The root kinds must be CO-RE compatible;
/// then, after skipping modifiers and typedefs: structs, unions, enums, forward declarations and void
/// are compatible; ints unless one has a bit offset; pointers and arrays compare what they point
/// to / hold; function prototypes compare arity, parameters and return type. Names below the root
/// are not compared. Throws where libbpf returns -EINVAL (too deep, missing type).
func typesAreCompatible(local: BTF, _ localID: TypeID, target: BTF, _ targetID: TypeID,
                        level: Int = 32) throws(COREFailure) -> Bool {
    guard local.isValid(localID), target.isValid(targetID) else {
        throw COREFailure(.invalidBTF("type \(localID) or \(targetID) does not exist"))
    }
    guard kindsAreCoreCompatible(local.coreKind(localID), target.coreKind(targetID)) else { return false }
    var localID = localID, targetID = targetID
    var depth = 32  // libbpf's max recursion depth for the pointer/array/return-type chain
    while true {
        depth -= 1
        if depth < 0 { throw COREFailure(.invalidBTF("type compatibility check nested too deep")) }
        guard let l = local.skipModifiersAndTypedefs(localID), let t = target.skipModifiersAndTypedefs(targetID) else {
            throw COREFailure(.invalidBTF("type \(localID) or \(targetID) does not exist"))
        }
        localID = l; targetID = t
        let localKind = local.coreKind(l)
        guard kindsAreCoreCompatible(localKind, target.coreKind(t)) else { return false }
        switch localKind {
        case nil, .structure, .union, .enumeration, .forward, .enum64:
            return true
        case .int:
            return local.intInfo(local.type(l)).offset == 0 && target.intInfo(target.type(t)).offset == 0
        case .pointer:
            localID = local.type(l).referencedType
            targetID = target.type(t).referencedType
        case .array:
            localID = local.array(local.type(l)).elementType
            targetID = target.array(target.type(t)).elementType
        case .functionPrototype:
            let lt = local.type(l), tt = target.type(t)
            guard lt.vlen == tt.vlen else { return false }
            for i in 0 ..< lt.vlen {
                if level <= 0 { throw COREFailure(.invalidBTF("function prototype nesting too deep")) }
                guard let lp = local.skipModifiersAndTypedefs(local.parameter(of: lt, at: i).type),
                      let tp = target.skipModifiersAndTypedefs(target.parameter(of: tt, at: i).type) else {
                    throw COREFailure(.invalidBTF("parameter type of \(l) or \(t) does not exist"))
                }
                guard try typesAreCompatible(local: local, lp, target: target, tp, level: level - 1) else { return false }
            }
            // Tail-recurse on the return types.
            guard let lr = local.skipModifiersAndTypedefs(lt.referencedType),
                  let tr = target.skipModifiersAndTypedefs(tt.referencedType) else {
                throw COREFailure(.invalidBTF("return type of \(l) or \(t) does not exist"))
            }
            localID = lr; targetID = tr
        default:
            // libbpf warns "unexpected kind %s relocated" and says incompatible (float, var, ...).
            return false
        }
    }
}
