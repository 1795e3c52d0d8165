import Foundation

/// Compares a byte stream with expected bytes, remembering where they first differ.
struct StreamComparer {
    let expected: [UInt8]
    /// Bytes of the stream seen so far.
    private var position = 0
    /// Offset of the first differing byte, once found.
    private var mismatch: Int?
    /// The stream's bytes from the mismatch to the end of that line (capped).
    private var actualRest: [UInt8] = []

    init(expected: [UInt8]) { self.expected = expected }

    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        defer { position += bytes.count }
        if mismatch != nil {
            collectRestOfLine(bytes[...])
            return
        }
        let comparable = min(bytes.count, expected.count - position)
        let equal = comparable == 0 || expected.withUnsafeBytes { memcmp($0.baseAddress! + position, bytes.baseAddress!, comparable) == 0 }
        if equal && comparable == bytes.count { return }
        var i = 0
        if !equal { while bytes[i] == expected[position + i] { i += 1 } } else { i = comparable }
        mismatch = position + i
        collectRestOfLine(bytes[i...])
    }

    private mutating func collectRestOfLine(_ bytes: Slice<UnsafeRawBufferPointer>) {
        guard actualRest.last != 10, actualRest.count < 4096 else { return }
        for b in bytes {
            if b == 10 || actualRest.count >= 4096 { actualRest.append(b); return }
            actualRest.append(b)
        }
    }

    /// `nil` if the stream equalled `expected`, else a description of the first differing line.
    func difference() -> String? {
        let at: Int
        if let mismatch { at = mismatch } else if position < expected.count { at = position } else { return nil }
        let lineStart = (expected[..<at].lastIndex(of: 10) ?? -1) + 1
        let lineNumber = expected[..<lineStart].reduce(1) { $1 == 10 ? $0 + 1 : $0 }
        let ourLineEnd = expected[lineStart...].firstIndex(of: 10) ?? expected.count
        let ours = at == expected.count ? "<end of output>" : String(decoding: expected[lineStart ..< ourLineEnd], as: UTF8.self)
        var theirBytes = Array(expected[lineStart ..< at]) + actualRest
        if theirBytes.last == 10 { theirBytes.removeLast() }
        let theirs = mismatch == nil ? "<end of output>" : String(decoding: theirBytes, as: UTF8.self)
        // Member lines start with a tab; name the type they belong to.
        var context = ""
        if expected[lineStart...].first == 9 {
            var headerStart = lineStart
            repeat {
                headerStart = (expected[..<(headerStart - 1)].lastIndex(of: 10) ?? -1) + 1
            } while headerStart > 0 && expected[headerStart] == 9
            let headerEnd = expected[headerStart...].firstIndex(of: 10) ?? expected.count
            context = " (in \(String(decoding: expected[headerStart ..< headerEnd], as: UTF8.self)))"
        }
        return "first difference at line \(lineNumber)\(context):\n  bpftool: \(theirs.prefix(300))\n  ours:    \(ours.prefix(300))"
    }
}
