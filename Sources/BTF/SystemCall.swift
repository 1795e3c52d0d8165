import Glibc

// The one place where system calls are retried on EINTR and their failures become a typed errno
// (swift-system's `Errno` and `valueOrErrno(retryOnInterrupt:)`, reduced to what BTFKit needs).
// `package`: every module of BTFKit uses it; it is not part of the library's API.

/// An error number (`errno`) with its `strerror` text.
public struct Errno: Error, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The positive error number (`EINTR`, `ENOENT` ...).
    public let code: Int32

    /// `code` may be negative, as libbpf returns them.
    public init(_ code: Int32) { self.code = abs(code) }

    /// The calling thread's current `errno`.
    public static var current: Errno { Errno(errno) }

    /// `strerror(code)`: "No such file or directory".
    public var description: String { String(cString: strerror(code)) }
}

/// `strerror` for a positive or negative errno; by default the current `errno`.
public func errnoText(_ code: Int32 = errno) -> String {
    Errno(code).description
}

/// Runs `call` (a system call returning -1 with `errno` set on failure) until it does not fail
/// with `EINTR`; its result, or its failure as an `Errno`.
package func retryingOnInterrupt<Result: BinaryInteger>(_ call: () -> Result) throws(Errno) -> Result {
    while true {
        let result = call()
        if result != -1 { return result }
        let failure = Errno.current
        if failure.code != EINTR { throw failure }
    }
}

/// Writes all of `bytes` to `fd`, continuing after partial writes.
package func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) {
    var done = 0
    while done < bytes.count {
        let n = try retryingOnInterrupt { write(fd, bytes.baseAddress! + done, bytes.count - done) }
        // write(2) of a non-zero count returns 0 only on a broken device: stop rather than spin.
        guard n > 0 else { throw Errno(EIO) }
        done += n
    }
}

/// Writes all of `bytes` to `fd`, continuing after partial writes.
package func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
    // withUnsafeBytes rethrows untyped: carry the Errno out in a Result.
    try bytes.withUnsafeBytes { buffer in Result { () throws(Errno) in try writeAll(fd, buffer) } }.get()
}

/// Reads into `buffer` from `offset` with `pread`, continuing after short reads; the number of
/// bytes read, fewer than `buffer.count` only when the file ends first.
package func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(Errno) -> Int {
    var done = 0
    while done < buffer.count {
        let n = try retryingOnInterrupt { pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done)) }
        if n == 0 { break }
        done += n
    }
    return done
}
