import BTF

/// libbpf's `bpf_core_fields_are_compat`: whether a local field type and a target field type are
/// compatible for a field relocation. Modifiers and typedefs are skipped; any two structs/unions are
/// compatible; pointers and floats always are; enums and forward declarations need equal essential
/// names (or one anonymous); ints ignore size and signedness but not a non-zero bit offset; arrays
/// compare element types.
func fieldsAreCompatible(local: BTF, _ localID: TypeID, target: BTF, _ targetID: TypeID) throws(COREFailure) -> Bool {
    var localID = localID, targetID = targetID
    // Array chains are finite in valid BTF; the bound only protects against malformed input.
    for _ in 0 ... max(local.typeCount, target.typeCount) {
        guard let l = local.skipModifiersAndTypedefs(localID), let t = target.skipModifiersAndTypedefs(targetID) else {
            throw COREFailure(.invalidBTF("field type \(localID) or \(targetID) does not exist"))
        }
        localID = l; targetID = t
        let localKind = local.coreKind(l), targetKind = target.coreKind(t)
        if localKind?.isComposite == true && targetKind?.isComposite == true { return true }
        guard kindsAreCoreCompatible(localKind, targetKind) else { return false }
        switch localKind {
        case .pointer, .float:
            return true
        case .forward, .enumeration, .enum64:
            let localName = local.typeName(l), targetName = target.typeName(t)
            let localLength = essentialNameLength(localName), targetLength = essentialNameLength(targetName)
            return localLength == 0 || targetLength == 0
                || (localLength == targetLength && localName.prefix(localLength).elementsEqual(targetName.prefix(targetLength)))
        case .int:
            return local.intInfo(local.type(l)).offset == 0 && target.intInfo(target.type(t)).offset == 0
        case .array:
            localID = local.array(local.type(l)).elementType
            targetID = target.array(target.type(t)).elementType
        default:
            return false
        }
    }
    throw COREFailure(.invalidBTF("array element chain of \(localID) does not end"))
}

/// libbpf's `bpf_core_match_member`: finds the target member named like the local accessor's member
/// in the struct/union `targetID`, descending into anonymous members. Extends `spec` (raw indices of
/// every member tried on the way, including anonymous hops, and the bit offset) like libbpf does.
/// Returns the matched member's type id, or `nil` when there is no compatible member.
func matchMember(local: BTF, _ localAccessor: COREAccessor, target: BTF, _ targetID: TypeID,
                 spec: inout CORESpec, bitOffset: inout UInt32) throws(COREFailure) -> TypeID? {
    guard let compositeID = target.skipModifiersAndTypedefs(targetID) else {
        throw COREFailure(.invalidBTF("target type \(targetID) does not exist"))
    }
    guard target.coreKind(compositeID)?.isComposite == true else { return nil }
    let localMember = local.member(of: local.type(localAccessor.typeID), at: localAccessor.index)
    let localName = local.nameBytes(localMember.nameOffset)
    let composite = target.type(compositeID)
    // Hot loop (hundreds of members times hundreds of candidates on some kernels): names are
    // compared in place in the string table instead of being sliced out.
    let strings = target.strings

    for i in 0 ..< composite.vlen {
        let member = target.member(of: composite, at: i)
        if spec.rawSpec.count == coreSpecMaxLength {
            throw COREFailure(.specTooLong("struct/union/array nesting deeper than \(coreSpecMaxLength) steps"))
        }
        // Speculate that this member is the one; undo below if not.
        bitOffset &+= member.bitOffset
        spec.rawSpec.append(i)
        let nameStart = Int(member.nameOffset.rawValue)
        if nameStart >= strings.count || strings[nameStart] == 0 {
            // An embedded anonymous struct/union: look inside.
            if let found = try matchMember(local: local, localAccessor, target: target, member.type,
                                           spec: &spec, bitOffset: &bitOffset) {
                return found
            }
        } else if cString(in: strings, at: nameStart, equals: localName) {
            spec.accessors.append(COREAccessor(typeID: compositeID, index: i, name: Array(localName)))
            guard try fieldsAreCompatible(local: local, localMember.type, target: target, member.type) else {
                spec.accessors.removeLast()
                return nil
            }
            return member.type
        }
        bitOffset &-= member.bitOffset
        spec.rawSpec.removeLast()
    }
    return nil
}

/// Whether the NUL-terminated string at `start` of `strings` is exactly `name` (libbpf's strcmp).
@inline(__always)
func cString(in strings: [UInt8], at start: Int, equals name: ArraySlice<UInt8>) -> Bool {
    var i = start
    for byte in name {
        guard i < strings.count, strings[i] == byte else { return false }
        i += 1
    }
    return i == strings.count || strings[i] == 0
}

