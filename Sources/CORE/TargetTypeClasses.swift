import BTF
import CLinuxShims

/// Classes of a target BTF's types that CO-RE field and enumerator matching cannot tell apart, so
/// that a relocation shape is matched once per class of candidates rather than once per candidate.
///
/// A kernel whose BTF was not deduplicated (CentOS 8's 4.18.0-147: 898,539 types) holds one copy of
/// `task_struct`, and of what it embeds, per compilation unit: 811 copies, identical but for their
/// type ids. libbpf matches every one of them. Matching a field (`bpf_core_spec_match`) reads, at
/// each step of the access path, one struct or union: its members' names and offsets, what
/// `bpf_core_fields_are_compat` reads of the type of the member it finds, and the anonymous members
/// it looks inside on the way. Three kinds of class capture that, each exact (records are interned
/// by their full encoding; a hash only finds a class's first member, whose record is compared):
/// - the *field* class of a type: its chain of modifiers, typedefs and arrays down to a base type,
///   of which a struct or union counts only its name, size and member count and a pointer not its
///   pointee (what `bpf_core_fields_are_compat` and `bpf_core_calc_field_relo` read of a field);
/// - the *record* class of a struct or union: its own record, member types left out;
/// - the *shallow* class: the record with each member's field class, or for an anonymous member,
///   its shallow class (everything a search for a name inside it reads).
/// Two candidates match a relocation alike when, at every step of the path the first one's match
/// walked (`Path`), their types have the same record class and the members that step read have the
/// same classes (libbpf's value computations, `bpf_core_calc_field_relo` and
/// `bpf_core_calc_enumval_relo`, read no more). Type-based relocations look behind pointers, so they
/// do not use classes.
///
/// A class is numbered by the id of its first member, shallow and record classes carrying a tag
/// bit. A reference loop that does not pass through a pointer (malformed BTF only), nesting beyond
/// `maxDepth` or ids too large for the tags turn classes off for the kernel: every type is then its
/// own class.
struct TargetTypeClasses {
    /// The fewest candidates of one relocation worth classifying: a class costs a walk over a
    /// candidate's members, repaid only by copies (a deduplicated kernel has one or two per name).
    static let minimumCandidates = 8

    enum Space: Int { case field = 0, shallow = 1, record = 2 }

    private let btf: BTF
    /// Per kind of class, per type id: the class, 0 while not computed, `inProgress` meanwhile.
    private var memo: [[UInt32]]
    /// Open addressing over encoding hashes: per slot, the hash and the class (0: empty slot).
    private var slotHashes: [UInt64]
    private var slotClasses: [UInt32]
    private var used = 0
    /// Set when a loop or excessive depth was met: from then on every type is its own class.
    private var disabled = false
    private static let inProgress = UInt32.max
    private static let tags: [UInt32] = [0, 1 << 31, 1 << 30]
    private static let idMask: UInt32 = (1 << 30) - 1
    /// Far beyond C's nesting of arrays, typedefs and anonymous members.
    private static let maxDepth = 64

    init(_ btf: BTF) {
        self.btf = btf
        let none = [UInt32](repeating: 0, count: btf.typeCount)
        memo = [none, none, none]
        slotHashes = [UInt64](repeating: 0, count: 4096)
        slotClasses = [UInt32](repeating: 0, count: 4096)
        disabled = btf.typeCount > Int(Self.idMask)
    }

    /// The record class of `id`, the key candidates are grouped by.
    mutating func recordClass(_ id: TypeID) -> UInt32 { top(id, .record) }

    /// The class of member `index` of the struct or union `id` as a match reads it: its type's
    /// shallow class when it is anonymous (a match looks inside), else its field class.
    mutating func memberClass(of id: TypeID, at index: Int) -> UInt32 {
        let member = btf.member(of: btf.type(id), at: index)
        let space: Space = isAnonymous(member) ? .shallow : .field
        // Most members' types are classified already: looked up before any call.
        if !disabled, member.type.index < btf.typeCount {
            let known = memo[space.rawValue][member.type.index]
            if known != 0 && known != Self.inProgress { return known }
        }
        return top(member.type, space)
    }

