import JSON

/// A cart as its meta hash holds it (lua/cart.lua's header), read back from the snapshot
/// JSON the scripts frame: what a hub needs to compute a change itself (CartChange).
public struct CartState: Sendable, Equatable {
    /// The epoch as the meta hash holds it (integer text).
    public var epoch: String
    public var version: Int64
    public var totalCents: Int64
    public var itemCount: Int64
    /// A quoted ISO 8601 time, or null.
    public var updatedAt: String
    /// The lines' JSON sorted by bookId, joined by commas.
    public var items: String

    public init(epoch: String, version: Int64, totalCents: Int64, itemCount: Int64, updatedAt: String, items: String) {
        self.epoch = epoch
        self.version = version
        self.totalCents = totalCents
        self.itemCount = itemCount
        self.updatedAt = updatedAt
        self.items = items
    }

    /// Reads a snapshot exactly as `snapshotJSON` in lua/cartlib.lua and CartRead frame it
    /// (nil for anything else): `{"userId":…,"epoch":E,"version":V,"items":[…],
    /// "totalCents":T,"itemCount":N,"updatedAt":U}`.
    public init?(snapshot: String) {
        var snapshot = snapshot
        guard let state = snapshot.withUTF8({ Self.parse(Bytes($0)) }) else { return nil }
        self = state
    }

    /// Whether `newer` may replace this state: a later version of the same epoch, or
    /// another epoch (a cart restored after Redis lost it starts a new one).
    public func isSuperseded(by newer: CartState) -> Bool {
        newer.epoch != epoch || newer.version > version
    }

    /// The snapshot JSON of this state (the inverse of `init(snapshot:)`).
    public func snapshot(userId: String) -> String {
        var json = #"{"userId":"#
        JSONString.appendQuoted(userId, to: &json, escaping: .redisLua)
        json += #","epoch":"# + epoch + #","version":"# + String(version) + #","items":["# + items
        json += #"],"totalCents":"# + String(totalCents) + #","itemCount":"# + String(itemCount)
        json += #","updatedAt":"# + updatedAt + "}"
        return json
    }

    private static func parse(_ b: Bytes) -> CartState? {
        guard var at = b.skip(#"{"userId":""#, at: 0) else { return nil }
        // The user id: a JSON string, whose quotes inside are escaped.
        while at < b.count, b[at] != UInt8(ascii: "\"") { at += b[at] == UInt8(ascii: "\\") ? 2 : 1 }
        guard let epochAt = b.skip(#"","epoch":"#, at: at), let (epoch, e) = b.digits(at: epochAt),
              let versionAt = b.skip(#","version":"#, at: e), let (version, v) = b.digits(at: versionAt),
              let itemsAt = b.skip(#","items":["#, at: v),
              // Inside items every quote of a string is escaped, so this is the end of items.
              let itemsEnd = b.find(#"],"totalCents":"#, from: itemsAt),
              let (total, t) = b.digits(at: itemsEnd + 15),
              let countAt = b.skip(#","itemCount":"#, at: t), let (count, c) = b.digits(at: countAt),
              let updatedAt = b.skip(#","updatedAt":"#, at: c), b.count > updatedAt, b[b.count - 1] == UInt8(ascii: "}"),
              let versionNumber = Int64(version), let totalNumber = Int64(total), let countNumber = Int64(count)
        else { return nil }
        return CartState(epoch: epoch, version: versionNumber, totalCents: totalNumber, itemCount: countNumber,
                         updatedAt: b.string(updatedAt, b.count - 1), items: b.string(itemsAt, itemsEnd))
    }
}

/// UTF-8 bytes read in place.
struct Bytes {
    let base: UnsafeBufferPointer<UInt8>
    init(_ base: UnsafeBufferPointer<UInt8>) { self.base = base }

    var count: Int { base.count }
    subscript(_ i: Int) -> UInt8 { base[i] }

    /// The index after `literal` if it starts at `at`.
    func skip(_ literal: StaticString, at: Int) -> Int? {
        let n = literal.utf8CodeUnitCount
        guard at + n <= count else { return nil }
        let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: n)
        for i in 0..<n where base[at + i] != bytes[i] { return nil }
        return at + n
    }

    /// Where `literal` first starts at or after `from`.
    func find(_ literal: StaticString, from: Int) -> Int? {
        var at = from
        while at + literal.utf8CodeUnitCount <= count {
            if skip(literal, at: at) != nil { return at }
            at += 1
        }
        return nil
    }

    /// The decimal digits starting at `at` (at least one) and the index after them.
    func digits(at: Int) -> (String, Int)? {
        var end = at
        while end < count, base[end] >= UInt8(ascii: "0"), base[end] <= UInt8(ascii: "9") { end += 1 }
        return end > at ? (string(at, end), end) : nil
    }

    func string(_ from: Int, _ to: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: base[from..<to]), as: UTF8.self)
    }
}
