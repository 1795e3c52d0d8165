import BTF
import CORE

/// Which matching candidates of each relocation the minimizer keeps.
public enum CandidateRetention: Sendable, Equatable {
    /// Keep every candidate that matched any relocation. The trimmed BTF then offers libbpf exactly the
    /// candidates that matched on the full BTF, so every relocation sees the same candidate list.
    case allMatching
    /// Per object and local root type, keep one candidate that matched every relocation of that type
    /// that matched anything. libbpf narrows a local type's cached candidate list to the candidates
    /// that matched (`bpf_core_calc_relo_insn`), so the matched sets form a chain and the common
    /// candidate keeps every relocation's outcome while dropping identical duplicates (the hundreds
    /// of `task_struct` copies of a non-deduplicated kernel). When the type's last relocation fails on
    /// an ambiguity, its first and disagreeing candidates are kept instead; after any other failure,
    /// or without a common candidate, all candidates. Never larger than `allMatching`.
    case minimal
}

/// Marks what CO-RE relocations need in one target (kernel) BTF and builds the minimized BTF, the way
/// `bpftool gen min_core_btf` does (its `btfgen_*` functions), extended to several objects, to every
/// matching candidate, and to the kinds bpftool refuses (FWD, TYPE_TAG, FUNC, VAR, DATASEC, DECL_TAG).
///
/// - field relocations keep the root, each member on the target access path (with its original bit
///   offset) and the types those members have; structs and unions keep their original size;
/// - type-based relocations (`type_exists`, `type_size`, `type_id_target`) keep the type and everything
///   it refers to, through pointers, but no struct or union members;
/// - enumerator relocations keep the whole enum;
/// - `type_matches` keeps the full member closure up to pointers, and behind a pointer only the
///   pointee's name and kind (libbpf's `__bpf_core_types_match` compares no more there).
///
/// A pointer whose pointee was not marked points to `void` in the output. Marks live in bitsets over
/// type ids and over the source's word indices (members), so marking allocates nothing per type.
public struct Minimizer: Sendable {
    /// The full BTF being trimmed.
    public let source: BTF
    /// Types kept in the output.
    private var kept: Bitset
    /// Types already traversed by `keepType(followingPointers: true)`.
    private var keptWithPointees: Bitset
    /// Types already traversed by the `type_matches` closure outside / behind a pointer.
    private var matchExpanded: Bitset
    private var matchBehindPointer: Bitset
    /// Kept struct/union members, by the index in `source.words` of the member's first word.
    private var keptMembers: Bitset
    /// Reused traversal stack (type ids; bit 31 carries the "behind a pointer" flag of `type_matches`).
    private var stack: [UInt32] = []

    private static let behindPointerFlag: UInt32 = 1 << 31

    public init(source: BTF) {
        self.source = source
        kept = Bitset(capacity: source.typeCount)
        keptWithPointees = Bitset(capacity: source.typeCount)
        matchExpanded = Bitset(capacity: source.typeCount)
        matchBehindPointer = Bitset(capacity: source.typeCount)
        keptMembers = Bitset(capacity: source.words.count)
    }

    /// How many types (not counting `void`) are marked so far.
    public var keptTypeCount: Int { kept.count }

    // MARK: - Recording relocations

    /// Records every target spec of one object's relocation results (as returned by
    /// `CORERelocator.resolveAll(in:)` for one object, in `.BTF.ext` order).
    ///
    /// Results must come from a single object: libbpf caches and narrows candidate lists per object.
    /// Failed relocations are recorded like the others, so libbpf meets the same failure on the
    /// trimmed BTF.
    public mutating func record(_ results: [CORERelocationResult], retention: CandidateRetention = .minimal) throws(BTFError) {
        for result in results { try keepUnreportedFailingCandidates(of: result) }
        switch retention {
        case .allMatching:
            for result in results { for spec in result.targetSpecs { try record(spec) } }
        case .minimal:
            for (_, group) in Minimizer.groupByLocalRoot(results) {
                let needed = Minimizer.neededCandidates(of: group)
                for result in group {
                    for spec in result.targetSpecs where needed?.contains(spec.rootTypeID) ?? true { try record(spec) }
                }
            }
        }
    }

    /// When libbpf fails a relocation while matching a candidate or computing its value (a bitfield
    /// too big to load ...), the failing candidate has no target spec. Its full member closure (what
    /// any relocation kind can look at) is kept for every candidate tried after the last one that
    /// matched, so that the trimmed BTF still contains the candidate that fails. Ambiguities need
    /// nothing extra: the disagreeing candidate is the last target spec.
    private mutating func keepUnreportedFailingCandidates(of result: CORERelocationResult) throws(BTFError) {
        guard case .failed = result.outcome, result.localSpec != nil else { return }
        var remaining = result.candidateIDs[...]
        if let lastMatched = result.targetSpecs.last?.rootTypeID, let position = remaining.firstIndex(of: lastMatched) {
            remaining = remaining[(position + 1)...]
        }
        for candidate in remaining {
            try checkID(candidate, "candidate")
            try keepTypeMatchClosure(candidate)
        }
    }

