import BTF

/// Every named type of a target BTF, indexed by its essential name (the name without a `___flavor`
/// suffix), so that libbpf's candidate search (`bpf_core_add_cands`, a linear scan over all target
/// types) becomes a binary search. Built once per kernel.
///
/// Each entry packs a 32-bit hash of the essential name (high half) and the type id (low half) in
/// one integer; sorted, the ids found for a name come out in increasing id order, the order
/// libbpf's scan visits them in. The hash only narrows the search: names are compared byte by byte.
struct CandidateIndex: Sendable {
    private let entries: [UInt64]
    /// The essential names the index was built for (`nil`: every name). Other names are searched
    /// linearly, as libbpf does.
    private let names: Set<[UInt8]>?
    /// Per kind number (0-127): whether types of that kind are indexed (all are when the index is
    /// built for every name). A local kind outside them is searched linearly too.
    private let indexedKinds: [Bool]

    /// `names`: the essential names the lookups will ask for, if known. Indexing only those skips
    /// hashing and sorting every named type of the kernel; other names still get a correct (slower)
    /// answer.
    init(_ btf: BTF, names: Set<[UInt8]>? = nil, kinds: Set<BTFKind>? = nil) {
        self.names = names
        // The kinds a local kind is CO-RE compatible with: itself, and ENUM with ENUM64.
        var indexed = [Bool](repeating: kinds == nil || names == nil, count: 128)
        for kind in kinds ?? [] {
            indexed[Int(kind.rawValue)] = true
            if kind.isEnum { indexed[Int(BTFKind.enumeration.rawValue)] = true; indexed[Int(BTFKind.enum64.rawValue)] = true }
        }
        indexedKinds = indexed
        // Filters for `names`: their first two bytes (a name's essential part is a prefix of it),
        // then the low 16 bits of their hashes. Both are bitmaps of 2^16 bits.
        var prefixes: [UInt64]?, hashes: [UInt64]?
        if let names {
            var prefixBits = [UInt64](repeating: 0, count: 1 << 10), hashBits = prefixBits
            func set(_ bits: inout [UInt64], _ value: Int) { bits[value >> 6] |= 1 << UInt64(value & 63) }
            for name in names where !name.isEmpty {
                // A one-byte essential name is followed by NUL, or by "___" in a flavored name.
                if name.count == 1 {
                    set(&prefixBits, Int(name[0]) << 8)
                    set(&prefixBits, Int(name[0]) << 8 | Int(UInt8(ascii: "_")))
                } else {
                    set(&prefixBits, Int(name[0]) << 8 | Int(name[1]))
                }
                set(&hashBits, Int(CandidateIndex.hash(name[...]) & 0xffff))
            }
            prefixes = prefixBits
            hashes = hashBits
        }
        var entries: [UInt64] = []
        entries.reserveCapacity(names == nil ? btf.typeCount : 1024)
        // Raw buffers: this loop visits every type of the kernel (898,539 in CentOS 8's 4.18.0-147).
        btf.strings.withUnsafeBufferPointer { strings in
        btf.words.withUnsafeBufferPointer { words in
        btf.typeStarts.withUnsafeBufferPointer { typeStarts in
            for raw in 1 ..< UInt32(typeStarts.count) {
                // The first word of a type record is its name offset, the second its kind.
                let start = Int(typeStarts[Int(raw)])
                // Kinds no relocation asks for (functions, the most common named types) are skipped
                // before their names are read.
                guard indexed[Int(BTFInfo.kindNumber(words[start + 1]))] else { continue }
                let nameOffset = Int(words[start])
                guard nameOffset > 0, nameOffset < strings.count, strings[nameOffset] != 0 else { continue }
                if let prefixes {
                    let second = nameOffset + 1 < strings.count ? Int(strings[nameOffset + 1]) : 0
                    let prefix = Int(strings[nameOffset]) << 8 | second
                    guard prefixes[prefix >> 6] & (1 << UInt64(prefix & 63)) != 0 else { continue }
                }
                var end = nameOffset
                while end < strings.count, strings[end] != 0 { end += 1 }
                let length = essentialNameLength(strings, start: nameOffset, end: end)
                let hash = CandidateIndex.hash(strings, start: nameOffset, count: length)
                if let hashes {
                    let low = Int(hash & 0xffff)
                    guard hashes[low >> 6] & (1 << UInt64(low & 63)) != 0 else { continue }
                }
                entries.append(UInt64(hash) << 32 | UInt64(raw))
            }
        }
        }
        }
        entries.sort()
        self.entries = entries
    }

    /// FNV-1a (32-bit) over the essential name bytes.
    static func hash(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { hash($0, start: 0, count: $0.count) }
    }

    static func hash(_ bytes: UnsafeBufferPointer<UInt8>, start: Int, count: Int) -> UInt32 {
        var h: UInt32 = 0x811c_9dc5
        for i in start ..< start + count { h = (h ^ UInt32(bytes[i])) &* 0x0100_0193 }
        return h
    }

    /// libbpf's `bpf_core_add_cands` over the whole target: the ids, in increasing order, of target
    /// types whose kind is CO-RE compatible with `localKind` (same kind, or ENUM/ENUM64 mixed),
    /// whose name is non-empty and whose essential name equals `essentialName`.
    func candidates(essentialName: ArraySlice<UInt8>, localKind: BTFKind?, in target: BTF) -> [TypeID] {
        let kindIndexed = localKind.map { indexedKinds[Int($0.rawValue)] } ?? false
        if let names, !kindIndexed || !names.contains(Array(essentialName)) {
            return linearCandidates(essentialName: essentialName, localKind: localKind, in: target)
        }
        let first = UInt64(CandidateIndex.hash(essentialName)) << 32
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid] < first { low = mid + 1 } else { high = mid }
        }
        var found: [TypeID] = []
        var i = low
        while i < entries.count, entries[i] >> 32 == first >> 32 {
            let id = TypeID(UInt32(truncatingIfNeeded: entries[i]))
            i += 1
            guard kindsAreCoreCompatible(target.coreKind(id), localKind) else { continue }
            let name = target.typeName(id)
            // The hash only narrows the search; equality is decided on the bytes, like strncmp.
            guard name.prefix(essentialNameLength(name)).elementsEqual(essentialName) else { continue }
            found.append(id)
        }
        // Kernel plus modules (`BTF.combining`): libbpf's bpf_core_find_cands takes vmlinux's
        // candidates when there are any, and searches the modules only when vmlinux has none.
        if let vmlinuxEnd = target.split?.typeCount, found.contains(where: { $0.index < vmlinuxEnd }) {
            found.removeAll { $0.index >= vmlinuxEnd }
        }
        return found
    }

    /// libbpf's own scan over every type, for a name the index was not built for.
    private func linearCandidates(essentialName: ArraySlice<UInt8>, localKind: BTFKind?, in target: BTF) -> [TypeID] {
        var found: [TypeID] = []
        for raw in 1 ..< UInt32(target.typeCount) {
            let id = TypeID(raw)
            guard kindsAreCoreCompatible(target.coreKind(id), localKind) else { continue }
            let name = target.typeName(id)
            guard !name.isEmpty, name.prefix(essentialNameLength(name)).elementsEqual(essentialName) else { continue }
            found.append(id)
        }
        if let vmlinuxEnd = target.split?.typeCount, found.contains(where: { $0.index < vmlinuxEnd }) {
            found.removeAll { $0.index >= vmlinuxEnd }
        }
        return found
    }
}
