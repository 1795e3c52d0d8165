import BTF
import Glibc

/// Buffered standard output for large dumps (millions of lines). Call `flush()` when done.
public struct StandardOutput: TextOutputStream {
    private var buffer: [UInt8] = []
    public init() { buffer.reserveCapacity(1 << 16) }
    public mutating func write(_ string: String) {
        buffer.append(contentsOf: string.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }
    public mutating func flush() {
        // A closed or full standard output loses the rest, as `print` would.
        try? writeAll(1, buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Unbuffered standard error for messages; retries on EINTR and partial writes.
public struct StandardError: TextOutputStream {
    public init() {}
    public mutating func write(_ text: String) {
        try? writeAll(2, Array(text.utf8))
    }
}

/// Prints a line to standard error.
public func printError(_ message: String) {
    var standardError = StandardError()
    standardError.write(message + "\n")
}
