import BTF

/// libbpf's `struct bpf_core_relo_res`: the values computed for one relocation from the local spec
/// (`original*`) and from one target spec (`new*`), before they are patched into the instruction.
public struct CORERelocationValue: Sendable, Equatable {
    /// The value the compiler put in the instruction, as libbpf expects to find it.
    public var originalValue: UInt64 = 0
    /// The value to patch in.
    public var newValue: UInt64 = 0
    /// The instruction is to be poisoned (field/enumerator not found in any candidate).
    public var poison = false
    /// Whether libbpf checks that the instruction holds `originalValue` before patching.
    public var validate = true
    /// Load/store size adjustment is unsafe (sizes differ and the types are not both pointers or
    /// both unsigned ints): libbpf poisons a load/store instruction instead of patching it.
    public var failsMemorySizeAdjustment = false
    /// The field's byte size locally and in the target (0 for bitfields and non-offset relocations).
    public var originalSize: UInt32 = 0
    public var newSize: UInt32 = 0
    /// The field's type locally and in the target (set with the sizes).
    public var originalTypeID: TypeID = .void
    public var newTypeID: TypeID = .void

    public init() {}
}

/// One side's result of libbpf's `bpf_core_calc_*_relo`: a value, or a poisoning request.
enum SideValue {
    case value(UInt64, size: UInt32 = 0, typeID: TypeID = .void)
    case poison
}

extension SideValue {
    /// Whether two candidates' target values pass libbpf's ambiguity check against each other
    /// (`bpf_core_calc_relo_insn` compares the poison flag and the new value only).
    func decidesLike(_ other: SideValue) -> Bool {
        switch (self, other) {
        case (.poison, .poison): true
        case let (.value(a, _, _), .value(b, _, _)): a == b
        default: false
        }
    }
}

/// libbpf's `bpf_core_calc_field_relo` for one side (`spec == nil`: no target found).
/// `validate` is libbpf's out-parameter (only the local side sets it).
private func calcFieldRelocation(_ kind: CORERelocationKind, spec: CORESpec?, in side: COREBTF?,
                                 validate: inout Bool) throws(COREFailure) -> SideValue {
    if kind == .fieldExists { return .value(spec == nil ? 0 : 1) }
    guard let spec, let side else { return .poison }
    let btf = side.btf
    let accessor = spec.accessors[spec.accessors.count - 1]
    let bitOffset = UInt32(truncatingIfNeeded: spec.bitOffset)

    // An a[n] access: only byte offset and byte size make sense.
    if accessor.name.isEmpty {
        guard let size = side.resolveSize(accessor.typeID) else {
            throw COREFailure(.invalidBTF("cannot resolve the size of array element \(accessor.typeID)"))
        }
        validate = true
        switch kind {
        case .fieldByteOffset:
            return .value(UInt64(bitOffset / 8), size: UInt32(truncatingIfNeeded: size), typeID: accessor.typeID)
        case .fieldByteSize:
            return .value(UInt64(size))
        default:
            throw COREFailure(.notApplicableToArrayAccess(kind))
        }
    }

    let composite = btf.type(accessor.typeID)
    let member = btf.member(of: composite, at: accessor.index)
    guard let fieldTypeID = btf.skipModifiersAndTypedefs(member.type) else {
        throw COREFailure(.invalidBTF("field type \(member.type) does not exist"))
    }
    var bitSize = member.bitfieldSize
    let isBitfield = bitSize > 0
    var byteSize: UInt32
    var byteOffset: UInt32
    if isBitfield {
        byteSize = fieldTypeID == .void ? 0 : btf.type(fieldTypeID).size
        // libbpf divides by the size here; a zero-sized bitfield type would crash it.
        guard byteSize > 0 else { throw COREFailure(.invalidBTF("bitfield of zero-sized type \(fieldTypeID)")) }
        byteOffset = bitOffset / 8 / byteSize * byteSize
        // The smallest power-of-two load that covers the bitfield.
        while bitOffset &+ bitSize &- byteOffset &* 8 > byteSize &* 8 {
            if byteSize >= 8 {
                throw COREFailure(.bitfieldTooBig(kind))
            }
            byteSize *= 2
            byteOffset = bitOffset / 8 / byteSize * byteSize
        }
    } else {
        guard let size = side.resolveSize(fieldTypeID) else {
            throw COREFailure(.invalidBTF("cannot resolve the size of field type \(fieldTypeID)"))
        }
        byteSize = UInt32(truncatingIfNeeded: size)
        byteOffset = bitOffset / 8
        bitSize = byteSize &* 8
    }
    // Bitfield offsets and sizes may legitimately differ from the compiler's guess.
    validate = !isBitfield

    switch kind {
    case .fieldByteOffset:
        return isBitfield ? .value(UInt64(byteOffset)) : .value(UInt64(byteOffset), size: byteSize, typeID: fieldTypeID)
    case .fieldByteSize:
        return .value(UInt64(byteSize))
    case .fieldSigned:
        validate = true
        let fieldKind = btf.coreKind(fieldTypeID)
        let t = fieldTypeID == .void ? nil : btf.type(fieldTypeID)
        let signed = (fieldKind?.isEnum == true && t!.kindFlag)
            || (fieldKind == .int && btf.intInfo(t!).encoding.contains(.signed))
        return .value(signed ? 1 : 0)
    case .fieldLShiftU64:
        // Little-endian formula; libbpf computes it in 32 bits.
        return .value(UInt64(64 &- (bitOffset &+ bitSize &- byteOffset &* 8)))
    case .fieldRShiftU64:
        validate = true
        return .value(UInt64(64 &- bitSize))
    default:
        throw COREFailure(.unrecognizedRelocation(kind))
    }
}