    /// Results that share libbpf's candidate cache entry (same local root type id), in order.
    /// `type_id_local` relocations are left out: they need no target.
    private static func groupByLocalRoot(_ results: [CORERelocationResult]) -> [(TypeID, [CORERelocationResult])] {
        var order: [TypeID] = []
        var groups: [TypeID: [CORERelocationResult]] = [:]
        for result in results where result.relocation.kind != .typeIDLocal && !result.targetSpecs.isEmpty {
            let key = result.relocation.typeID
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(result)
        }
        return order.map { ($0, groups[$0]!) }
    }

    /// The candidates whose specs a group of relocations sharing one candidate list needs, or `nil`
    /// for all of them.
    ///
    /// libbpf prunes the list to the candidates that matched, so the matched sets of successive
    /// relocations form a chain; a candidate in all of them keeps every relocation's outcome (the
    /// matched sets on the trimmed BTF are non-empty subsets of the agreeing full ones). When the last
    /// relocation fails on an ambiguity, its first and its disagreeing candidate are in every earlier
    /// matched set and reproduce the same failure (libbpf stops at the first disagreement). Any other
    /// failure keeps everything.
    private static func neededCandidates(of group: [CORERelocationResult]) -> Set<TypeID>? {
        // Sorted id lists, intersected by merging: a kernel whose BTF was not deduplicated gives
        // hundreds of candidates per relocation, and hashing each into a set cost more than the rest.
        var common: [TypeID]?
        for (position, result) in group.enumerated() {
            if result.outcome.failsLoad {
                guard position == group.count - 1, case .ambiguous = result.outcome,
                      let first = result.targetSpecs.first?.rootTypeID, let last = result.targetSpecs.last?.rootTypeID,
                      common.map({ containsSorted($0, first) && containsSorted($0, last) }) ?? true else { return nil }
                return [first, last]
            }
            let matched = result.targetSpecs.map(\.rootTypeID).sorted()
            common = common.map { intersectionSorted($0, matched) } ?? matched
        }
        return common?.first.map { [$0] }
    }

    private static func containsSorted(_ ids: [TypeID], _ id: TypeID) -> Bool {
        var low = 0, high = ids.count
        while low < high {
            let mid = (low + high) / 2
            if ids[mid] < id { low = mid + 1 } else { high = mid }
        }
        return low < ids.count && ids[low] == id
    }

    private static func intersectionSorted(_ a: [TypeID], _ b: [TypeID]) -> [TypeID] {
        var both: [TypeID] = []
        var i = 0, j = 0
        while i < a.count, j < b.count {
            if a[i] < b[j] { i += 1 } else if b[j] < a[i] { j += 1 } else { both.append(a[i]); i += 1; j += 1 }
        }
        return both
    }

    /// Records one target spec according to its relocation kind (`btfgen_record_reloc`).
    public mutating func record(_ spec: CORESpec) throws(BTFError) {
        try checkID(spec.rootTypeID, "target spec root")
        switch spec.relocationKind {
        case .fieldByteOffset, .fieldByteSize, .fieldExists, .fieldSigned, .fieldLShiftU64, .fieldRShiftU64:
            try keepFieldAccess(root: spec.rootTypeID, rawSpec: spec.rawSpec)
        case .typeIDLocal:
            break // resolved against the object's own BTF
        case .typeIDTarget, .typeExists, .typeSize:
            try keepType(spec.rootTypeID, followingPointers: true)
        case .enumValueExists, .enumValue:
            try keepType(spec.rootTypeID, followingPointers: false)
        case .typeMatches:
            try keepTypeMatchClosure(spec.rootTypeID)
        }
    }

    // MARK: - Marking

    /// Keeps the root and each member on a target access path (`btfgen_record_field_relo`): `rawSpec`
    /// is libbpf's `raw_spec` of the target spec (element 0 indexes the root as an array and is not a
    /// member; later elements are member indices in structs/unions, element indices in arrays).
    public mutating func keepFieldAccess(root: TypeID, rawSpec: [Int]) throws(BTFError) {
        try checkID(root, "field access root")
        try keepType(root, followingPointers: false)
        var id = root
        for step in rawSpec.dropFirst() {
            id = skipModifiersAndTypedefs(id)
            guard id != .void else { throw BTFError("target access path reaches void", typeID: root) }
            let t = source.type(id)
            switch t.kind {
            case .structure, .union:
                guard step >= 0 && step < t.vlen else {
                    throw BTFError("target access path uses member \(step) of a \(t.kind) with \(t.vlen) members", typeID: id)
                }
                keptMembers.insert(memberWordIndex(id, step))
                id = source.member(of: t, at: step).type
                try keepType(id, followingPointers: false)
            case .array:
                id = source.array(t).elementType
            default:
                throw BTFError("target access path steps into a \(t.kind), not a struct, union or array", typeID: id)
            }
        }
    }

