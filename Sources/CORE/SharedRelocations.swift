import BTF

/// Which CO-RE relocations of several objects ask a kernel the same question, so that a sweep
/// matches each distinct question against a kernel's candidates once instead of once per object.
///
/// Objects built from the same headers (libbpf-tools all read `task_struct.tgid`, `sock` addresses
/// ...) repeat relocations whose local side differs only in type ids. Matching a local spec against
/// a target candidate (`CORESpec.match`, libbpf's `bpf_core_spec_match`) reads only part of the
/// local side, and relocations equal in that part get the same target spec from every candidate:
/// - field relocations: the kind, and per accessor its array index, or its member name and what
///   `bpf_core_fields_are_compat` looks at in the member's type (kinds through modifiers, typedefs
///   and array elements; names of enums and forward declarations; an int's bit offset);
/// - enumerator relocations: the kind and the enumerator's name;
/// - type relocations (`bpf_core_types_are_compat`, `__bpf_core_types_match` recurse through the
///   local type): the kind and the whole local type graph reachable from the root, up to renumbering.
/// Each class gets one `shape` number; a kernel's `SharedMatches` remembers matches per shape and
/// candidate. What depends on the object itself (the candidate list libbpf prunes per object, local
/// type ids, the value computation) is still done per object, so the results are those of one
/// object at a time.
public struct SharedRelocationShapes: Sendable {
    /// Per object, per relocation in `resolveAll(in:)` order: its shape, `nil` when it is not shared
    /// (`type_id_local`, an invalid local type or access string).
    public let shapes: [[Int?]]
    /// How many distinct shapes there are.
    public let count: Int
    /// The essential names of the local types the relocations search candidates for.
    public let candidateNames: Set<[UInt8]>
    /// The kinds of those local types.
    public let candidateKinds: Set<BTFKind>

    public init(objects: [BPFObject]) {
        var interned: [[UInt32]: Int] = [:]
        var names: Set<[UInt8]> = []
        var kinds: Set<BTFKind> = []
        shapes = objects.map { object in
            guard let ext = object.ext else { return [] }
            let local = COREBTF(object.btf)
            var fingerprints = LocalTypeFingerprints(btf: object.btf)
            var result: [Int?] = []
            for section in ext.coreRelocations {
                for relocation in section.records {
                    guard relocation.kind != .typeIDLocal, object.btf.isValid(relocation.typeID), relocation.typeID != .void,
                          let spec = try? CORESpec.parse(relocation: relocation, in: local),
                          let key = fingerprints.key(for: relocation, spec: spec) else {
                        result.append(nil)
                        continue
                    }
                    let name = object.btf.typeName(relocation.typeID)
                    names.insert(Array(name.prefix(essentialNameLength(name))))
                    if let kind = object.btf.coreKind(relocation.typeID) { kinds.insert(kind) }
                    if let shape = interned[key] {
                        result.append(shape)
                    } else {
                        let shape = interned.count
                        interned[key] = shape
                        result.append(shape)
                    }
                }
            }
            return result
        }
        count = interned.count
        candidateNames = names
        candidateKinds = kinds
    }
}

/// One kernel's memo of `CORESpec.match` results and target-side values by relocation shape and
/// candidate, and of candidate lists by local type name and kind.
public struct SharedMatches: Sendable {
    /// What one (shape, candidate) pair gave: the match, then the target half of the value.
    struct Entry {
        var spec: CORESpec?
        var newValue: SideValue?
    }
    /// Open addressing over `shape << 32 | candidate` (plus one, so 0 marks an empty slot): a
    /// multiplicative hash, as the lookups run for every candidate of every relocation of every object.
    private var slots = [UInt64](repeating: 0, count: 1024)
    private var slotEntries = [Int32](repeating: -1, count: 1024)
    var entries: [Entry] = []

    struct CandidateKey: Hashable {
        var name: [UInt8]
        var kind: BTFKind?
    }
    /// Candidate lists by local type name and kind: what libbpf's search depends on.
    var candidates: [CandidateKey: [TypeID]?] = [:]

