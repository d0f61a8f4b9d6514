import JSON
import Testing

@Suite("JSON parsing")
struct JSONParseTests {
    private func parseError(_ bytes: [UInt8], maxDepth: Int = 32) -> JSONParseError? {
        do {
            _ = try JSONValue.parse(bytes, maxDepth: maxDepth)
            return nil
        } catch {
            return error
        }
    }

    private func parseError(_ text: String, maxDepth: Int = 32) -> JSONParseError? {
        parseError(Array(text.utf8), maxDepth: maxDepth)
    }

    @Test(arguments: [
        ("null", JSONValue.null),
        ("true", .bool(true)),
        (" \t\r\nfalse\n ", .bool(false)),
        ("0", .int(0)),
        ("-0", .int(0)),
        ("42", .int(42)),
        ("-17", .int(-17)),
        ("1.5", .double(1.5)),
        ("-0.0", .double(-0.0)),
        ("1e3", .double(1000)),
        ("1E+3", .double(1000)),
        ("25e-1", .double(2.5)),
        ("1.0", .double(1)),
        ("1e-400", .double(0)),
        (#""""#, .string("")),
        (#""héllo 😀""#, .string("héllo 😀")),
        ("[]", .array([])),
        ("{}", .object([:])),
        ("[ 1 , [ ] , { } ]", .array([.int(1), .array([]), .object([:])])),
        (#"{"a":{"b":[null,"c"]},"d":1}"#, .object(["a": .object(["b": .array([.null, .string("c")])]), "d": .int(1)])),
        (#"{ "" : 0 }"#, .object(["": .int(0)])),
    ] as [(String, JSONValue)])
    func accepts(_ input: String, _ expected: JSONValue) throws {
        #expect(try JSONValue.parse(input) == expected)
        #expect(try JSONValue.parse(Array(input.utf8)) == expected)
    }

    @Test(arguments: [
        ("", "unexpected end of input", 0),
        ("   ", "unexpected end of input", 3),
        ("[1] x", "unexpected character 'x'", 4),
        ("1 2", "unexpected character '2'", 2),
        ("01", "leading zeros are not allowed", 0),
        ("-01", "leading zeros are not allowed", 0),
        ("-", "unexpected end of input", 1),
        ("-a", "unexpected character 'a'", 1),
        (".5", "unexpected character '.'", 0),
        ("1.", "unexpected end of input", 2),
        ("1.e3", "unexpected character 'e'", 2),
        ("1e", "unexpected end of input", 2),
        ("1e+", "unexpected end of input", 3),
        ("+1", "unexpected character '+'", 0),
        ("0x10", "unexpected character 'x'", 1),
        ("1e400", "number out of range", 0),
        ("-1e400", "number out of range", 0),
        ("NaN", "unexpected character 'N'", 0),
        ("Infinity", "unexpected character 'I'", 0),
        ("-Infinity", "unexpected character 'I'", 1),
        ("nul", "unexpected end of input", 3),
        ("tru", "unexpected end of input", 3),
        ("True", "unexpected character 'T'", 0),
        ("\"a\tb\"", "unescaped control character 0x09 in string", 2),
        ("\"a\nb\"", "unescaped control character 0x0A in string", 2),
        ("\"\u{0}\"", "unescaped control character 0x00 in string", 1),
        (#""abc"#, "unterminated string", 0),
        (#""\x""#, #"invalid escape '\x'"#, 1),
        (#""\'""#, #"invalid escape '\''"#, 1),
        (#""\u12G4""#, #"invalid hex digit in \u escape"#, 5),
        (#""\u12""#, #"invalid hex digit in \u escape"#, 5),
        (#""\uD800""#, #"unpaired high surrogate in \u escape"#, 7),
        (#""\uD800x""#, #"unpaired high surrogate in \u escape"#, 7),
        (#""\uD800\n""#, #"unpaired high surrogate in \u escape"#, 7),
        (#""\uD800\u0041""#, #"unpaired high surrogate in \u escape"#, 7),
        (#""\uD800\uD800""#, #"unpaired high surrogate in \u escape"#, 7),
        (#""\uDC00""#, #"unpaired low surrogate in \u escape"#, 1),
        (#"{"a":1,"a":2}"#, #"duplicate key "a""#, 7),
        (#"{"a":1,"b":{},"a":2}"#, #"duplicate key "a""#, 14),
        ("[1,]", "unexpected character ']'", 3),
        ("[,1]", "unexpected character ','", 1),
        ("[1 2]", "unexpected character '2'", 3),
        ("[1", "unexpected end of input", 2),
        ("{\"a\":1,}", "unexpected character '}'", 7),
        ("{\"a\" 1}", "unexpected character '1'", 5),
        ("{a:1}", "unexpected character 'a'", 1),
        ("{\"a\":}", "unexpected character '}'", 5),
        ("[1}", "unexpected character '}'", 2),
        ("{'a':1}", "unexpected character '''", 1),
        ("[1]\u{0}", "unexpected byte 0x00", 3),
        ("\u{FEFF}1", "unexpected byte 0xEF", 0),
        ("// c\n1", "unexpected character '/'", 0),
    ] as [(String, String, Int)])
    func rejects(_ input: String, _ message: String, _ offset: Int) {
        #expect(parseError(input) == JSONParseError(message: message, offset: offset))
    }

    @Test(arguments: [
        [0x22, 0xFF, 0x22],                 // never valid in UTF-8
        [0x22, 0x80, 0x22],                 // stray continuation byte
        [0x22, 0xC0, 0x80, 0x22],           // overlong NUL
        [0x22, 0xE0, 0x80, 0xAF, 0x22],     // overlong '/'
        [0x22, 0xED, 0xA0, 0x80, 0x22],     // UTF-8-encoded surrogate U+D800
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], // beyond U+10FFFF
        [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22],
        [0x22, 0xE2, 0x82, 0x22],           // truncated sequence
        [0x22, 0x61, 0xC3],                 // truncated at end of input
    ] as [[UInt8]])
    func rejectsInvalidUTF8InStrings(_ input: [UInt8]) {
        #expect(parseError(input)?.message == "invalid UTF-8 in string")
    }

    @Test func rejectsNonASCIIOutsideStrings() {
        #expect(parseError([0xC3, 0xA9]) == JSONParseError(message: "unexpected byte 0xC3", offset: 0))
    }

    @Test func decodesEscapes() throws {
        let text = #""\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\u0000\uD83D\uDE00\udbff\udfff""#
        #expect(try JSONValue.parse(text) == .string("\"\\/\u{8}\u{C}\n\r\tAé€\u{0}😀\u{10FFFF}"))
    }

    @Test func decodesMixedEscapesAndRawUTF8() throws {
        #expect(try JSONValue.parse(#"["ä\nö", "x\u00fcy", "日本"]"#) == ["ä\nö", "xüy", "日本"])
    }

    @Test func integersThatFitStayExact() throws {
        #expect(try JSONValue.parse("9223372036854775807") == .int(.max))
        #expect(try JSONValue.parse("-9223372036854775808") == .int(.min))
        #expect(try JSONValue.parse("9007199254740993") == .int(9_007_199_254_740_993))
    }

    @Test func integersThatOverflowBecomeDoubles() throws {
        #expect(try JSONValue.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try JSONValue.parse("-9223372036854775809") == .double(-0x1p63))
        #expect(try JSONValue.parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
        #expect(try JSONValue.parse("1" + String(repeating: "0", count: 308)) == .double(1e308))
        #expect(parseError("1" + String(repeating: "0", count: 309))?.message == "number out of range")
    }

    @Test func nestingUpToMaxDepthIsAccepted() throws {
        let nested = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        #expect(try JSONValue.parse(nested).arrayValue != nil)
        let objects = String(repeating: #"{"a":"#, count: 32) + "1" + String(repeating: "}", count: 32)
        #expect(try JSONValue.parse(objects)["a"]?["a"] != nil)
    }

    @Test func nestingBeyondMaxDepthIsRejected() {
        let nested = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        #expect(parseError(nested) == JSONParseError(message: "nesting deeper than 32 levels", offset: 32))
        #expect(parseError("[[{}]]", maxDepth: 2)?.message == "nesting deeper than 2 levels")
        #expect(parseError("[]", maxDepth: 0)?.message == "nesting deeper than 0 levels")
        #expect(parseError("1", maxDepth: 0) == nil)
    }

    @Test func maxDepthCanBeRaised() throws {
        let depth = 1_000
        let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(try JSONValue.parse(nested, maxDepth: depth).arrayValue?.count == 1)
        #expect(parseError(nested, maxDepth: depth - 1)?.message == "nesting deeper than 999 levels")
    }

    @Test func parsesEveryKindOfByteCollection() throws {
        let expected: JSONValue = [1, "a"]
        let bytes = Array(#"[1,"a"]"#.utf8)
        #expect(try JSONValue.parse(bytes[...]) == expected)
        #expect(try JSONValue.parse(bytes.lazy.map { $0 }) == expected)
        #expect(try bytes.withUnsafeBytes { try JSONValue.parse($0) } == expected)
        #expect(try JSONValue.parse(#"[1,"a"]"#.utf8) == expected)
    }

    @Test func errorDescriptionIncludesOffset() {
        #expect(parseError("[1,]")?.description == "unexpected character ']' at offset 3")
    }
}

@Suite("JSON values")
struct JSONValueTests {
    @Test func accessors() throws {
        let value = try JSONValue.parse(#"{"s":"x","i":7,"d":2.5,"b":true,"a":[null],"o":{}}"#)
        #expect(value["s"]?.stringValue == "x")
        #expect(value["i"]?.intValue == 7)
        #expect(value["i"]?.doubleValue == 7)
        #expect(value["d"]?.doubleValue == 2.5)
        #expect(value["d"]?.intValue == nil)
        #expect(value["b"]?.boolValue == true)
        #expect(value["a"]?.arrayValue == [.null])
        #expect(value["o"]?.objectValue == [:])
        #expect(value["missing"] == nil)
        #expect(value["s"]?["s"] == nil)
        #expect(value.objectValue?.count == 6)
        #expect(value["s"]?.intValue == nil)
    }

    @Test(arguments: [
        (JSONValue.null, "null"), (.bool(false), "boolean"), (.int(1), "integer"), (.double(1), "number"),
        (.string(""), "string"), (.array([]), "array"), (.object([:]), "object"),
    ] as [(JSONValue, String)])
    func typeNames(_ value: JSONValue, _ name: String) {
        #expect(value.typeName == name)
    }
}

@Suite("JSON encoding")
struct JSONEncodingTests {
    @Test func encodesCompactlyWithSortedKeys() {
        let value: JSONValue = ["b": [1, 2.5, true, .null], "a": "x", "": ["z": 0, "y": -1]]
        #expect(value.encoded == #"{"":{"y":-1,"z":0},"a":"x","b":[1,2.5,true,null]}"#)
    }

    @Test func sortsKeysByUTF8Bytes() {
        let value: JSONValue = ["é": 1, "z": 2, "Z": 3, "aa": 4, "a": 5]
        #expect(value.encoded == #"{"Z":3,"a":5,"aa":4,"z":2,"é":1}"#)
    }

    @Test(arguments: [
        (JSONValue.int(.min), "-9223372036854775808"),
        (.double(0.1), "0.1"),
        (.double(5), "5.0"),
        (.double(-0.0), "-0.0"),
        (.double(1e100), "1e+100"),
        (.double(.infinity), "null"),
        (.double(.nan), "null"),
    ] as [(JSONValue, String)])
    func encodesNumbers(_ value: JSONValue, _ text: String) {
        #expect(value.encoded == text)
    }

    @Test(arguments: [
        JSONValue.null, true, 0, -42, .int(.max), 0.1, 1e-300, 1.7976931348623157e308, -2.5e-8,
        "", "plain", "quote \" backslash \\ slash /", "\u{0}\u{1}\u{1F}\u{7F}", "\n\r\t\u{8}\u{C}",
        "\u{2028}\u{2029}", "é日本😀\u{10FFFF}",
        [], [[[]]], ["a": ["b": [1, "2", ["c": .null]]]],
    ])
    func roundTrips(_ value: JSONValue) throws {
        #expect(try JSONValue.parse(value.encoded) == value)
    }

    @Test func quotesStrings() {
        #expect(JSONString.quoted("") == #""""#)
        #expect(JSONString.quoted("a\"b\\c/d") == #""a\"b\\c/d""#)
        #expect(JSONString.quoted("\n\r\t\u{8}\u{C}") == #""\n\r\t\b\f""#)
        #expect(JSONString.quoted("\u{0}\u{1F}\u{7F}") == "\"\\u0000\\u001f\u{7F}\"")
        #expect(JSONString.quoted("x\u{2028}y\u{2029}") == #""x\u2028y\u2029""#)
        #expect(JSONString.quoted("é€😀\u{2027}\u{202A}") == "\"é€😀\u{2027}\u{202A}\"")
    }

    @Test func appendsQuotedStrings() {
        var out = "key="
        JSONString.appendQuoted("a\nb", to: &out)
        #expect(out == #"key="a\nb""#)
    }
}
