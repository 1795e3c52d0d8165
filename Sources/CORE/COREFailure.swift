/// Why libbpf would fail a relocation, as the errno its CO-RE code returns plus a message in the
/// spirit of libbpf's warning.
struct COREFailure: Error, Sendable, CustomStringConvertible {
    /// The errno libbpf returns for this failure.
    enum Code: Int32, Sendable {
        case invalid = 22       // EINVAL
        case tooBig = 7         // E2BIG
        case notSupported = 95  // EOPNOTSUPP
    }

    var code: Code
    var message: String

    init(_ code: Code, _ message: String) { self.code = code; self.message = message }

    var description: String { "\(message) (-\(code.rawValue))" }
}