    struct ResolutionKey: Hashable {
        var shape: Int
        var candidates: [TypeID]
    }
    /// Per shape and candidate list, what every object's relocation of that shape gets from the
    /// whole list (`nil`: the candidates disagree or fail, and each object walks the list itself).
    var resolutions: [ResolutionKey: SharedResolution?] = [:]

    /// The target's type classes, made on first use: only kernels with several candidates for a
    /// name need them.
    var classes: TargetTypeClasses?
    /// Per `shape << 32 | record class`: the first candidate of that class matched for the shape,
    /// whose match the others take over when they walk its path through the same classes.
    var representatives: [UInt64: ClassRepresentative] = [:]
    /// `classes(of:for:in:)` by candidate list.
    private var candidateClasses: [[TypeID]: [UInt32]] = [:]

    /// A class, not a struct: it is looked up for every candidate of its class, and a reference
    /// is retained once where a struct's copy retained each of its arrays. Only the worker that
    /// owns the `SharedMatches` holding it touches it.
    final class ClassRepresentative: @unchecked Sendable {
        let spec: CORESpec?
        /// The path its match walked; `nil`: the others match for themselves.
        let path: TargetTypeClasses.Path?
        /// The target value of the spec: equal, but for the field's type id, on all that take it over.
        var targetValue: SideValue?

        init(spec: CORESpec?, path: TargetTypeClasses.Path?) {
            self.spec = spec
            self.path = path
        }
    }
    public init() {}

    /// The record class of each of `candidates`, for matching `kind` among them by class; `nil`
    /// when classes do not apply (type-based relocations, too few candidates). Made once per list:
    /// the lists of one name repeat over shapes and objects.
    mutating func classes(of candidates: [TypeID], for kind: CORERelocationKind, in target: BTF) -> [UInt32]? {
        guard candidates.count >= TargetTypeClasses.minimumCandidates, kind.isFieldBased || kind.isEnumValueBased else { return nil }
        if let known = candidateClasses[candidates] { return known }
        if classes == nil { classes = TargetTypeClasses(target) }
        let found = candidates.map { classes!.recordClass($0) }
        candidateClasses[candidates] = found
        return found
    }

    /// The entry index of (shape, candidate), or `nil`.
    func find(shape: Int, candidate: TypeID) -> Int? {
        let key = (UInt64(shape) << 32 | UInt64(candidate.rawValue)) &+ 1
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
        while slots[i] != 0 {
            if slots[i] == key { return Int(slotEntries[i]) }
            i = (i + 1) & mask
        }
        return nil
    }

    /// Adds (shape, candidate), which must not be there yet; returns its entry index.
    mutating func insert(shape: Int, candidate: TypeID, _ entry: Entry) -> Int {
        if (entries.count + 1) * 2 > slots.count { grow() }
        let key = (UInt64(shape) << 32 | UInt64(candidate.rawValue)) &+ 1
        entries.append(entry)
        place(key, Int32(entries.count - 1))
        return entries.count - 1
    }

    private mutating func place(_ key: UInt64, _ index: Int32) {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = key
        slotEntries[i] = index
    }

    private mutating func grow() {
        let old = zip(slots, slotEntries).filter { $0.0 != 0 }
        slots = [UInt64](repeating: 0, count: slots.count * 2)
        slotEntries = [Int32](repeating: -1, count: slots.count)
        for (key, index) in old { place(key, index) }
    }
}

/// What matching a shape against a whole candidate list gave, when every candidate that matched
/// agrees with the first on the bit offset and on the target value (as libbpf's ambiguity check
/// compares them) and none failed: the relocation's outcome then depends on the object only through
/// its local value, so each object combines that with the first candidate's target value instead of
/// walking the list (hundreds of identical `task_struct` copies on a non-deduplicated kernel).
struct SharedResolution {
    /// The target specs of the matching candidates, in candidate order.
    var targetSpecs: [CORESpec]
    /// The matching candidates, the list libbpf prunes the object's candidate cache to.
    var matched: [TypeID]
    /// The first matching candidate's target value; `nil` when none matched.
    var firstTargetValue: SideValue?
}

/// Canonical encodings of local type graphs, memoized per root type.
struct LocalTypeFingerprints {
    let btf: BTF
    private var graphs: [TypeID: [UInt32]] = [:]

