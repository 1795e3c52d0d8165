import BTF

/// Classes of a target BTF's types that CO-RE field and enumerator matching cannot tell apart, so
/// that a relocation shape is matched once per class of candidates rather than once per candidate.
///
/// A kernel whose BTF was not deduplicated (CentOS 8's 4.18.0-147: 898,539 types) holds one copy of
/// `task_struct`, and of what it embeds, per compilation unit: 811 copies, identical but for their
/// type ids. libbpf matches every one of them. Matching a field (`bpf_core_spec_match`) reads, at
/// each step of the access path, one struct or union: its members' names and offsets, what
/// `bpf_core_fields_are_compat` reads of their types, and, for anonymous members, the same again
/// inside them. So two types are in one *shallow* class when their records are equal word for word
/// once each member's type is replaced by its *field* class (its chain of modifiers, typedefs and
/// arrays down to a base type, of which a struct or union counts only its name, size and member
/// count; a pointer's pointee does not count), or, for an anonymous member, by its shallow class.
/// Two candidates whose types are in the same shallow classes at every step of the path one of them
/// walked (`Path`) match alike (libbpf's value computations, `bpf_core_calc_field_relo` and
/// `bpf_core_calc_enumval_relo`, read no more). Type-based relocations look behind pointers, so
/// they do not use classes.
///
/// Classes are exact: a hash only finds a class's first member, whose record is then compared word
/// for word. A class is numbered by the id of its first member; shallow classes carry the top bit.
/// A reference loop that does not pass through a pointer (malformed BTF only), or nesting beyond
/// `maxDepth`, turns classes off for the kernel: every type is then its own class.
struct TargetTypeClasses {
    /// The fewest candidates of one relocation worth classifying: a class costs a walk over a
    /// candidate's members, repaid only by copies (a deduplicated kernel has one or two per name).
    static let minimumCandidates = 8

    private let btf: BTF
    /// Per type id and kind of class: the class, 0 while not computed, `inProgress` meanwhile.
    private var fieldClasses: [UInt32]
    private var shallowClasses: [UInt32]
    /// Open addressing over encoding hashes: per slot, the hash and the class (0: empty slot).
    private var slotHashes: [UInt64]
    private var slotClasses: [UInt32]
    private var used = 0
    /// Set when a loop or excessive depth was met: from then on every type is its own class.
    private var disabled = false
    private static let inProgress = UInt32.max
    private static let shallowTag: UInt32 = 1 << 31
    /// Far beyond C's nesting of arrays, typedefs and anonymous members.
    private static let maxDepth = 64

    init(_ btf: BTF) {
        self.btf = btf
        fieldClasses = [UInt32](repeating: 0, count: btf.typeCount)
        shallowClasses = fieldClasses
        slotHashes = [UInt64](repeating: 0, count: 4096)
        slotClasses = [UInt32](repeating: 0, count: 4096)
    }

    /// The shallow class of `id`.
    mutating func shallowClass(_ id: TypeID) -> UInt32 {
        if disabled || id.rawValue >= Self.shallowTag { return id.rawValue | Self.shallowTag }
        let found = classOf(id, shallow: true, depth: 0)
        return disabled ? id.rawValue | Self.shallowTag : found
    }

