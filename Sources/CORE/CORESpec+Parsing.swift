import BTF

/// libbpf's `BPF_CORE_SPEC_MAX_LEN`: the most access-string steps (local or target) a spec holds.
public let coreSpecMaxLength = 64

extension CORESpec {
    /// The accessor string parsed into integers the way libbpf's `sscanf("%d%n")` loop does:
    /// steps separated by one ':', each an optional sign and decimal digits (leading blanks allowed).
    /// Returns `nil` for a malformed string; throws when it has more than `coreSpecMaxLength` steps.
    static func parseAccessString(_ text: ArraySlice<UInt8>) throws(COREFailure) -> [Int]? {
        var raw: [Int] = []
        var i = text.startIndex
        let colon = UInt8(ascii: ":")
        func isBlank(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0d) }
        while i < text.endIndex {
            if text[i] == colon { i += 1 }
            while i < text.endIndex, isBlank(text[i]) { i += 1 }
            var negative = false
            if i < text.endIndex, text[i] == UInt8(ascii: "-") || text[i] == UInt8(ascii: "+") {
                negative = text[i] == UInt8(ascii: "-"); i += 1
            }
            let digitsStart = i
            var value = 0
            while i < text.endIndex, text[i] >= UInt8(ascii: "0"), text[i] <= UInt8(ascii: "9") {
                // sscanf's %d overflow is undefined; clamp to stay well defined.
                value = min(value * 10 + Int(text[i] - UInt8(ascii: "0")), Int(Int32.max))
                i += 1
            }
            guard i > digitsStart else { return nil }
            if raw.count == coreSpecMaxLength { throw COREFailure(.specTooLong("access string has more than \(coreSpecMaxLength) steps")) }
            raw.append(negative ? -value : value)
        }
        return raw
    }

    /// libbpf's `bpf_core_parse_spec`: turns a relocation's access string into the low-level
    /// (`rawSpec`) and high-level (`accessors`) spec against the local BTF, computing the bit offset.
    static func parse(relocation: CORERelocation, in local: COREBTF) throws(COREFailure) -> CORESpec {
        let btf = local.btf
        let text = btf.nameBytes(relocation.accessStringOffset)
        let shown = String(decoding: text, as: UTF8.self)
        guard let first = text.first, first != UInt8(ascii: ":") else {
            throw COREFailure(.invalidAccessSpec(accessString: shown, position: nil, message: "access string \"\(shown)\" is empty or starts with ':'"))
        }
        var spec = CORESpec(rootTypeID: relocation.typeID, relocationKind: relocation.kind)

        // Type-based relocations carry no field access: the string must be exactly "0".
        if relocation.kind.isTypeBased {
            guard text.elementsEqual([UInt8(ascii: "0")]) else {
                throw COREFailure(.invalidAccessSpec(accessString: shown, position: nil, message: "type-based relocation with access string \"\(shown)\" (must be \"0\")"))
            }
            return spec
        }

        guard let raw = try parseAccessString(text), !raw.isEmpty else {
            throw COREFailure(.invalidAccessSpec(accessString: shown, position: nil, message: "malformed access string \"\(shown)\""))
        }
        spec.rawSpec = raw
        guard var id = btf.skipModifiersAndTypedefs(relocation.typeID) else {
            throw COREFailure(.invalidBTF("root type \(relocation.typeID) does not exist"))
        }
        // A negative index is undefined behaviour in libbpf (it indexes before the array); refuse it.
        if let negative = raw.firstIndex(where: { $0 < 0 }) {
            throw COREFailure(.invalidAccessSpec(accessString: shown, position: negative, message: "negative index in access string \"\(shown)\""))
        }

        var firstAccessor = COREAccessor(typeID: id, index: raw[0])
        if relocation.kind.isEnumValueBased {
            guard let kind = btf.coreKind(id), kind.isEnum, raw.count == 1, raw[0] < btf.type(id).vlen else {
                throw COREFailure(.invalidAccessSpec(accessString: shown, position: raw.count == 1 ? 0 : 1,
                                                     message: "enumerator access \"\(shown)\" does not name an enumerator of \(id)"))
            }
            firstAccessor.name = Array(btf.nameBytes(btf.enumeratorNameOffset(btf.type(id), at: raw[0])))
            spec.accessors = [firstAccessor]
            return spec
        }
        guard relocation.kind.isFieldBased else {
            throw COREFailure(.unrecognizedRelocation(relocation.kind))
        }
        spec.accessors = [firstAccessor]

        guard let rootSize = local.resolveSize(id) else {
            throw COREFailure(.invalidBTF("cannot resolve the size of root type \(id)"))
        }
        var bitOffset = UInt32(truncatingIfNeeded: Int64(raw[0]) &* rootSize &* 8)

        for (step, index) in raw.enumerated().dropFirst() {
            guard let current = btf.skipModifiersAndTypedefs(id) else {
                throw COREFailure(.invalidBTF("type \(id) does not exist"))
            }
            id = current
            let kind = btf.coreKind(id)
            if kind?.isComposite == true {
                let t = btf.type(id)
                guard index < t.vlen else {
                    throw COREFailure(.invalidAccessSpec(accessString: shown, position: step,
                                                         message: "member index \(index) out of range for \(id) (\(t.vlen) members)"))
                }
                let member = btf.member(of: t, at: index)
                bitOffset &+= member.bitOffset
                if !member.nameOffset.isEmpty {
                    let name = btf.nameBytes(member.nameOffset)
                    guard !name.isEmpty else { throw COREFailure(.invalidBTF("member \(index) of \(id) has an invalid name")) }
                    spec.accessors.append(COREAccessor(typeID: id, index: index, name: Array(name)))
                }
                id = member.type
            } else if kind == .array {
                let array = btf.array(btf.type(id))
                guard let element = btf.skipModifiersAndTypedefs(array.elementType) else {
                    throw COREFailure(.invalidBTF("array element type \(array.elementType) does not exist"))
                }
                id = element
                let flexible = isFlexibleArray(btf, enclosing: spec.accessors.last!, array)
                // libbpf compares the int index with the u32 count as unsigned.
                guard flexible || UInt32(truncatingIfNeeded: index) < array.count else {
                    throw COREFailure(.invalidAccessSpec(accessString: shown, position: step,
                                                         message: "array index \(index) out of range (\(array.count) elements)"))
                }
                spec.accessors.append(COREAccessor(typeID: id, index: index))
                guard let elementSize = local.resolveSize(id) else {
                    throw COREFailure(.invalidBTF("cannot resolve the size of array element \(id)"))
                }
                bitOffset = bitOffset &+ UInt32(truncatingIfNeeded: Int64(index) &* elementSize &* 8)
            } else {
                throw COREFailure(.invalidAccessSpec(accessString: shown, position: step, message: "access step \(step) of \"\(shown)\" reaches \(id) of kind \(kind.map { "\($0)" } ?? "UNKN"), not a struct, union or array"))
            }
        }
        spec.bitOffset = Int(bitOffset)
        return spec
    }
}

/// libbpf's `is_flex_arr`: a zero-length array that is the last member of the struct the previous
/// (named) accessor indexed into.
func isFlexibleArray(_ btf: BTF, enclosing accessor: COREAccessor, _ array: BTFArray) -> Bool {
    guard !accessor.name.isEmpty, array.count == 0 else { return false }
    return accessor.index == btf.type(accessor.typeID).vlen - 1
}
