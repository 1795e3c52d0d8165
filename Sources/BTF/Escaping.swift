/// Text from files, archives, packs and the environment printed safely on one terminal line:
/// control characters (C0, DEL, C1; newline and ESC included) become `\xNN` per UTF-8 byte, so a
/// member name holding `ESC[2J` cannot clear the screen and a newline cannot split an error line.
public func escapedForTerminal(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    var result = ""
    result.reserveCapacity(text.utf8.count + 8)
    for scalar in text.unicodeScalars {
        if isControl(scalar) {
            for byte in String(scalar).utf8 { result += hexEscape(byte) }
        } else {
            result.unicodeScalars.append(scalar)
        }
    }
    return result
}

/// Bytes that may not be UTF-8 (a file name from `readdir`), as text: valid UTF-8 is kept (control
/// characters escaped as by `escapedForTerminal`), every byte of an invalid sequence becomes `\xNN`.
public func escapedForTerminal<Bytes: Collection>(bytes: Bytes) -> String where Bytes.Element == UInt8 {
    var result = ""
    var rest = Array(bytes)[...]
    while !rest.isEmpty {
        // The longest valid prefix decodes as is; the first byte that breaks it is escaped.
        var decoder = UTF8()
        var iterator = rest.makeIterator()
        var consumed = 0
        var valid = ""
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                valid.unicodeScalars.append(scalar)
                consumed += String(scalar).utf8.count
            case .emptyInput, .error:
                break decoding
            }
        }
        result += escapedForTerminal(valid)
        rest = rest.dropFirst(consumed)
        if let bad = rest.first {
            result += hexEscape(bad)
            rest = rest.dropFirst()
        }
    }
    return result
}

private func isControl(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (scalar.value >= 0x7f && scalar.value < 0xa0)
}

private func hexEscape(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return "\\x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xf)])
}
