extension JSONParser {
    /// Parses a string whose opening quote is at the current index.
    mutating func parseString() throws(JSONParseError) -> String {
        let quoteOffset = index
        index += 1
        let start = index
        // Fast path: plain ASCII with no escapes decodes straight from the input.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index - 1]), as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 || byte >= 0x80 { break }
            index += 1
        }
        return try parseStringSlowly(from: start, quoteOffset: quoteOffset)
    }

    private mutating func parseStringSlowly(from start: Int, quoteOffset: Int) throws(JSONParseError) -> String {
        var sawEscape = false
        var runStart = start
        scratch.removeAll(keepingCapacity: true)
        while true {
            guard let byte = peek() else {
                throw JSONParseError(message: "unterminated string", offset: quoteOffset)
            }
            switch byte {
            case UInt8(ascii: "\""):
                let run = UnsafeRawBufferPointer(rebasing: bytes[runStart..<index])
                index += 1
                guard sawEscape else { return String(decoding: run, as: UTF8.self) }
                scratch.append(contentsOf: run)
                return String(decoding: scratch, as: UTF8.self)
            case UInt8(ascii: "\\"):
                sawEscape = true
                scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
                try appendEscape()
                runStart = index
            case 0..<0x20:
                throw JSONParseError(message: "unescaped control character \(Self.hex(byte)) in string", offset: index)
            case 0..<0x80:
                index += 1
            default:
                index += try validUTF8SequenceLength()
            }
        }
    }

    /// Decodes the escape at the current index into `scratch`.
    private mutating func appendEscape() throws(JSONParseError) {
        let escapeOffset = index
        index += 1
        guard let letter = peek() else { throw unexpected() }
        index += 1
        let simple: UInt8? = switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): letter
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "f"): 0x0C
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "t"): 0x09
        default: nil
        }
        if let simple {
            scratch.append(simple)
            return
        }
        guard letter == UInt8(ascii: "u") else {
            let shown = (0x21...0x7E).contains(letter) ? "\\\(Character(Unicode.Scalar(letter)))" : Self.hex(letter)
            throw JSONParseError(message: "invalid escape '\(shown)'", offset: escapeOffset)
        }
        let unit = try hexQuad()
        let scalarValue: UInt32
        switch unit {
        case 0xD800...0xDBFF:
            let lowOffset = index
            let unpaired = JSONParseError(message: "unpaired high surrogate in \\u escape", offset: lowOffset)
            guard consume(UInt8(ascii: "\\")), consume(UInt8(ascii: "u")) else { throw unpaired }
            let low = try hexQuad()
            guard (0xDC00...0xDFFF).contains(low) else { throw unpaired }
            scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
        case 0xDC00...0xDFFF:
            throw JSONParseError(message: "unpaired low surrogate in \\u escape", offset: escapeOffset)
        default:
            scalarValue = UInt32(unit)
        }
        // Surrogates were excluded above, so every remaining value is a scalar.
        scratch.append(contentsOf: UTF8.encode(Unicode.Scalar(scalarValue)!)!)
    }

    private mutating func hexQuad() throws(JSONParseError) -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            guard let byte = peek() else { throw unexpected() }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw JSONParseError(message: "invalid hex digit in \\u escape", offset: index)
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    /// Length of the well-formed multi-byte UTF-8 sequence at the current index (Unicode table 3-7).
    private func validUTF8SequenceLength() throws(JSONParseError) -> Int {
        let lead = bytes[index]
        let secondRange: ClosedRange<UInt8>
        let length: Int
        switch lead {
        case 0xC2...0xDF: (length, secondRange) = (2, 0x80...0xBF)
        case 0xE0: (length, secondRange) = (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (length, secondRange) = (3, 0x80...0xBF)
        case 0xED: (length, secondRange) = (3, 0x80...0x9F)
        case 0xF0: (length, secondRange) = (4, 0x90...0xBF)
        case 0xF1...0xF3: (length, secondRange) = (4, 0x80...0xBF)
        case 0xF4: (length, secondRange) = (4, 0x80...0x8F)
        default: throw invalidUTF8()
        }
        guard index + length <= bytes.count, secondRange.contains(bytes[index + 1]) else { throw invalidUTF8() }
        for offset in index + 2 ..< index + length where bytes[offset] & 0xC0 != 0x80 {
            throw invalidUTF8()
        }
        return length
    }

    private func invalidUTF8() -> JSONParseError {
        JSONParseError(message: "invalid UTF-8 in string", offset: index)
    }
}
