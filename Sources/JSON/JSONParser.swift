/// Strict RFC 8259 parser over a borrowed UTF-8 buffer.
///
/// Nesting is tracked on an explicit stack rather than by recursion, so parsing itself
/// never grows the thread's stack. `maxDepth` remains the real bound, though: destroying,
/// comparing and encoding a `JSONValue` each recurse once per nesting level.
struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    var index = 0
    let maxDepth: Int
    /// Reused buffer for strings that contain escapes.
    var scratch: [UInt8] = []

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        let value = try parseValue()
        skipWhitespace()
        guard index == bytes.count else { throw unexpected() }
        return value
    }

    private struct Container {
        let isObject: Bool
        var elements: [JSONValue] = []
        var members: [String: JSONValue] = [:]
        var pendingKey = ""
        var pendingKeyOffset = 0
    }

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        var stack: [Container] = []
        parsing: while true {
            skipWhitespace()
            var value: JSONValue
            switch peek() {
            case UInt8(ascii: "["):
                try open(depth: stack.count + 1)
                if consume(UInt8(ascii: "]")) {
                    value = .array([])
                } else {
                    stack.append(Container(isObject: false))
                    continue parsing
                }
            case UInt8(ascii: "{"):
                try open(depth: stack.count + 1)
                if consume(UInt8(ascii: "}")) {
                    value = .object([:])
                } else {
                    var container = Container(isObject: true)
                    (container.pendingKey, container.pendingKeyOffset) = try parseMemberKey()
                    stack.append(container)
                    continue parsing
                }
            default:
                value = try parseScalar()
            }

            // Hand the finished value to its container, closing every container that ends here.
            while let top = stack.indices.last {
                if stack[top].isObject {
                    // Checking for duplicates on insertion hashes each key once, not twice.
                    let key = stack[top].pendingKey
                    guard stack[top].members.updateValue(value, forKey: key) == nil else {
                        throw JSONParseError(
                            message: "duplicate key \(JSONString.quoted(Self.abbreviated(key)))",
                            offset: stack[top].pendingKeyOffset)
                    }
                } else {
                    stack[top].elements.append(value)
                }
                skipWhitespace()
                if consume(UInt8(ascii: ",")) {
                    if stack[top].isObject {
                        (stack[top].pendingKey, stack[top].pendingKeyOffset) = try parseMemberKey()
                    }
                    continue parsing
                }
                let container = stack.removeLast()
                guard consume(UInt8(ascii: container.isObject ? "}" : "]")) else { throw unexpected() }
                value = container.isObject ? .object(container.members) : .array(container.elements)
            }
            return value
        }
    }

    /// Consumes an opening bracket and any whitespace after it.
    private mutating func open(depth: Int) throws(JSONParseError) {
        guard depth <= maxDepth else {
            throw JSONParseError(message: "nesting deeper than \(maxDepth) levels", offset: index)
        }
        index += 1
        skipWhitespace()
    }

    /// Reads `"key" :`, leaving the index at the member's value; returns the key and its offset.
    private mutating func parseMemberKey() throws(JSONParseError) -> (String, Int) {
        skipWhitespace()
        let offset = index
        guard peek() == UInt8(ascii: "\"") else { throw unexpected() }
        let key = try parseString()
        skipWhitespace()
        guard consume(UInt8(ascii: ":")) else { throw unexpected() }
        return (key, offset)
    }

    // MARK: Byte helpers

    func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// The error for whatever sits at the current index.
    func unexpected() -> JSONParseError {
        guard let byte = peek() else { return JSONParseError(message: "unexpected end of input", offset: index) }
        if (0x20...0x7E).contains(byte) {
            return JSONParseError(message: "unexpected character '\(Character(Unicode.Scalar(byte)))'", offset: index)
        }
        return JSONParseError(message: "unexpected byte \(Self.hex(byte))", offset: index)
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return "0x" + String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
    }

    /// Keeps messages short when they echo untrusted input.
    private static func abbreviated(_ text: String) -> String {
        text.count <= 40 ? text : String(text.prefix(40)) + "…"
    }
}
