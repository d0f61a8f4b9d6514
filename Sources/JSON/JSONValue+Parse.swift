extension JSONValue {
    /// Parses one strict RFC 8259 document from UTF-8 bytes.
    ///
    /// `maxDepth` bounds how many arrays and objects may nest (a top-level `[]` is depth 1).
    /// Keep it modest: code that walks or destroys a value recurses once per level.
    public static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int = 32) throws(JSONParseError) -> JSONValue {
        let result = bytes.withContiguousStorageIfAvailable { buffer in
            parseResult(UnsafeRawBufferPointer(buffer), maxDepth: maxDepth)
        }
        return try (result ?? Array(bytes).withUnsafeBytes { parseResult($0, maxDepth: maxDepth) }).get()
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 32) throws(JSONParseError) -> JSONValue {
        try parseResult(bytes, maxDepth: maxDepth).get()
    }

    public static func parse(_ text: String, maxDepth: Int = 32) throws(JSONParseError) -> JSONValue {
        var text = text
        return try text.withUTF8 { parseResult(UnsafeRawBufferPointer($0), maxDepth: maxDepth) }.get()
    }

    // The buffer closures above are `rethrows`, which would widen the error to `any Error`,
    // so the typed error travels out of them inside a Result.
    private static func parseResult(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) -> Result<JSONValue, JSONParseError> {
        Result { () throws(JSONParseError) in
            var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
            return try parser.parseDocument()
        }
    }
}