    /// Keeps `id` and what it refers to (`btfgen_mark_type`): everything except struct/union members,
    /// and pointees only when `followingPointers`.
    public mutating func keepType(_ id: TypeID, followingPointers: Bool) throws(BTFError) {
        stack.removeAll(keepingCapacity: true)
        stack.append(id.rawValue)
        while let raw = stack.popLast() {
            let index = Int(raw)
            if index == 0 { continue }
            guard index < source.typeCount else { throw BTFError("reference to type id \(index) past the last type", typeID: id) }
            if followingPointers {
                if !keptWithPointees.insert(index) { continue }
                kept.insert(index)
            } else if keptWithPointees.contains(index) || !kept.insert(index) {
                continue
            }
            let t = source.type(TypeID(raw))
            switch t.kind {
            case .unknown:
                throw Minimizer.cannotKeep(t)
            case .structure, .union:
                break // members are kept one by one, by the relocations that use them
            case .pointer:
                if followingPointers { stack.append(t.sizeOrType) }
            default:
                pushReferencedTypes(of: t)
            }
        }
    }

    /// Keeps what `type_matches` compares (`btfgen_mark_type_match`): outside pointers, every member of
    /// every struct/union and the members' types; behind a pointer, composites only by name and kind.
    /// Unlike bpftool, "behind a pointer" carries through arrays and function prototypes, as in libbpf.
    public mutating func keepTypeMatchClosure(_ id: TypeID) throws(BTFError) {
        stack.removeAll(keepingCapacity: true)
        stack.append(id.rawValue)
        while let entry = stack.popLast() {
            let behindPointer = entry & Minimizer.behindPointerFlag != 0
            let raw = entry & ~Minimizer.behindPointerFlag
            let index = Int(raw)
            if index == 0 { continue }
            guard index < source.typeCount else { throw BTFError("reference to type id \(index) past the last type", typeID: id) }
            if behindPointer {
                if matchExpanded.contains(index) || !matchBehindPointer.insert(index) { continue }
            } else if !matchExpanded.insert(index) {
                continue
            }
            kept.insert(index)
            let flag = behindPointer ? Minimizer.behindPointerFlag : 0
            let t = source.type(TypeID(raw))
            switch t.kind {
            case .unknown:
                throw Minimizer.cannotKeep(t)
            case .structure, .union:
                if behindPointer { break }
                for i in 0 ..< t.vlen {
                    keptMembers.insert(memberWordIndex(TypeID(raw), i))
                    stack.append(source.member(of: t, at: i).type.rawValue)
                }
            case .pointer:
                stack.append(t.sizeOrType | Minimizer.behindPointerFlag)
            default:
                let start = Int(source.typeStarts[index])
                t.kind.forEachTypeIDWord(vlen: t.vlen) { position in
                    stack.append(source.words[start + position] | flag)
                }
            }
        }
    }

    /// A kind BTFKit does not know may hold type ids it cannot find, so it cannot be renumbered.
    private static func cannotKeep(_ t: BTFType) -> BTFError {
        BTFError("a relocation needs this type, of kind \(t.kindNumber), which BTFKit does not know: "
                 + "the ids inside it cannot be renumbered, so it cannot be trimmed", typeID: t.id)
    }

    /// Pushes every type id a record of a non-composite kind refers to.
    @inline(__always)
    private mutating func pushReferencedTypes(of t: BTFType) {
        let start = Int(source.typeStarts[t.id.index])
        t.kind.forEachTypeIDWord(vlen: t.vlen) { position in
            stack.append(source.words[start + position])
        }
    }

    @inline(__always)
    private func memberWordIndex(_ composite: TypeID, _ member: Int) -> Int {
        Int(source.typeStarts[composite.index]) + 3 + 3 * member
    }

    private func skipModifiersAndTypedefs(_ id: TypeID) -> TypeID {
        var id = id
        var steps = 0
        while id != .void, steps < source.typeCount, let kind = source.kind(id), kind.isModifierOrTypedef {
            id = source.type(id).referencedType
            steps += 1
        }
        return id
    }

    private func checkID(_ id: TypeID, _ what: String) throws(BTFError) {
        guard id != .void, id.index < source.typeCount else {
            throw BTFError("\(what) is type id \(id.rawValue), not a type of this BTF (\(source.typeCount - 1) types)")
        }
    }

    // MARK: - Building

