import CartDomain
import JSON
import Redis

/// Reads a whole cart from Redis in one MULTI/EXEC, so header and lines agree.
public enum RedisCartReader {
    public static func snapshot(_ redis: BlockingRedisConnection, userId: String, shards: Int) throws -> CartSnapshot? {
        let keys = CartKeys(userId: userId, shards: shards)
        let replies = try redis.pipeline([["MULTI"], ["HMGET", keys.meta, "v", "e", "t", "u"], ["HGETALL", keys.lines], ["EXEC"]])
        guard case .array(let results)? = replies.last, results.count == 2, case .array(let meta) = results[0], meta.count == 4 else {
            throw PersistenceError("unexpected reply reading the cart of \(userId)")
        }
        guard let version = meta[0].intValue, let epoch = meta[1].intValue, let total = meta[2].intValue else { return nil }
        var updatedAt: String?
        if let encoded = meta[3].stringValue, case .string(let text)? = try? JSONValue.parse(encoded) { updatedAt = text }
        var lines: [String: CartLineState] = [:]
        let flat = results[1].arrayValue ?? []
        for i in stride(from: 0, to: flat.count - 1, by: 2) {
            guard let book = flat[i].stringValue, let encoded = flat[i + 1].stringValue, let line = try? JSONValue.parse(encoded),
                  let quantity = line["quantity"]?.intValue, let price = line["unitPriceCents"]?.intValue, let title = line["title"]?.stringValue
            else { throw PersistenceError("unreadable line in the cart of \(userId)") }
            lines[book] = CartLineState(quantity: quantity, unitPriceCents: price, title: title)
        }
        return CartSnapshot(userId: userId, version: CartVersion(epoch: epoch, version: version), totalCents: total, updatedAt: updatedAt, lines: lines)
    }
}