/// libbpf's `bpf_core_calc_type_relo` for one side. Type-based relocations resolve to 0 (not
/// poison) when no target type is found.
private func calcTypeRelocation(_ kind: CORERelocationKind, spec: CORESpec?, in side: COREBTF?,
                                validate: inout Bool) throws(COREFailure) -> SideValue {
    validate = true
    guard let spec, let side else { return .value(0) }
    switch kind {
    case .typeIDTarget:
        // Type ids change during linking; the compiler's value is not checked.
        validate = false
        return .value(UInt64(spec.rootTypeID.rawValue))
    case .typeExists, .typeMatches:
        return .value(1)
    case .typeSize:
        guard let size = side.resolveSize(spec.rootTypeID) else {
            throw COREFailure(.invalidBTF("cannot resolve the size of \(spec.rootTypeID)"))
        }
        return .value(UInt64(size))
    default:
        throw COREFailure(.unrecognizedRelocation(kind))
    }
}

/// libbpf's `bpf_core_calc_enumval_relo` for one side.
private func calcEnumValueRelocation(_ kind: CORERelocationKind, spec: CORESpec?, in side: COREBTF?) throws(COREFailure) -> SideValue {
    switch kind {
    case .enumValueExists:
        return .value(spec == nil ? 0 : 1)
    case .enumValue:
        guard let spec, let side else { return .poison }
        let t = side.btf.type(spec.accessors[0].typeID)
        return .value(side.btf.enumValueAsLibbpfReadsIt(t, at: spec.accessors[0].index))
    default:
        throw COREFailure(.unrecognizedRelocation(kind))
    }
}

/// libbpf's `bpf_core_calc_relo`: the original (local) and new (target) values for one candidate,
/// or for no candidate (`targetSpec == nil`), with the load/store size-adjustment check.
func calcRelocation(_ kind: CORERelocationKind, localSpec: CORESpec, local: COREBTF,
                    targetSpec: CORESpec?, target: COREBTF) throws(COREFailure) -> CORERelocationValue {
    let localSide = try calcLocalSide(kind, localSpec: localSpec, local: local)
    let newValue = try calcTargetSide(kind, targetSpec: targetSpec, target: target)
    return combine(kind, localSide: localSide, newValue: newValue, local: local, target: target)
}

/// The local half of `calcRelocation`: the original value, and whether libbpf validates it.
struct LocalSideValue {
    var value: SideValue
    var validate: Bool
}

func calcLocalSide(_ kind: CORERelocationKind, localSpec: CORESpec, local: COREBTF) throws(COREFailure) -> LocalSideValue {
    var validate = true
    let value: SideValue
    if kind.isFieldBased {
        value = try calcFieldRelocation(kind, spec: localSpec, in: local, validate: &validate)
    } else if kind.isTypeBased {
        value = try calcTypeRelocation(kind, spec: localSpec, in: local, validate: &validate)
    } else {
        value = try calcEnumValueRelocation(kind, spec: localSpec, in: local)
    }
    return LocalSideValue(value: value, validate: validate)
}

/// The target half of `calcRelocation`: the new value from one candidate's spec (`nil`: none).
func calcTargetSide(_ kind: CORERelocationKind, targetSpec: CORESpec?, target: COREBTF) throws(COREFailure) -> SideValue {
    let targetSide: COREBTF? = targetSpec == nil ? nil : target
    var unusedValidate = true
    if kind.isFieldBased { return try calcFieldRelocation(kind, spec: targetSpec, in: targetSide, validate: &unusedValidate) }
    if kind.isTypeBased { return try calcTypeRelocation(kind, spec: targetSpec, in: targetSide, validate: &unusedValidate) }
    return try calcEnumValueRelocation(kind, spec: targetSpec, in: targetSide)
}

/// `calcRelocation` from its two halves.
func combine(_ kind: CORERelocationKind, localSide: LocalSideValue, newValue: SideValue,
             local: COREBTF, target: COREBTF) -> CORERelocationValue {
    var result = CORERelocationValue()
    result.validate = localSide.validate
    // libbpf stops at the first poison request (local first), leaving the rest zero.
    guard case let .value(original, originalSize, originalType) = localSide.value else {
        result.poison = true
        return result
    }
    result.originalValue = original
    result.originalSize = originalSize
    result.originalTypeID = originalType
    guard case let .value(new, newSize, newType) = newValue else {
        result.poison = true
        return result
    }
    result.newValue = new
    result.newSize = newSize
    result.newTypeID = newType

    if kind.isFieldBased, originalSize != newSize {
        // Safe only for pointers (32-bit kernel pointers read as zero-extended integers) and for
        // unsigned integers; anything else reads a wrong value.
        let originalKind = local.btf.coreKind(originalType), newKind = target.btf.coreKind(newType)
        let bothPointers = originalKind == .pointer && newKind == .pointer
        let bothUnsigned = originalKind == .int && newKind == .int
            && local.btf.intInfo(local.btf.type(originalType)).encoding != .signed
            && target.btf.intInfo(target.btf.type(newType)).encoding != .signed
        result.failsMemorySizeAdjustment = !(bothPointers || bothUnsigned)
    }
    return result
}
