/// The byte order of a binary file (BTF, ELF). BTF records the order implicitly through its magic.
public enum ByteOrder: Sendable, Equatable, CustomStringConvertible {
    case little
    case big

    /// The byte order of the machine running this code.
    public static var host: ByteOrder {
        1.littleEndian == 1 ? .little : .big
    }

    /// The opposite order.
    public var swapped: ByteOrder { self == .little ? .big : .little }

    public var description: String { self == .little ? "little-endian" : "big-endian" }
}
