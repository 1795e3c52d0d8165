import Foundation

/// Runs `bpftool btf dump file` and compares its output with expected text while it streams, so a
/// 150 MB dump is never held twice.
enum Bpftool {
    /// `nil` when bpftool prints exactly `expected`; otherwise the file, the first differing line
    /// (with its number and the type it belongs to) as bpftool and as we print it.
    /// With `base`, `file` is split BTF dumped with `-B base`.
    static func dumpDifference(file: String, base: String? = nil, expected: [UInt8]) throws -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestSupport.which("bpftool"))
        process.arguments = ["btf", "dump", "file", file] + (base.map { ["-B", $0] } ?? [])
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        var comparer = StreamComparer(expected: expected)
        let fd = output.fileHandleForReading.fileDescriptor
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestSupportError("reading bpftool's output for \(file) failed (errno \(errno))")
            }
            if n == 0 { break }
            chunk.withUnsafeBytes { comparer.feed(UnsafeRawBufferPointer(rebasing: $0[0 ..< n])) }
        }
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return "\(file): bpftool btf dump failed (status \(process.terminationStatus)): \(errorText)"
        }
        return comparer.difference().map { "\(file): \($0)" }
    }
}
