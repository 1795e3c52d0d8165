import BTF

/// One step of a CO-RE access spec (libbpf's `struct bpf_core_accessor`).
public struct COREAccessor: Sendable, Equatable {
    /// The type the step indexes into: a struct/union (member index), an array (element index),
    /// an enum (enumerator index), or the root type for the first step.
    public var typeID: TypeID
    /// Member, element or enumerator index (for the first step: the array index into the root).
    public var index: Int
    /// The member or enumerator name when the step is named (empty for array steps / anonymous).
    public var name: [UInt8]

    public init(typeID: TypeID, index: Int, name: [UInt8] = []) {
        self.typeID = typeID; self.index = index; self.name = name
    }
}

/// A parsed or matched access spec (libbpf's `struct bpf_core_spec`), local or target side.
///
/// `rawSpec` is the access string's numbers as they apply to *this* BTF (for a target spec, the
/// member indices in the target types, including the indices of anonymous members traversed);
/// `accessors` are the named steps. The minimizer walks `rootTypeID` + `rawSpec` like
/// `bpftool gen min_core_btf` does with `targ_spec->raw_spec`.
public struct CORESpec: Sendable, Equatable {
    public var rootTypeID: TypeID
    public var relocationKind: CORERelocationKind
    public var accessors: [COREAccessor]
    public var rawSpec: [Int]
    /// Bit offset of the accessed field from the start of the root type (field relocations).
    public var bitOffset: Int

    public init(rootTypeID: TypeID, relocationKind: CORERelocationKind, accessors: [COREAccessor] = [],
                rawSpec: [Int] = [], bitOffset: Int = 0) {
        self.rootTypeID = rootTypeID; self.relocationKind = relocationKind
        self.accessors = accessors; self.rawSpec = rawSpec; self.bitOffset = bitOffset
    }
}

extension CORESpec {
    /// `task_struct.__state` for a field (`mm_struct.rss_stat[1].count` through an array),
    /// `struct mm_rss_stat` for a type, `enum bpf_func_id::X` for an enumerator; `type #N access 0:1`
    /// when the access string could not be parsed (`spec` is `nil`).
    public static func displayName(of relocation: CORERelocation, spec: CORESpec?, in btf: BTF) -> String {
        let kind = relocation.kind
        guard let spec, spec.rootTypeID.rawValue != 0, Int(spec.rootTypeID.rawValue) < btf.typeCount else {
            return "type #\(relocation.typeID.rawValue) access \(btf.string(relocation.accessStringOffset))"
        }
        let rootName = btf.name(spec.rootTypeID)
        let root = rootName.isEmpty ? "(anonymous \(keyword(btf.type(spec.rootTypeID).kind)))" : rootName
        if kind.isTypeBased { return "\(keyword(btf.type(spec.rootTypeID).kind)) \(root)" }
        if kind.isEnumValueBased {
            let enumerator = spec.accessors.first.map { String(decoding: $0.name, as: UTF8.self) } ?? "?"
            return "enum \(root)::\(enumerator)"
        }
        var name = root
        for (step, accessor) in spec.accessors.enumerated() {
            if step == 0 {
                if accessor.index != 0 { name += "[\(accessor.index)]" }
            } else if !accessor.name.isEmpty {
                name += "." + String(decoding: accessor.name, as: UTF8.self)
            } else {
                // Unnamed steps are array elements (anonymous members get no accessor of their own).
                name += "[\(accessor.index)]"
            }
        }
        return name
    }

    private static func keyword(_ kind: BTFKind) -> String {
        switch kind {
        case .structure: "struct"
        case .union: "union"
        case .enumeration, .enum64: "enum"
        case .typedef: "typedef"
        default: "\(kind)"
        }
    }
}