extension CORESpec {
    /// libbpf's `bpf_core_spec_match`: matches the local spec against candidate `targetID`, producing
    /// the target spec (accessors, raw indices including anonymous-member hops, bit offset), or `nil`
    /// when the candidate does not match.
    func match(local: COREBTF, target: COREBTF, candidate targetID: TypeID) throws(COREFailure) -> CORESpec? {
        var trail = MatchTrail()
        return try match(local: local, target: target, candidate: targetID, trail: &trail)
    }

    /// Where a field match that found nothing stopped: the raw indices of the steps before the one
    /// that failed (the failing step looked in the type they lead to), and that step's member name
    /// (empty for an array index).
    struct MatchTrail {
        var rawIndices: [Int] = []
        var failingName: [UInt8] = []
    }

    /// `match(local:target:candidate:)`, also telling, when the candidate does not match, where it
    /// stopped (`trail`).
    func match(local: COREBTF, target: COREBTF, candidate targetID: TypeID, trail: inout MatchTrail) throws(COREFailure) -> CORESpec? {
        var targetSpec = CORESpec(rootTypeID: targetID, relocationKind: relocationKind)
        // libbpf's bpf_core_match_member leaves the indices of a member found incompatible in the
        // spec; the trail stops where the failing step began.
        var stepStart = 0
        defer { trail.rawIndices = Array(targetSpec.rawSpec.prefix(stepStart)) }
        let localBTF = local.btf, targetBTF = target.btf

        if relocationKind.isTypeBased {
            let matches = relocationKind == .typeMatches
                ? try typesMatch(local: localBTF, rootTypeID, target: targetBTF, targetID)
                : try typesAreCompatible(local: localBTF, rootTypeID, target: targetBTF, targetID)
            return matches ? targetSpec : nil
        }

        if relocationKind.isEnumValueBased {
            guard let enumID = targetBTF.skipModifiersAndTypedefs(targetID),
                  targetBTF.coreKind(enumID)?.isEnum == true else { return nil }
            let t = targetBTF.type(enumID)
            let localName = accessors[0].name[...]
            let localLength = essentialNameLength(localName)
            for i in 0 ..< t.vlen {
                let name = targetBTF.nameBytes(targetBTF.enumeratorNameOffset(t, at: i))
                guard essentialNameLength(name) == localLength,
                      name.prefix(localLength).elementsEqual(localName.prefix(localLength)) else { continue }
                targetSpec.accessors = [COREAccessor(typeID: enumID, index: i, name: Array(name))]
                targetSpec.rawSpec = [i]
                return targetSpec
            }
            return nil
        }

        guard relocationKind.isFieldBased else { throw COREFailure(.unrecognizedRelocation(relocationKind)) }
        var currentID = targetID
        var bitOffset: UInt32 = 0
        for (i, localAccessor) in accessors.enumerated() {
            stepStart = targetSpec.rawSpec.count
            trail.failingName = localAccessor.name
            guard let resolved = targetBTF.skipModifiersAndTypedefs(currentID) else {
                throw COREFailure(.invalidBTF("target type \(currentID) does not exist"))
            }
            currentID = resolved
            if !localAccessor.name.isEmpty {
                guard let next = try matchMember(local: localBTF, localAccessor, target: targetBTF, currentID,
                                                 spec: &targetSpec, bitOffset: &bitOffset) else { return nil }
                currentID = next
            } else {
                // For i == 0 the candidate itself plays the array element (&p[0] is the struct).
                if i > 0 {
                    guard targetBTF.coreKind(currentID) == .array else { return nil }
                    let array = targetBTF.array(targetBTF.type(currentID))
                    let flexible = isFlexibleArray(targetBTF, enclosing: targetSpec.accessors[i - 1], array)
                    guard flexible || UInt32(truncatingIfNeeded: localAccessor.index) < array.count else { return nil }
                    guard let element = targetBTF.skipModifiersAndTypedefs(array.elementType) else {
                        throw COREFailure(.invalidBTF("array element type \(array.elementType) does not exist"))
                    }
                    currentID = element
                }
                if targetSpec.rawSpec.count == coreSpecMaxLength {
                    throw COREFailure(.specTooLong("struct/union/array nesting deeper than \(coreSpecMaxLength) steps"))
                }
                targetSpec.accessors.append(COREAccessor(typeID: currentID, index: localAccessor.index))
                targetSpec.rawSpec.append(localAccessor.index)
                guard let size = target.resolveSize(currentID) else {
                    throw COREFailure(.invalidBTF("cannot resolve the size of target type \(currentID)"))
                }
                // libbpf computes idx * sz * 8 in int and adds it to a u32.
                bitOffset &+= UInt32(truncatingIfNeeded: Int64(localAccessor.index) &* Int64(Int32(truncatingIfNeeded: size)) &* 8)
            }
        }
        targetSpec.bitOffset = Int(bitOffset)
        return targetSpec
    }
}