    private mutating func classOf(_ id: TypeID, shallow: Bool, depth: Int) -> UInt32 {
        if id == .void { return 0 }
        guard id.index < fieldClasses.count, depth < Self.maxDepth, !disabled else {
            disabled = true
            return 0
        }
        // Checked before the record is read: most lookups are of types already classified.
        let known = shallow ? shallowClasses[id.index] : fieldClasses[id.index]
        if known == Self.inProgress { disabled = true; return 0 }
        if known != 0 { return known }
        let t = btf.type(id)
        // Outside structs, unions, modifiers and typedefs, the shallow class is the field class
        // (remembered as both).
        let isShallow = shallow && (t.kind == .structure || t.kind == .union || t.kind.isModifierOrTypedef)
        if shallow && !isShallow {
            let found = classOf(id, shallow: false, depth: depth)
            if !disabled { shallowClasses[id.index] = found }
            return found
        }
        setClass(id, isShallow, Self.inProgress)
        var hash = mix(mix(isShallow ? 0x243F_6A88_85A3_08D3 : 0x1319_8A2E_0370_7344, t.nameOffset.rawValue), t.info)
        switch t.kind {
        case .pointer:
            break   // the pointee is not part of the class
        case .int, .float, .enumeration, .enum64, .forward:
            let start = Int(btf.typeStarts[id.index])
            for word in btf.words[start + 2 ..< start + btf.recordWordCount(id)] { hash = mix(hash, word) }
        case .typedef, .volatile, .const, .restrict, .typeTag:
            hash = mix(hash, classOf(TypeID(t.sizeOrType), shallow: isShallow, depth: depth + 1))
        case .array:
            let array = btf.array(t)
            hash = mix(mix(mix(hash, classOf(array.elementType, shallow: false, depth: depth + 1)),
                           classOf(array.indexType, shallow: false, depth: depth + 1)), array.count)
        case .structure, .union:
            hash = mix(hash, t.sizeOrType)
            if isShallow {
                for i in 0 ..< t.vlen {
                    let member = btf.member(of: t, at: i)
                    let memberClass = classOf(member.type, shallow: isAnonymous(member), depth: depth + 1)
                    hash = mix(mix(mix(hash, member.nameOffset.rawValue), memberClass), member.rawOffset)
                }
            }
        default:
            // Functions, variables, sections, tags and unknown kinds: matching never compares them.
            setClass(id, isShallow, id.rawValue)
            return id.rawValue
        }
        if disabled { return 0 }
        let found = intern(id, shallow: isShallow, hash: hash)
        setClass(id, isShallow, found)
        return found
    }

    private mutating func setClass(_ id: TypeID, _ shallow: Bool, _ value: UInt32) {
        if shallow { shallowClasses[id.index] = value } else { fieldClasses[id.index] = value }
    }

    /// `bpf_core_match_member`'s test for a member to look inside.
    private func isAnonymous(_ member: BTFMember) -> Bool {
        let offset = Int(member.nameOffset.rawValue)
        return offset >= btf.strings.count || btf.strings[offset] == 0
    }

    /// The class of `id` whose encoding hashes to `hash`: an existing class whose first member has
    /// an equal record, else a new class of its own.
    private mutating func intern(_ id: TypeID, shallow: Bool, hash: UInt64) -> UInt32 {
        let key = hash | 1   // never 0, the empty slot's
        let tag = shallow ? Self.shallowTag : 0
        let mask = slotHashes.count - 1
        var i = Int(truncatingIfNeeded: key >> 20) & mask
        while slotClasses[i] != 0 {
            if slotHashes[i] == key, slotClasses[i] & Self.shallowTag == tag,
               sameRecord(id, TypeID(slotClasses[i] & ~Self.shallowTag), shallow: shallow) {
                return slotClasses[i]
            }
            i = (i + 1) & mask
        }
        slotHashes[i] = key
        slotClasses[i] = id.rawValue | tag
        used += 1
        if used * 2 > slotHashes.count { grow() }
        return id.rawValue | tag
    }

    private mutating func grow() {
        let old = zip(slotHashes, slotClasses).filter { $0.1 != 0 }
        slotHashes = [UInt64](repeating: 0, count: slotHashes.count * 2)
        slotClasses = [UInt32](repeating: 0, count: slotHashes.count)
        let mask = slotHashes.count - 1
        for (key, member) in old {
            var i = Int(truncatingIfNeeded: key >> 20) & mask
            while slotClasses[i] != 0 { i = (i + 1) & mask }
            slotHashes[i] = key
            slotClasses[i] = member
        }
    }

    /// Whether `a` and `b`, whose referenced types have their classes, encode alike.
    private func sameRecord(_ a: TypeID, _ b: TypeID, shallow: Bool) -> Bool {
        let ta = btf.type(a), tb = btf.type(b)
        guard ta.info == tb.info, ta.nameOffset == tb.nameOffset else { return false }
        let same = { (x: TypeID, y: TypeID, shallow: Bool) -> Bool in
            if x == y { return true }
            guard x != .void, y != .void else { return false }
            let classes = shallow ? shallowClasses : fieldClasses
            return classes[x.index] == classes[y.index]
        }
        switch ta.kind {
        case .pointer:
            return true
        case .typedef, .volatile, .const, .restrict, .typeTag:
            return same(TypeID(ta.sizeOrType), TypeID(tb.sizeOrType), shallow)
        case .array:
            let x = btf.array(ta), y = btf.array(tb)
            return x.count == y.count && same(x.elementType, y.elementType, false) && same(x.indexType, y.indexType, false)
        case .structure, .union:
            guard ta.sizeOrType == tb.sizeOrType else { return false }
            guard shallow else { return true }
            for i in 0 ..< ta.vlen {
                let x = btf.member(of: ta, at: i), y = btf.member(of: tb, at: i)
                guard x.nameOffset == y.nameOffset, x.rawOffset == y.rawOffset, same(x.type, y.type, isAnonymous(x)) else { return false }
            }
            return true
        default:
            let startA = Int(btf.typeStarts[a.index]), startB = Int(btf.typeStarts[b.index])
            let count = btf.recordWordCount(a)
            return count == btf.recordWordCount(b)
                && btf.words[startA + 2 ..< startA + count].elementsEqual(btf.words[startB + 2 ..< startB + count])
        }
    }

