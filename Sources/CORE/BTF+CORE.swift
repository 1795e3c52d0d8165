import BTF

/// The small BTF helpers libbpf's CO-RE code is written in terms of (`skip_mods_and_typedefs`,
/// `btf__resolve_size`, `btf_ptr_sz`, `bpf_core_essential_name_len`), with libbpf's semantics.
/// A type id is "void" when it is 0; `nil` results stand for libbpf's NULL / negative returns.
extension BTF {
    /// libbpf's `btf__type_by_id` succeeds for `0 ..< type_cnt`; id 0 is `void`.
    func isValid(_ id: TypeID) -> Bool { id.index < typeCount }

    /// The kind of `id`; `nil` for `void` (libbpf's `BTF_KIND_UNKN`).
    @inline(__always)
    func coreKind(_ id: TypeID) -> BTFKind? { id == .void ? nil : kind(id) }

    /// libbpf's `skip_mods_and_typedefs`: follows const/volatile/restrict/type_tag and typedefs.
    /// Returns the id reached, or `nil` when an id is out of range (libbpf's NULL) or the chain
    /// loops (libbpf would spin; a malformed file must not hang us).
    func skipModifiersAndTypedefs(_ id: TypeID) -> TypeID? {
        var current = id
        var steps = 0
        while true {
            guard isValid(current) else { return nil }
            guard let kind = coreKind(current), kind.isModifierOrTypedef else { return current }
            current = type(current).referencedType
            steps += 1
            if steps > typeCount { return nil }
        }
    }

    /// libbpf's `btf__resolve_size`: the byte size of a type, looking through modifiers, typedefs,
    /// vars and arrays (multiplying element counts). `nil` stands for libbpf's -EINVAL / -E2BIG.
    func resolveSize(_ id: TypeID, pointerSize: Int) -> Int64? {
        let maxResolveDepth = 32    // MAX_RESOLVE_DEPTH
        var current = id
        var elementCount: UInt32 = 1
        var size: Int64 = -1
        var depth = 0
        resolving: while depth < maxResolveDepth, current != .void, isValid(current) {
            let t = type(current)
            switch t.kind {
            case .int, .structure, .union, .enumeration, .enum64, .dataSection, .float:
                size = Int64(t.size)
                break resolving
            case .pointer:
                size = Int64(pointerSize)
                break resolving
            case .typedef, .volatile, .const, .restrict, .variable, .declTag, .typeTag:
                current = t.referencedType
            case .array:
                let count = array(t).count
                if elementCount != 0 && count > UInt32.max / elementCount { return nil }
                elementCount &*= count
                current = array(t).elementType
            default:
                return nil
            }
            depth += 1
        }
        if size < 0 { return nil }
        if elementCount != 0 && size > Int64(UInt32.max / elementCount) { return nil }
        return Int64(elementCount) * size
    }

    /// libbpf's `btf_ptr_sz` (computed once per BTF by `COREBTF`): the size of the first 4- or 8-byte INT named like `long`, or the host
    /// pointer size (8 here) when there is none (a trimmed BTF may have no `long`).
    func determinePointerSize() -> Int {
        let longAliases: [[UInt8]] = [
            "long", "long int", "int long", "unsigned long", "long unsigned", "unsigned long int",
            "unsigned int long", "long unsigned int", "long int unsigned", "int unsigned long",
            "int long unsigned",
        ].map { Array($0.utf8) }
        for id in typeIDs {
            let t = type(id)
            guard t.kind == .int, t.size == 4 || t.size == 8 else { continue }
            let name = nameBytes(t.nameOffset)
            if longAliases.contains(where: { $0.elementsEqual(name) }) { return Int(t.size) }
        }
        return MemoryLayout<UnsafeRawPointer>.size
    }

    /// The name bytes of a type (empty for `void` and anonymous types).
    @inline(__always)
    func typeName(_ id: TypeID) -> ArraySlice<UInt8> {
        id == .void || !isValid(id) ? [] : nameBytes(type(id).nameOffset)
    }

    /// The raw 32-bit value of an ENUM enumerator, sign-extended the way libbpf reads
    /// `btf_enum.val` (an `__s32`) into a `__u64`, whatever the enum's signedness.
    func enumValueAsLibbpfReadsIt(_ t: BTFType, at index: Int) -> UInt64 {
        if t.kind == .enum64 { return enumerator(of: t, at: index).value }
        let raw = UInt32(truncatingIfNeeded: enumerator(of: t, at: index).value)
        return UInt64(bitPattern: Int64(Int32(bitPattern: raw)))
    }

    /// The name offset of the i-th enumerator of an ENUM or ENUM64.
    func enumeratorNameOffset(_ t: BTFType, at index: Int) -> StringOffset {
        enumerator(of: t, at: index).nameOffset
    }
}

/// libbpf's `bpf_core_essential_name_len`: the length of a name without its `___flavor` suffix,
/// i.e. up to the last `X___Y` where neither X nor Y is an underscore.
func essentialNameLength(_ name: ArraySlice<UInt8>) -> Int {
    name.withUnsafeBufferPointer { essentialNameLength($0, start: 0, end: $0.count) }
}

/// `essentialNameLength` of the bytes `start ..< end` of `buffer` (no copy; used on string tables).
func essentialNameLength(_ buffer: UnsafeBufferPointer<UInt8>, start: Int, end: Int) -> Int {
    let n = end - start
    let underscore = UInt8(ascii: "_")
    var i = n - 5
    while i >= 0 {
        let at = start + i
        if buffer[at] != underscore, buffer[at + 1] == underscore, buffer[at + 2] == underscore,
           buffer[at + 3] == underscore, buffer[at + 4] != underscore {
            return i + 1
        }
        i -= 1
    }
    return n
}

/// Whether two names are equal once their flavor suffixes are dropped (libbpf compares
/// `bpf_core_essential_name_len` of both, then `strncmp` over that length).
func essentialNamesEqual(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
    let la = essentialNameLength(a), lb = essentialNameLength(b)
    return la == lb && a.prefix(la).elementsEqual(b.prefix(lb))
}

/// libbpf's `btf_kind_core_compat`: same kind, or both an ENUM/ENUM64 (`nil` is void).
func kindsAreCoreCompatible(_ a: BTFKind?, _ b: BTFKind?) -> Bool {
    a == b || (a?.isEnum == true && b?.isEnum == true)
}

/// A BTF together with what libbpf caches about it (`btf->ptr_sz`), as the CO-RE rules see it.
struct COREBTF: Sendable {
    let btf: BTF
    let pointerSize: Int

    init(_ btf: BTF) {
        self.btf = btf
        pointerSize = btf.determinePointerSize()
    }

    func resolveSize(_ id: TypeID) -> Int64? { btf.resolveSize(id, pointerSize: pointerSize) }
}