    /// Builds the minimized BTF (`btfgen_get_btf`): kept types in their original order with new ids,
    /// structs/unions with their kept members only (original offsets, original size), references to
    /// unkept types (only pointees can be) turned into `void`, strings deduplicated, in the source's
    /// byte order.
    public func build() -> BTF {
        var marks = self
        marks.keepFlexibleArrayStatus()
        marks.keepPointerSizeHint()
        return marks.emit()
    }

    /// libbpf treats a zero-length array as flexible only when it is the last member of its struct
    /// (`is_flex_arr`). A kept zero-length array followed by dropped members would become last and
    /// accept indices the full BTF rejects, so the original last member is kept too.
    private mutating func keepFlexibleArrayStatus() {
        var composites: [Int] = []
        kept.forEach { index in
            if let kind = source.kind(TypeID(UInt32(index))), kind.isComposite { composites.append(index) }
        }
        for index in composites {
            let id = TypeID(UInt32(index))
            let t = source.type(id)
            guard t.vlen > 0, !keptMembers.contains(memberWordIndex(id, t.vlen - 1)) else { continue }
            guard let last = (0 ..< t.vlen - 1).last(where: { keptMembers.contains(memberWordIndex(id, $0)) }) else { continue }
            let lastType = skipModifiersAndTypedefs(source.member(of: t, at: last).type)
            guard lastType != .void, source.kind(lastType) == .array, source.array(source.type(lastType)).count == 0 else { continue }
            keptMembers.insert(memberWordIndex(id, t.vlen - 1))
            // Cannot fail: the id comes from a parsed member record.
            try? keepType(source.member(of: t, at: t.vlen - 1).type, followingPointers: false)
        }
    }

    /// libbpf sizes pointers from an INT named like `long` (`determine_ptr_size`), else from the host.
    /// When the source's pointer size differs from this host's and a pointer is kept, keep that INT.
    private mutating func keepPointerSizeHint() {
        var keepsPointer = false
        kept.forEach { index in if source.kind(TypeID(UInt32(index))) == .pointer { keepsPointer = true } }
        guard keepsPointer, let long = source.pointerSizeDefiningInt(),
              Int(source.type(long).size) != MemoryLayout<UnsafeRawPointer>.size else { return }
        kept.insert(long.index)
    }

    private func emit() -> BTF {
        var builder = BTFBuilder(byteOrder: source.byteOrder)
        var newIDs = [UInt32](repeating: 0, count: source.typeCount)
        var next: UInt32 = 1
        kept.forEach { index in newIDs[index] = next; next += 1 }

        var record = TypeRecord(nameOffset: .empty, info: 0, sizeOrType: 0)
        kept.forEach { index in
            let id = TypeID(UInt32(index))
            let t = source.type(id)
            let start = Int(source.typeStarts[index])
            record.nameOffset = t.nameOffset
            record.info = t.info
            record.sizeOrType = t.sizeOrType
            record.extra.removeAll(keepingCapacity: true)
            if t.kind.isComposite {
                record.nameOffset = builder.addString(source.nameBytes(t.nameOffset))
                var memberCount = 0
                for i in 0 ..< t.vlen where keptMembers.contains(start + 3 + 3 * i) {
                    let m = source.member(of: t, at: i)
                    record.extra.append(builder.addString(source.nameBytes(m.nameOffset)).rawValue)
                    record.extra.append(newIDs[m.type.index]) // kept members' types are kept
                    record.extra.append(m.rawOffset)
                    memberCount += 1
                }
                record.setVlen(memberCount)
            } else {
                let extraCount = t.kind.extraWords(vlen: t.vlen)
                record.extra.append(contentsOf: source.words[start + 3 ..< start + 3 + extraCount])
                // An id past the end (possible only in a hand-built BTF) becomes void like any unkept pointee.
                record.forEachTypeIDSlot { $0 = TypeID($0.index < newIDs.count ? newIDs[$0.index] : 0) }
                // Every string slot, the name included, still holds a source offset here.
                record.forEachStringSlot { $0 = builder.addString(source.nameBytes($0)) }
            }
            builder.add(record)
        }
        return builder.build()
    }
}

extension BTF {
    /// The first INT named like `long` with size 4 or 8: the type libbpf's `determine_ptr_size` uses.
    func pointerSizeDefiningInt() -> TypeID? {
        let aliases: [[UInt8]] = ["long", "long int", "int long", "unsigned long", "long unsigned",
                                  "unsigned long int", "unsigned int long", "long unsigned int",
                                  "long int unsigned", "int unsigned long", "int long unsigned"].map { Array($0.utf8) }
        for raw in 1 ..< UInt32(typeCount) {
            let t = type(TypeID(raw))
            guard t.kind == .int, t.size == 4 || t.size == 8 else { continue }
            let name = nameBytes(t.nameOffset)
            if aliases.contains(where: { $0.elementsEqual(name) }) { return TypeID(raw) }
        }
        return nil
    }
}
