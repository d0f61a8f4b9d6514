extension JSONValue {
    /// Compact serialization with object keys sorted by their UTF-8 bytes, so equal values encode identically.
    ///
    /// Non-finite doubles (which `parse` never produces) have no JSON form and encode as `null`.
    public var encoded: String {
        var out = ""
        append(to: &out)
        return out
    }

    private func append(to out: inout String) {
        switch self {
        case .null:
            out += "null"
        case .bool(let value):
            out += value ? "true" : "false"
        case .int(let value):
            out += String(value)
        case .double(let value):
            // Swift's shortest round-trip description ("0.1", "1e+100", "5.0") is valid JSON.
            out += value.isFinite ? value.description : "null"
        case .string(let value):
            JSONString.appendQuoted(value, to: &out)
        case .array(let elements):
            out += "["
            for (position, element) in elements.enumerated() {
                if position > 0 { out += "," }
                element.append(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (position, key) in keys.enumerated() {
                if position > 0 { out += "," }
                JSONString.appendQuoted(key, to: &out)
                out += ":"
                members[key]!.append(to: &out)
            }
            out += "}"
        }
    }
}

/// JSON string literals.
public enum JSONString {
    public static func quoted(_ string: String) -> String {
        var out = ""
        out.reserveCapacity(string.utf8.count + 2)
        appendQuoted(string, to: &out)
        return out
    }

    /// Appends `string` as a JSON string literal.
    ///
    /// Escapes `"`, `\`, control characters, and U+2028/U+2029 (line terminators in
    /// JavaScript source, so output stays safe to embed in a script); all else is raw UTF-8.
    public static func appendQuoted(_ string: String, to out: inout String) {
        out += "\""
        let utf8 = string.utf8
        var runStart = utf8.startIndex
        var index = runStart
        while index != utf8.endIndex {
            let byte = utf8[index]
            var next = utf8.index(after: index)
            let escape: String?
            switch byte {
            case UInt8(ascii: "\""): escape = "\\\""
            case UInt8(ascii: "\\"): escape = "\\\\"
            case 0x0A: escape = "\\n"
            case 0x0D: escape = "\\r"
            case 0x09: escape = "\\t"
            case 0x08: escape = "\\b"
            case 0x0C: escape = "\\f"
            case 0..<0x20: escape = "\\u00" + hexByte(byte)
            case 0xE2:
                // U+2028 is E2 80 A8 and U+2029 is E2 80 A9.
                let third = next == utf8.endIndex ? next : utf8.index(after: next)
                if third != utf8.endIndex, utf8[next] == 0x80, utf8[third] & 0xFE == 0xA8 {
                    escape = utf8[third] == 0xA8 ? "\\u2028" : "\\u2029"
                    next = utf8.index(after: third)
                } else {
                    escape = nil
                }
            default: escape = nil
            }
            if let escape {
                out += string[runStart..<index]
                out += escape
                runStart = next
            }
            index = next
        }
        out += string[runStart...]
        out += "\""
    }

    private static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
    }
}
