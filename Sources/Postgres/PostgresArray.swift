/// Text literals for Postgres arrays, so a whole batch binds as a few `unnest($n::type[])`
/// parameters instead of thousands of placeholders.
public enum PostgresArray {
    /// `["a", "b\"c"]` → `{"a","b\"c"}`; every element quoted, so commas, braces and
    /// spaces inside values are data.
    public static func literal(_ values: some Sequence<String>) -> String {
        // Built as UTF-8 bytes: `"` and `\` never occur inside a multi-byte sequence, and
        // byte appends cost far less than String appends (thousands of values per batch).
        var out: [UInt8] = [UInt8(ascii: "{")]
        for value in values {
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            for byte in value.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    public static func literal(_ values: some Sequence<Int64>) -> String {
        "{" + values.map(String.init).joined(separator: ",") + "}"
    }
}