    init(btf: BTF) { self.btf = btf }

    /// What `CORESpec.match` reads of the relocation's local side (see `SharedRelocationShapes`), as one key.
    mutating func key(for relocation: CORERelocation, spec: CORESpec) -> [UInt32]? {
        let kind = relocation.kind
        if kind.isFieldBased {
            var key: [UInt32] = [1, kind.rawValue]
            for accessor in spec.accessors {
                if accessor.name.isEmpty {
                    key += [0, UInt32(truncatingIfNeeded: accessor.index)]
                } else {
                    key += [1, UInt32(accessor.name.count)] + accessor.name.map(UInt32.init)
                    let member = btf.member(of: btf.type(accessor.typeID), at: accessor.index)
                    guard fieldSignature(member.type, into: &key) else { return nil }
                }
            }
            return key
        }
        if kind.isEnumValueBased {
            guard let name = spec.accessors.first?.name else { return nil }
            return [2, kind.rawValue, UInt32(name.count)] + name.map(UInt32.init)
        }
        guard let graph = graph(from: relocation.typeID) else { return nil }
        return [3, kind.rawValue] + graph
    }

    /// What libbpf's `bpf_core_fields_are_compat` reads of a local field type: kinds (through
    /// modifiers, typedefs and array elements), the name of an enum or forward declaration, an
    /// int's bit offset. False if a type is invalid.
    private func fieldSignature(_ start: TypeID, into key: inout [UInt32]) -> Bool {
        var id = start
        for _ in 0 ... btf.typeCount {
            guard let resolved = btf.skipModifiersAndTypedefs(id) else { return false }
            id = resolved
            guard let kind = btf.coreKind(id) else { key.append(0xffff_ffff); return true }
            let t = btf.type(id)
            key += [UInt32(t.kindNumber), t.kindFlag ? 1 : 0]
            switch kind {
            case .forward, .enumeration, .enum64:
                let name = btf.typeName(id)
                key += [UInt32(name.count)] + name.map(UInt32.init)
                return true
            case .int:
                key.append(btf.intInfo(t).offset)
                return true
            case .array:
                id = btf.array(t).elementType
            default:
                return true
            }
        }
        return false
    }

    /// Every type reachable from `root`, numbered in breadth-first order: each record with its type
    /// ids replaced by those numbers and its string offsets by the strings themselves. Two roots
    /// with equal encodings have isomorphic graphs: whatever libbpf computes from the local types
    /// alone comes out the same for both. `nil` if a type is invalid or of a kind BTFKit does not know.
    mutating func graph(from root: TypeID) -> [UInt32]? {
        if let known = graphs[root] { return known }
        var order: [TypeID] = [root]
        var numbers: [TypeID: UInt32] = [root: 1]
        var encoding: [UInt32] = []
        var next = 0
        while next < order.count {
            let id = order[next]
            next += 1
            var record = btf.record(id)
            if record.kind == .unknown { return nil }
            var valid = true
            record.forEachTypeIDSlot { slot in
                if slot == .void { return }
                guard btf.isValid(slot) else { valid = false; return }
                if let number = numbers[slot] {
                    slot = TypeID(number)
                } else {
                    let number = UInt32(order.count + 1)
                    numbers[slot] = number
                    order.append(slot)
                    slot = TypeID(number)
                }
            }
            guard valid else { return nil }
            var strings: [UInt32] = []
            record.forEachStringSlot { slot in
                let bytes = Array(btf.string(slot).utf8)
                strings.append(UInt32(bytes.count))
                strings += bytes.map(UInt32.init)
                slot = StringOffset(0)
            }
            encoding.append(UInt32(3 + record.extra.count))
            encoding += [record.nameOffset.rawValue, record.info, record.sizeOrType] + record.extra
            encoding += strings
        }
        graphs[root] = encoding
        return encoding
    }
}

