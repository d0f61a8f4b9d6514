/// Text literals for Postgres arrays, so a whole batch binds as a few `unnest($n::type[])`
/// parameters instead of thousands of placeholders.
public enum PostgresArray {
    /// `["a", "b\"c"]` → `{"a","b\"c"}`; every element quoted, so commas, braces and
    /// spaces inside values are data.
    public static func literal(_ values: some Sequence<String>) -> String {
        var out = "{"
        var first = true
        for value in values {
            if !first { out += "," }
            first = false
            out += "\""
            for ch in value.unicodeScalars {
                if ch == "\"" || ch == "\\" { out += "\\" }
                out.unicodeScalars.append(ch)
            }
            out += "\""
        }
        return out + "}"
    }

    public static func literal(_ values: some Sequence<Int64>) -> String {
        "{" + values.map(String.init).joined(separator: ",") + "}"
    }
}
