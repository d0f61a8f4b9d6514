extension JSONParser {
    mutating func parseScalar() throws(JSONParseError) -> JSONValue {
        switch peek() {
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), .some(UInt8(ascii: "0")...UInt8(ascii: "9")): return try parseNumber()
        default: throw unexpected()
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let utf8 = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for byte in utf8 {
            guard consume(byte) else { throw unexpected() }
        }
    }

    // MARK: Numbers

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        let negative = consume(UInt8(ascii: "-"))
        if consume(UInt8(ascii: "0")) {
            if let next = peek(), Self.isDigit(next) {
                throw JSONParseError(message: "leading zeros are not allowed", offset: start)
            }
        } else {
            try consumeDigits()
        }
        var isInteger = true
        if consume(UInt8(ascii: ".")) {
            isInteger = false
            try consumeDigits()
        }
        if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
            isInteger = false
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            try consumeDigits()
        }
        if isInteger, let value = integer(in: start..<index, negative: negative) {
            return .int(value)
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        // The grammar was checked above, so nil here can only be a value strtod rejects.
        guard let value = Double(text), value.isFinite else {
            throw JSONParseError(message: "number out of range", offset: start)
        }
        return .double(value)
    }

    /// Consumes one or more digits.
    private mutating func consumeDigits() throws(JSONParseError) {
        guard let first = peek(), Self.isDigit(first) else { throw unexpected() }
        index += 1
        while let next = peek(), Self.isDigit(next) { index += 1 }
    }

    /// The integer in `range`, or nil when it does not fit in `Int64`.
    private func integer(in range: Range<Int>, negative: Bool) -> Int64? {
        // Accumulating downwards reaches Int64.min, whose magnitude has no positive Int64.
        var value: Int64 = 0
        for offset in (negative ? range.dropFirst() : range[...]) {
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = shifted.subtractingReportingOverflow(Int64(bytes[offset] &- UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = next
        }
        if negative { return value }
        return value == .min ? nil : -value
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}
