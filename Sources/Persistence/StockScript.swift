import CartDomain
import Redis

/// `lua/stock.lua` for blocking callers (the worker, `carthub stock`, the rebuild), and
/// the argument layout every caller shares (see the script's header).
public struct StockScript: Sendable {
    public let source: String

    public init(directory: String) throws {
        source = try LuaSource.read("stock.lua", directory: directory)
    }

    /// `numkeys key… op generation arg…`, to follow `EVALSHA sha` or `EVAL source`.
    public static func evalArguments(_ op: String, generation: String, _ args: [String]) -> [String] {
        [String(StockKeys.scriptKeys.count)] + StockKeys.scriptKeys + [op, generation] + args
    }

    /// `reserve`'s arguments after the generation.
    public static func reserveArguments(orderId: String, userId: String, dueMs: Int64, nowMs: Int64, items: [OrderItem]) -> [String] {
        [orderId, userId, String(dueMs), String(nowMs)] + items.flatMap { [$0.bookId, String($0.quantity)] }
    }

    /// Runs one op (EVAL: Redis caches the script by its SHA anyway); the reply's first
    /// element is the outcome (see the script).
    @discardableResult
    public func run(_ redis: BlockingRedisConnection, _ op: String, generation: String = "", _ args: [String] = []) throws -> [RedisValue] {
        let reply = try redis.command(["EVAL", source] + Self.evalArguments(op, generation: generation, args))
        guard let parts = reply.arrayValue, !parts.isEmpty else { throw PersistenceError("stock.lua \(op) failed: \(reply)") }
        return parts
    }

    /// Gives a reservation's units back (cancel, expiry, failed payment, orphan); true when it did.
    @discardableResult
    public func release(_ redis: BlockingRedisConnection, orderId: String) throws -> Bool {
        try run(redis, "release", [orderId]).first?.stringValue == "released"
    }

    /// Drops a paid order's reservation without giving its units back.
    @discardableResult
    public func commit(_ redis: BlockingRedisConnection, orderId: String) throws -> Bool {
        try run(redis, "commit", [orderId]).first?.stringValue == "committed"
    }

    /// Brings a reservation in line with its order's status in Postgres: gone for any status
    /// but PAYMENT_PENDING, committed (units stay out) when paid, released otherwise.
    public func settle(_ redis: BlockingRedisConnection, orderId: String, status: OrderStatus?) throws {
        switch status {
        case .paymentPending: return
        case .confirmed, .shipped, .delivered: try commit(redis, orderId: orderId)
        case .cancelled, .expired, nil: try release(redis, orderId: orderId)
        }
    }
}
