/// What went wrong while opening, loading or attaching a BPF object, with libbpf's own words.
public struct BPFLoaderError: Error, Sendable, CustomStringConvertible {
    /// The message, naming the object (and program) concerned.
    public var message: String
    /// The errno libbpf reported, or 0.
    public var errnoCode: Int32

    /// An error with `message` and `errnoCode`.
    public init(_ message: String, errnoCode: Int32 = 0) {
        self.message = message
        self.errnoCode = errnoCode
    }

    public var description: String { message }
}
