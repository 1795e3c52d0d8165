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