extension CORERelocator {
    /// `candidates(for:in:)`, looked up in `shared` by the local type's name and kind.
    func sharedCandidates(for localType: TypeID, in local: BTF, shared: inout SharedMatches) -> [TypeID]? {
        guard local.isValid(localType), localType != .void else { return nil }
        let key = SharedMatches.CandidateKey(name: Array(local.typeName(localType)), kind: local.coreKind(localType))
        if let known = shared.candidates[key] { return known }
        let found = candidates(for: localType, in: local)
        shared.candidates[key] = .some(found)
        return found
    }

    /// `localSpec.match(...)` against `candidate`, looked up in `shared` when the relocation has a
    /// shape. Only matches are remembered: a failure is computed again, so its message stays the
    /// object's own.
    func match(_ localSpec: CORESpec, local: COREBTF, candidate: TypeID, shape: Int?, candidateClass: UInt32?,
               shared: inout SharedMatches) throws(COREFailure) -> CORESpec? {
        try matchCandidate(localSpec, local: local, candidate: candidate, shape: shape, candidateClass: candidateClass, shared: &shared).spec
    }

    /// A candidate's match, and the representative whose match it took over, if it did.
    struct CandidateMatch {
        var spec: CORESpec?
        var representative: SharedMatches.ClassRepresentative?
    }

    /// `match(...)`. Among several candidates (`candidateClass` given), a field or enumerator
    /// relocation is matched once per class of identical candidates (`TargetTypeClasses`): the
    /// others take over the representative's spec, and are not remembered one by one.
    func matchCandidate(_ localSpec: CORESpec, local: COREBTF, candidate: TypeID, shape: Int?, candidateClass: UInt32?,
                        shared: inout SharedMatches) throws(COREFailure) -> CandidateMatch {
        guard let shape else { return CandidateMatch(spec: try localSpec.match(local: local, target: targetView, candidate: candidate)) }
        if let index = shared.find(shape: shape, candidate: candidate) { return CandidateMatch(spec: shared.entries[index].spec) }
        guard let candidateClass else {
            let spec = try localSpec.match(local: local, target: targetView, candidate: candidate)
            _ = shared.insert(shape: shape, candidate: candidate, SharedMatches.Entry(spec: spec))
            return CandidateMatch(spec: spec)
        }
        let classKey = UInt64(shape) << 32 | UInt64(candidateClass)
        if let representative = shared.representatives[classKey], let path = representative.path {
            // A failed match has no spec; the path is followed all the same.
            var spec = representative.spec ?? CORESpec(rootTypeID: .void, relocationKind: localSpec.relocationKind)
            if shared.classes!.follow(path, from: candidate, ofClass: candidateClass, spec: &spec) {
                return CandidateMatch(spec: representative.spec == nil ? nil : spec, representative: representative)
            }
        }
        var trail = CORESpec.MatchTrail()
        let spec = try localSpec.match(local: local, target: targetView, candidate: candidate, trail: &trail)
        _ = shared.insert(shape: shape, candidate: candidate, SharedMatches.Entry(spec: spec))
        guard shared.representatives[classKey] == nil,
              let path = shared.classes!.path(from: candidate, spec: spec, trail: trail) else { return CandidateMatch(spec: spec) }
        let representative = SharedMatches.ClassRepresentative(spec: spec, path: path)
        shared.representatives[classKey] = representative
        return CandidateMatch(spec: spec, representative: representative)
    }

    /// The target value of `spec` on `candidate`: the representative's when the match was taken over
    /// from it (equal but for the field type's id, which only the first candidate's value keeps),
    /// else the candidate's own, remembered.
    func decisionValue(_ kind: CORERelocationKind, spec: CORESpec, candidate: TypeID, shape: Int,
                       representative: SharedMatches.ClassRepresentative?, shared: inout SharedMatches) throws(COREFailure) -> SideValue {
        if let representative, let spec = representative.spec {
            if let value = representative.targetValue { return value }
            let value = try calcTargetSide(kind, targetSpec: spec, target: targetView)
            representative.targetValue = value
            return value
        }
        return try targetValue(kind, spec: spec, candidate: candidate, shape: shape, shared: &shared)
    }

