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
        buffer.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(1, raw.baseAddress! + done, raw.count - done)
                if n <= 0 { if errno == EINTR { continue }; break }
                done += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Unbuffered standard error for messages; retries on EINTR and partial writes.
public struct StandardError: TextOutputStream {
    public init() {}
    public mutating func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }
}

/// Prints a line to standard error.
public func printError(_ message: String) {
    var standardError = StandardError()
    standardError.write(message + "\n")
}
