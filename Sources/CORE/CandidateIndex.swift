import BTF

/// Every named type of a target BTF, indexed by its essential name (the name without a `___flavor`
/// suffix), so that libbpf's candidate search (`bpf_core_add_cands`, a linear scan over all target
/// types) becomes a binary search. Built once per kernel.
///
/// Entries are `(hash of essential name, type id)` sorted by hash then id, so the ids found for a
/// name come out in increasing id order, the order libbpf's scan visits them in.
struct CandidateIndex: Sendable {
    private let hashes: [UInt64]
    private let ids: [UInt32]

    init(_ btf: BTF) {
        var entries: [(hash: UInt64, id: UInt32)] = []
        entries.reserveCapacity(btf.typeCount)
        btf.strings.withUnsafeBufferPointer { strings in
            for raw in 1 ..< UInt32(btf.typeCount) {
                let nameOffset = Int(btf.type(TypeID(raw)).nameOffset.rawValue)
                guard nameOffset > 0, nameOffset < strings.count, strings[nameOffset] != 0 else { continue }
                var end = nameOffset
                while end < strings.count, strings[end] != 0 { end += 1 }
                let name = UnsafeBufferPointer(rebasing: strings[nameOffset ..< end])
                entries.append((CandidateIndex.hash(name.prefix(essentialNameLength(name))), raw))
            }
        }
        entries.sort { $0.hash != $1.hash ? $0.hash < $1.hash : $0.id < $1.id }
        hashes = entries.map(\.hash)
        ids = entries.map(\.id)
    }

    /// FNV-1a over the essential name bytes.
    static func hash<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// libbpf's `bpf_core_add_cands` over the whole target: the ids, in increasing order, of target
    /// types whose kind is CO-RE compatible with `localKind` (same kind, or ENUM/ENUM64 mixed),
    /// whose name is non-empty and whose essential name equals `essentialName`.
    func candidates(essentialName: ArraySlice<UInt8>, localKind: BTFKind?, in target: BTF) -> [TypeID] {
        let h = CandidateIndex.hash(essentialName)
        var low = 0, high = hashes.count
        while low < high {
            let mid = (low + high) / 2
            if hashes[mid] < h { low = mid + 1 } else { high = mid }
        }
        var found: [TypeID] = []
        var i = low
        while i < hashes.count, hashes[i] == h {
            let id = TypeID(ids[i])
            i += 1
            guard kindsAreCoreCompatible(target.coreKind(id), localKind) else { continue }
            let name = target.typeName(id)
            // The hash only narrows the search; equality is decided on the bytes, like strncmp.
            guard name.prefix(essentialNameLength(name)).elementsEqual(essentialName) else { continue }
            found.append(id)
        }
        return found
    }
}
