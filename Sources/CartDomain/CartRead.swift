import JSON

/// A cart read without running the cart script: one `HMGET` of the meta hash, whose
/// fields `lua/cart.lua` keeps (see its header), framed exactly as the script frames its
/// snapshot. A read is the commonest command (every page load and reconnect), and the
/// script costs Redis several times what the `HMGET` does.
public enum CartRead {
    /// The meta fields read: version, epoch, total, item count, updatedAt (JSON), the
    /// items JSON and the version it was written at.
    public static let fields = ["v", "e", "t", "n", "u", "i", "iv"]

    /// The snapshot JSON from the `HMGET` values (in `fields` order), or nil when the
    /// script must answer: no cart in Redis (it may need restoring from Postgres), or
    /// items not written at the current version (a cart of a former layout).
    public static func snapshot(userId: String, values: [String?]) -> String? {
        guard values.count == fields.count, let version = values[0], let epoch = values[1], let items = values[5],
              values[6] == version else { return nil }
        var json = #"{"userId":"#
        JSONString.appendQuoted(userId, to: &json)
        json += #","epoch":"# + epoch + #","version":"# + version + #","items":["# + items
        json += #"],"totalCents":"# + (values[2] ?? "0") + #","itemCount":"# + (values[3] ?? "0")
        json += #","updatedAt":"# + (values[4] ?? "null") + "}"
        return json
    }
}
