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
    /// systemd does.
    public init(parsing text: String) {
        var fields: [String: String] = [:]
        for rawLine in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = rawLine.drop { $0 == " " || $0 == "\t" }
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals])
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { continue }
            fields[key] = OSRelease.unquote(line[line.index(after: equals)...])
        }
        self.fields = fields
        id = fields["ID"].flatMap { $0.isEmpty ? nil : $0 }
        versionID = fields["VERSION_ID"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A shell-style value without its quotes: `"a b"` and `'a b'` are `a b`; in double quotes
    /// `\"`, `\\`, `\$` and `` \` `` stand for the character; trailing blanks outside quotes are dropped.
    static func unquote(_ raw: Substring) -> String {
        var value = ""
        var quote: Character?
        var iterator = raw.makeIterator()
        var trailingBlanks = ""
        while let c = iterator.next() {
            if let open = quote {
                if c == open { quote = nil; continue }
                if open == "\"", c == "\\", let next = iterator.next() {
                    if !"\"\\$`".contains(next) { value.append("\\") }
                    value.append(next)
                    continue
                }
                value.append(c)
            } else if c == "\"" || c == "'" {
                value += trailingBlanks; trailingBlanks = ""
                quote = c
            } else if c == " " || c == "\t" {
                trailingBlanks.append(c)
            } else if c == "\\", let next = iterator.next() {
                value += trailingBlanks; trailingBlanks = ""
                value.append(next)
            } else {
                value += trailingBlanks; trailingBlanks = ""
                value.append(c)
            }
        }
        return value
    }
}