    private mutating func top(_ id: TypeID, _ space: Space) -> UInt32 {
        let own = id.rawValue | Self.tags[space.rawValue]
        if disabled { return own }
        let found = classOf(id, space, depth: 0)
        return disabled ? own : found
    }

    private mutating func classOf(_ id: TypeID, _ space: Space, depth: Int) -> UInt32 {
        if id == .void { return 0 }
        guard id.index < btf.typeCount, depth < Self.maxDepth, !disabled else {
            disabled = true
            return 0
        }
        // Checked before the record is read: most lookups are of types already classified.
        let known = memo[space.rawValue][id.index]
        if known == Self.inProgress { disabled = true; return 0 }
        if known != 0 { return known }
        let t = btf.type(id)
        // Only structs, unions, modifiers and typedefs have shallow and record classes of their
        // own; for other kinds they are the field class (remembered as such).
        if space != .field && !(t.kind == .structure || t.kind == .union || t.kind.isModifierOrTypedef) {
            let found = classOf(id, .field, depth: depth)
            if !disabled { memo[space.rawValue][id.index] = found }
            return found
        }
        memo[space.rawValue][id.index] = Self.inProgress
        var hash = mix(mix(0x243F_6A88_85A3_08D3 &+ UInt64(space.rawValue), t.nameOffset.rawValue), t.info)
        switch t.kind {
        case .pointer:
            break   // the pointee is not part of the class
        case .int, .float, .enumeration, .enum64, .forward:
            let start = Int(btf.typeStarts[id.index])
            for word in btf.words[start + 2 ..< start + btf.recordWordCount(id)] { hash = mix(hash, word) }
        case .typedef, .volatile, .const, .restrict, .typeTag:
            hash = mix(hash, classOf(TypeID(t.sizeOrType), space, depth: depth + 1))
        case .array:
            let array = btf.array(t)
            hash = mix(mix(mix(hash, classOf(array.elementType, .field, depth: depth + 1)),
                           classOf(array.indexType, .field, depth: depth + 1)), array.count)
        case .structure, .union:
            hash = mix(hash, t.sizeOrType)
            if space == .record {
                // `intern` compares a record with its class's first member word by word anyway, so
                // the hash need only keep different records apart: its first and last members do.
                // (Hashing all of them cost as much as the comparison, for each of 811 copies.)
                for i in 0 ..< min(t.vlen, 4) { hash = mixMember(hash, btf.member(of: t, at: i)) }
                if t.vlen > 4 { hash = mixMember(hash, btf.member(of: t, at: t.vlen - 1)) }
            } else if space == .shallow {
                for i in 0 ..< t.vlen {
                    let member = btf.member(of: t, at: i)
                    hash = mixMember(hash, member)
                    hash = mix(hash, classOf(member.type, isAnonymous(member) ? .shallow : .field, depth: depth + 1))
                }
            }
        default:
            // Functions, variables, sections, tags and unknown kinds: matching never compares them.
            memo[space.rawValue][id.index] = id.rawValue | Self.tags[space.rawValue]
            return id.rawValue | Self.tags[space.rawValue]
        }
        if disabled { return 0 }
        let found = intern(id, space, hash: hash)
        memo[space.rawValue][id.index] = found
        return found
    }

    /// `bpf_core_match_member`'s test for a member to look inside.
    private func isAnonymous(_ member: BTFMember) -> Bool {
        let offset = Int(member.nameOffset.rawValue)
        return offset >= btf.strings.count || btf.strings[offset] == 0
    }