    /// The target value of `spec` on `candidate`, remembered with its match when there is one.
    func targetValue(_ kind: CORERelocationKind, spec: CORESpec, candidate: TypeID, shape: Int?,
                     shared: inout SharedMatches) throws(COREFailure) -> SideValue {
        let index = shape.flatMap { shared.find(shape: $0, candidate: candidate) }
        if let index, let known = shared.entries[index].newValue { return known }
        let value = try calcTargetSide(kind, targetSpec: spec, target: targetView)
        if let index { shared.entries[index].newValue = value }
        return value
    }

    /// The shared outcome of relocations of `shape` over `candidates` (see `SharedResolution`),
    /// computed on first use from the per-candidate memo; `nil` when the candidates do not all agree
    /// or one fails, and the caller must walk the list as libbpf does.
    func sharedResolution(_ localSpec: CORESpec, local: COREBTF, candidates: [TypeID], shape: Int,
                          shared: inout SharedMatches) -> SharedResolution? {
        let key = SharedMatches.ResolutionKey(shape: shape, candidates: candidates)
        if let known = shared.resolutions[key] { return known }
        var resolution: SharedResolution? = SharedResolution(targetSpecs: [], matched: [], firstTargetValue: nil)
        let classes = shared.classes(of: candidates, for: localSpec.relocationKind, in: target)
        // The member the last representative's path read first: most likely the next one's too.
        var memberHint: Int?, hintFrom: SharedMatches.ClassRepresentative?
        for (position, candidate) in candidates.enumerated() {
            if classes != nil {
                // Candidates lie far apart in the type section: their records are asked for ahead.
                // (Called through `shared.classes?`: a local copy would retain its tables per candidate.)
                if position + 8 < candidates.count { shared.classes?.prefetch(candidates[position + 8], member: nil, indexArrived: false) }
                if position + 4 < candidates.count { shared.classes?.prefetch(candidates[position + 4], member: memberHint, indexArrived: true) }
            }
            let found: CandidateMatch
            do {
                found = try matchCandidate(localSpec, local: local, candidate: candidate, shape: shape,
                                           candidateClass: classes?[position], shared: &shared)
            } catch {
                resolution = nil   // libbpf stops at this candidate: left to the caller's walk
                break
            }
            if let representative = found.representative, representative !== hintFrom, let path = representative.path {
                hintFrom = representative
                memberHint = shared.classes?.firstMemberRead(path)
            }
            guard let spec = found.spec else { continue }
            let kind = localSpec.relocationKind
            if let first = resolution?.firstTargetValue {
                // Later candidates only need to agree with the first.
                guard spec.bitOffset == resolution!.targetSpecs[0].bitOffset,
                      let value = try? decisionValue(kind, spec: spec, candidate: candidate, shape: shape,
                                                     representative: found.representative, shared: &shared),
                      value.decidesLike(first) else {
                    resolution = nil
                    break
                }
            } else {
                // The first candidate's value is the relocation's: its own, field type id included.
                guard let value = try? targetValue(kind, spec: spec, candidate: candidate, shape: shape, shared: &shared) else {
                    resolution = nil
                    break
                }
                resolution?.firstTargetValue = value
            }
            resolution?.targetSpecs.append(spec)
            resolution?.matched.append(candidate)
        }
        shared.resolutions[key] = .some(resolution)
        return resolution
    }

    /// `calcRelocation` for one matched candidate: the local half computed once per relocation
    /// (`localSide`), the target half looked up in `shared` when the relocation has a shape. The
    /// halves are computed in libbpf's order (local first), so a failure is the same one.
    func sharedValue(_ kind: CORERelocationKind, localSpec: CORESpec, local: COREBTF, targetSpec: CORESpec,
                     candidate: TypeID, shape: Int?, localSide: inout LocalSideValue?,
                     shared: inout SharedMatches) throws(COREFailure) -> CORERelocationValue {
        let localHalf: LocalSideValue
        if let known = localSide {
            localHalf = known
        } else {
            localHalf = try calcLocalSide(kind, localSpec: localSpec, local: local)
            localSide = localHalf
        }
        let newValue = try targetValue(kind, spec: targetSpec, candidate: candidate, shape: shape, shared: &shared)
        return combine(kind, localSide: localHalf, newValue: newValue, local: local, target: targetView)
    }
}