    @inline(__always)
    private func mix(_ hash: UInt64, _ word: UInt32) -> UInt64 {
        let h = (hash ^ UInt64(word)) &* 0x9E37_79B9_7F4A_7C15
        return h ^ (h >> 29)
    }
}

extension TargetTypeClasses {
    /// The access path a match walked on one candidate: the raw indices (the spec's, or on a failed
    /// match those walked up to the failing step), the shallow class at each step (0 the candidate
    /// with modifiers and typedefs skipped, then one per raw index after the first), and where each
    /// accessor of the spec sits on it.
    struct Path {
        var rawIndices: [Int]
        var classes: [UInt32]
        /// Per accessor of the matched spec, its step; empty for a failed match.
        var accessorSteps: [Int]
        /// The first step is the candidate itself (not a modifier or typedef): so is it for any
        /// candidate of the same class.
        var startsAtCandidate: Bool
    }

    /// The path `rawIndices` walks from `candidate`, with the steps of `spec`'s accessors; `nil` if
    /// it does not walk (a raw index out of range: the matcher's own state after an incompatible
    /// member, which libbpf shares) or an accessor's type is not on it once.
    mutating func path(_ rawIndices: [Int], from candidate: TypeID, spec: CORESpec?) -> Path? {
        guard var types = walk(rawIndices, from: candidate) else { return nil }
        var steps: [Int] = []
        for accessor in spec?.accessors ?? [] {
            guard let step = types.firstIndex(of: accessor.typeID), types[(step + 1)...].firstIndex(of: accessor.typeID) == nil else {
                return nil
            }
            steps.append(step)
        }
        var walked = rawIndices
        if let last = steps.max() {
            // A matched spec reads nothing past its last accessor's type: the field's own type is
            // part of the enclosing struct's shallow class.
            walked = Array(rawIndices.prefix(last + 1))
            types = Array(types.prefix(last + 1))
        }
        return Path(rawIndices: walked, classes: types.map { shallowClass($0) }, accessorSteps: steps,
                    startsAtCandidate: types[0] == candidate)
    }

    /// Whether `candidate`, of shallow class `candidateClass`, walks `path` through the same shallow
    /// classes; if so, the types at the path's accessor steps.
    mutating func follow(_ path: Path, from candidate: TypeID, ofClass candidateClass: UInt32) -> [TypeID]? {
        // A candidate of the first step's class, not a modifier or typedef, is its own first step:
        // nothing of it needs reading (the common case, a path of one step into a struct).
        let start = path.startsAtCandidate && path.classes[0] == candidateClass ? candidate : nil
        guard let types = walk(path.rawIndices, from: candidate, knownStart: start, expecting: path.classes) else { return nil }
        return path.accessorSteps.map { types[$0] }
    }

    /// The types the raw indices reach from `candidate`, each checked against `expecting` if given.
    private mutating func walk(_ rawIndices: [Int], from candidate: TypeID, knownStart: TypeID? = nil,
                               expecting: [UInt32]? = nil) -> [TypeID]? {
        guard var current = knownStart ?? btf.skipModifiersAndTypedefs(candidate) else { return nil }
        var types: [TypeID] = [current]
        types.reserveCapacity(max(1, rawIndices.count))
        if knownStart == nil, let expecting, shallowClass(current) != expecting[0] { return nil }
        for raw in rawIndices.dropFirst() {
            guard current != .void else { return nil }
            let t = btf.type(current)
            let next: TypeID
            switch t.kind {
            case .structure, .union:
                guard raw >= 0, raw < t.vlen else { return nil }
                next = btf.member(of: t, at: raw).type
            case .array:
                next = btf.array(t).elementType
            default:
                return nil
            }
            guard let skipped = btf.skipModifiersAndTypedefs(next) else { return nil }
            current = skipped
            if let expecting, shallowClass(current) != expecting[types.count] { return nil }
            types.append(current)
        }
        return types
    }
}