    /// The class of `id` whose encoding hashes to `hash`: an existing class whose first member has
    /// an equal record, else a new class of its own.
    private mutating func intern(_ id: TypeID, _ space: Space, hash: UInt64) -> UInt32 {
        let key = hash | 1   // never 0, the empty slot's
        let tag = Self.tags[space.rawValue]
        let mask = slotHashes.count - 1
        var i = Int(truncatingIfNeeded: key >> 20) & mask
        while slotClasses[i] != 0 {
            if slotHashes[i] == key, slotClasses[i] & ~Self.idMask == tag,
               sameRecord(id, TypeID(slotClasses[i] & Self.idMask), space) {
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

    /// Whether `a` and `b`, whose referenced types have their classes, encode alike in `space`.
    private func sameRecord(_ a: TypeID, _ b: TypeID, _ space: Space) -> Bool {
        let ta = btf.type(a), tb = btf.type(b)
        guard ta.info == tb.info, ta.nameOffset == tb.nameOffset else { return false }
        let same = { (x: TypeID, y: TypeID, space: Space) -> Bool in
            if x == y { return true }
            guard x != .void, y != .void else { return false }
            return memo[space.rawValue][x.index] == memo[space.rawValue][y.index]
        }
        switch ta.kind {
        case .pointer:
            return true
        case .typedef, .volatile, .const, .restrict, .typeTag:
            return same(TypeID(ta.sizeOrType), TypeID(tb.sizeOrType), space)
        case .array:
            let x = btf.array(ta), y = btf.array(tb)
            return x.count == y.count && same(x.elementType, y.elementType, .field) && same(x.indexType, y.indexType, .field)
        case .structure, .union:
            guard ta.sizeOrType == tb.sizeOrType else { return false }
            guard space != .field else { return true }
            for i in 0 ..< ta.vlen {
                let x = btf.member(of: ta, at: i), y = btf.member(of: tb, at: i)
                guard x.nameOffset == y.nameOffset, x.rawOffset == y.rawOffset else { return false }
                if space == .shallow, !same(x.type, y.type, isAnonymous(x) ? .shallow : .field) { return false }
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
    private func mixMember(_ hash: UInt64, _ member: BTFMember) -> UInt64 {
        mix(mix(hash, member.nameOffset.rawValue), member.rawOffset)
    }

    @inline(__always)
    private func mix(_ hash: UInt64, _ word: UInt32) -> UInt64 {
        let h = (hash ^ UInt64(word)) &* 0x9E37_79B9_7F4A_7C15
        return h ^ (h >> 29)
    }
}

extension TargetTypeClasses {
    /// What one candidate's match read, step by step along its access path: at each step (0 the
    /// candidate with modifiers and typedefs skipped, then one per raw index after the first) the
    /// type's record class and the classes of the members the step read.
    struct Path {
        /// The spec's raw indices, or on a failed match those of the steps before the failing one.
        var rawIndices: [Int]
        /// Per step walked: the type's record class.
        var classes: [UInt32]
        /// Per step walked: the members read there, with their classes (`memberClass`).
        var members: [[(index: Int, class: UInt32)]]
        /// Per accessor of the matched spec, its step; empty for a failed match.
        var accessorSteps: [Int]
        /// The first step is the candidate itself (not a modifier or typedef): so is it for any
        /// candidate of the same record class.
        var startsAtCandidate: Bool
    }

    /// The path of a match on `candidate`: `spec`, or when it did not match, its `trail`. `nil` if
    /// it does not walk (not expected of what the matcher gives) or an accessor's type is not on it
    /// exactly once.
    mutating func path(from candidate: TypeID, spec: CORESpec?, trail: CORESpec.MatchTrail) -> Path? {
        let rawIndices = spec?.rawSpec ?? trail.rawIndices
        guard let types = walk(rawIndices, from: candidate) else { return nil }
        var steps: [Int] = []
        for accessor in spec?.accessors ?? [] {
            guard let step = types.firstIndex(of: accessor.typeID), types[(step + 1)...].firstIndex(of: accessor.typeID) == nil else {
                return nil
            }
            steps.append(step)
        }
        // A matched spec reads nothing past its last accessor's type: the field's own type is read
        // as a member of the struct holding it.
        let walked = spec == nil ? types.count : (steps.max() ?? 0) + 1
        var members: [[(index: Int, class: UInt32)]] = []
        for step in 0 ..< walked {
            let id = types[step]
            let t = btf.type(id)
            guard t.kind == .structure || t.kind == .union else { members.append([]); continue }
            var read: [Int] = []
            if step + 1 < rawIndices.count {
                // The path goes on through member `next`: bpf_core_match_member looked inside every
                // anonymous member before it, then took it.
                let next = rawIndices[step + 1]
                guard next >= 0, next < t.vlen else { return nil }
                read = (0 ..< next).filter { isAnonymous(btf.member(of: t, at: $0)) } + [next]
            } else if spec == nil, !trail.failingName.isEmpty {
                // The failing step: every anonymous member was looked inside, and a member of the
                // name was found incompatible (if there is one).
                read = (0 ..< t.vlen).filter { i in
                    let member = btf.member(of: t, at: i)
                    return isAnonymous(member) || btf.nameBytes(member.nameOffset).elementsEqual(trail.failingName)
                }
            }
            members.append(read.map { (index: $0, class: memberClass(of: id, at: $0)) })
        }
        return Path(rawIndices: rawIndices, classes: types.prefix(walked).map { recordClass($0) }, members: members,
                    accessorSteps: steps, startsAtCandidate: types[0] == candidate)
    }

    /// Whether `candidate`, of record class `candidateClass`, walks `path` through types of the
    /// same record classes with the same classes of the members read; if so, `spec` (the
    /// representative's) becomes the candidate's: its root and the types at the accessor steps.
    /// Runs for every candidate of every shape: no allocation.
    mutating func follow(_ path: Path, from candidate: TypeID, ofClass candidateClass: UInt32, spec: inout CORESpec) -> Bool {
        var current: TypeID
        if path.startsAtCandidate && path.classes[0] == candidateClass {
            current = candidate   // of the first step's class, not a modifier or typedef: its own first step
        } else {
            guard let skipped = btf.skipModifiersAndTypedefs(candidate), recordClass(skipped) == path.classes[0] else { return false }
            current = skipped
        }
        for step in 0 ..< path.classes.count {
            if step > 0 {
                guard let next = self.step(from: current, path.rawIndices[step]), recordClass(next) == path.classes[step] else { return false }
                current = next
            }
            for member in path.members[step] where memberClass(of: current, at: member.index) != member.class { return false }
            for (accessor, accessorStep) in path.accessorSteps.enumerated() where accessorStep == step {
                spec.accessors[accessor].typeID = current
            }
        }
        spec.rootTypeID = candidate
        return true
    }

    /// Asks for what `follow` will first read of `candidate`: its entry in the record index, and,
    /// once that has arrived (`indexArrived`), its record's start and member `member`.
    func prefetch(_ candidate: TypeID, member: Int?, indexArrived: Bool) {
        guard candidate.index < btf.typeCount else { return }
        btf.typeStarts.withUnsafeBufferPointer { starts in
            guard indexArrived else { btfkit_prefetch(starts.baseAddress! + candidate.index); return }
            let start = Int(starts[candidate.index])
            btf.words.withUnsafeBufferPointer { words in
                guard start + 3 <= words.count else { return }
                btfkit_prefetch(words.baseAddress! + start)
                if let member, start + 3 + 3 * member < words.count { btfkit_prefetch(words.baseAddress! + start + 3 + 3 * member) }
            }
        }
    }

    /// The first member a path reads at its first step (for `prefetch`).
    func firstMemberRead(_ path: Path) -> Int? { path.members.first?.first?.index }

    /// The types the raw indices reach from `candidate`.
    private func walk(_ rawIndices: [Int], from candidate: TypeID) -> [TypeID]? {
        guard var current = btf.skipModifiersAndTypedefs(candidate) else { return nil }
        var types: [TypeID] = [current]
        for raw in rawIndices.dropFirst() {
            guard let next = step(from: current, raw) else { return nil }
            current = next
            types.append(current)
        }
        return types
    }

    /// One step of an access path: member `raw` of a struct or union, or an array's element, with
    /// modifiers and typedefs skipped.
    private func step(from id: TypeID, _ raw: Int) -> TypeID? {
        guard id != .void else { return nil }
        let t = btf.type(id)
        switch t.kind {
        case .structure, .union:
            guard raw >= 0, raw < t.vlen else { return nil }
            return btf.skipModifiersAndTypedefs(btf.member(of: t, at: raw).type)
        case .array:
            return btf.skipModifiersAndTypedefs(btf.array(t).elementType)
        default:
            return nil
        }
    }
}
