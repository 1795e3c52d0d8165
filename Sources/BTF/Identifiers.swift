/// A BTF type id. Id 0 is `void`; real types start at 1.
public struct TypeID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    /// The `void` type, which has no record in the type section.
    public static let void = TypeID(0)
    @inlinable public var index: Int { Int(rawValue) }
    @inlinable public static func < (a: TypeID, b: TypeID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "[\(rawValue)]" }
}

/// An offset into a BTF string table. Offset 0 is the empty string (an anonymous name).
public struct StringOffset: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public static let empty = StringOffset(0)
    @inlinable public var isEmpty: Bool { rawValue == 0 }
}

/// The kind of a BTF type (`BTF_KIND_*` in `linux/btf.h`).
///
/// `unknown` stands for every kind number BTFKit does not know (0, and 20-127 of libbpf master's
/// 7-bit kind field); such records are stepped over with the kind-layout section, kept byte for
/// byte, and printed as bpftool prints them (`UNKNOWN`). `BTFType.kindNumber` keeps the number.
public enum BTFKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case unknown = 0        // BTF_KIND_UNKN, and any kind number past BTF_KIND_ENUM64
    case int = 1            // BTF_KIND_INT
    case pointer = 2        // BTF_KIND_PTR
    case array = 3          // BTF_KIND_ARRAY
    case structure = 4      // BTF_KIND_STRUCT
    case union = 5          // BTF_KIND_UNION
    case enumeration = 6    // BTF_KIND_ENUM
    case forward = 7        // BTF_KIND_FWD
    case typedef = 8        // BTF_KIND_TYPEDEF
    case volatile = 9       // BTF_KIND_VOLATILE
    case const = 10         // BTF_KIND_CONST
    case restrict = 11      // BTF_KIND_RESTRICT
    case function = 12      // BTF_KIND_FUNC
    case functionPrototype = 13 // BTF_KIND_FUNC_PROTO
    case variable = 14      // BTF_KIND_VAR
    case dataSection = 15   // BTF_KIND_DATASEC
    case float = 16         // BTF_KIND_FLOAT
    case declTag = 17       // BTF_KIND_DECL_TAG
    case typeTag = 18       // BTF_KIND_TYPE_TAG
    case enum64 = 19        // BTF_KIND_ENUM64

    /// The kinds BTFKit knows (1-19); `unknown` is not one of them.
    public static let allCases: [BTFKind] = (1 ... 19).map { BTFKind(rawValue: $0)! }

    /// The kind of a 7-bit kind number (`BTF_INFO_KIND`), `unknown` for a number BTFKit does not know.
    @inlinable
    public init(number: UInt8) {
        self = BTFKind(rawValue: number) ?? .unknown
    }

    /// The largest kind number the 7-bit field holds (`BTF_MAX_KIND`).
    public static let maxNumber: UInt8 = 0x7f

    /// The name bpftool prints (`STRUCT`, `FUNC_PROTO` ...).
    public var description: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .int: "INT"
        case .pointer: "PTR"
        case .array: "ARRAY"
        case .structure: "STRUCT"
        case .union: "UNION"
        case .enumeration: "ENUM"
        case .forward: "FWD"
        case .typedef: "TYPEDEF"
        case .volatile: "VOLATILE"
        case .const: "CONST"
        case .restrict: "RESTRICT"
        case .function: "FUNC"
        case .functionPrototype: "FUNC_PROTO"
        case .variable: "VAR"
        case .dataSection: "DATASEC"
        case .float: "FLOAT"
        case .declTag: "DECL_TAG"
        case .typeTag: "TYPE_TAG"
        case .enum64: "ENUM64"
        }
    }

    /// Whether the third word of the type record is a type id (`type`) rather than a size.
    public var thirdWordIsType: Bool {
        switch self {
        case .pointer, .typedef, .volatile, .const, .restrict, .function, .functionPrototype,
             .variable, .declTag, .typeTag: true
        default: false
        }
    }

    /// How many 32-bit words follow the 3-word common record, for a type with `vlen` entries.
    /// An `unknown` kind's size is in the kind-layout section: `BTF.recordWordCount` knows it.
    public func extraWords(vlen: Int) -> Int {
        switch self {
        case .int, .variable, .declTag: 1
        case .array: 3
        case .structure, .union, .dataSection, .enum64: 3 * vlen
        case .enumeration, .functionPrototype: 2 * vlen
        default: 0
        }
    }

    public var isComposite: Bool { self == .structure || self == .union }
    public var isEnum: Bool { self == .enumeration || self == .enum64 }
    /// Modifiers and typedefs that `skip_mods_and_typedefs` looks through.
    public var isModifierOrTypedef: Bool {
        switch self {
        case .typedef, .volatile, .const, .restrict, .typeTag: true
        default: false
        }
    }
}

/// `BTF_INT_*` encoding bits of an INT type.
public struct IntEncoding: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let signed = IntEncoding(rawValue: 1)  // BTF_INT_SIGNED
    public static let char = IntEncoding(rawValue: 2)    // BTF_INT_CHAR
    public static let bool = IntEncoding(rawValue: 4)    // BTF_INT_BOOL
}
