/// Shapes of the ids that reach Redis keys and Lua arguments.
public enum Identifier {
    public static let maxLength = 64

    /// Book ids: 1-64 of `A-Z a-z 0-9 _ . -`, but not `.` or `..`, which URLs cannot
    /// carry as a path segment (`/api/books/..` is `/api`).
    public static func isValidBookId(_ s: String) -> Bool {
        s != "." && s != ".." && isValid(s) { $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// User ids (the JWT `sub`) and session ids: book-id characters plus `@` and `:`.
    public static func isValidUserId(_ s: String) -> Bool {
        isValid(s) {
            $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
                || $0 == UInt8(ascii: "@") || $0 == UInt8(ascii: ":")
        }
    }

    private static func isValid(_ s: String, extra: (UInt8) -> Bool) -> Bool {
        let utf8 = s.utf8
        guard !utf8.isEmpty, utf8.count <= maxLength else { return false }
        return utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || extra(c)
        }
    }
}
