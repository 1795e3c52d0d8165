/// The fields of an os-release file (`/etc/os-release`, `/usr/lib/os-release`) that btfhub's
/// layout uses, parsed as the os-release(5) manual describes: `KEY=value` lines, values optionally
/// in double or single quotes, backslash escapes inside double quotes, `#` comment lines.
public struct OSRelease: Sendable, Equatable {
    /// `ID`, e.g. `ubuntu`, `centos`, `debian`.
    public var id: String?
    /// `VERSION_ID`, e.g. `20.04`, `8`, `12`. Absent on rolling distributions (Arch, Debian sid).
    public var versionID: String?
    /// Every assignment in the file, unquoted.
    public var fields: [String: String]

    /// Parses the text of an os-release file. Lines that are not assignments are ignored, as
    /// systemd does. Works on UTF-8 bytes: this runs at every program start.
    public init(parsing text: String) {
        var fields: [String: String] = [:]
        for rawLine in text.utf8.split(separator: UInt8(ascii: "\n")) {
            var line = rawLine.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            guard line.first != UInt8(ascii: "#"), let equals = line.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = line[..<equals]
            guard !key.isEmpty, key.allSatisfy(OSRelease.isKeyByte) else { continue }
            fields[String(decoding: key, as: UTF8.self)] = OSRelease.unquote(line[line.index(after: equals)...])
        }
        self.fields = fields
        id = fields["ID"].flatMap { $0.isEmpty ? nil : $0 }
        versionID = fields["VERSION_ID"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `A-Z`, `a-z`, `0-9` and `_`: the characters of an os-release key.
    private static func isKeyByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
    }

    /// A shell-style value without its quotes: `"a b"` and `'a b'` are `a b`; in double quotes
    /// `\"`, `\\`, `\$` and `` \` `` stand for the character; trailing blanks outside quotes are dropped.
    static func unquote(_ raw: Substring.UTF8View.SubSequence) -> String {
        let doubleQuote = UInt8(ascii: "\""), singleQuote = UInt8(ascii: "'"), backslash = UInt8(ascii: "\\")
        var value: [UInt8] = []
        var quote: UInt8?
        var pendingBlanks: [UInt8] = []  // blanks outside quotes, kept only if more value follows
        var bytes = raw.makeIterator()
        func flushBlanks() {
            value += pendingBlanks
            pendingBlanks.removeAll()
        }
        while let byte = bytes.next() {
            if let open = quote {
                if byte == open { quote = nil; continue }
                if open == doubleQuote, byte == backslash, let next = bytes.next() {
                    if ![doubleQuote, backslash, UInt8(ascii: "$"), UInt8(ascii: "`")].contains(next) { value.append(backslash) }
                    value.append(next)
                    continue
                }
                value.append(byte)
            } else if byte == doubleQuote || byte == singleQuote {
                flushBlanks()
                quote = byte
            } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                pendingBlanks.append(byte)
            } else if byte == backslash, let next = bytes.next() {
                flushBlanks()
                value.append(next)
            } else {
                flushBlanks()
                value.append(byte)
            }
        }
        return String(decoding: value, as: UTF8.self)
    }
}
