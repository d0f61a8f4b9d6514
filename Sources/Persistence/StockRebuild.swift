import CartDomain
import Diagnostics
import Postgres
import Redis
import Storage

/// Builds the Redis stock (available counters, reservations, expiry jobs) from Postgres
/// when it was not built for the Redis generation in force: after a fresh start or a
/// loss of Redis data. Until then `lua/stock.lua` answers "unbuilt" and order commands
/// UNAVAILABLE. One process at a time (`StockKeys.rebuildLock`).
///
/// available = books.stock − the quantities of PAYMENT_PENDING orders; each such order
/// gets its reservation and its expiry job back (due at its `expires_at`); the
/// adjustment cursor is the newest `stock_adjustments` id, all read in one snapshot.
public enum StockRebuild {
    public enum Outcome: Sendable, Equatable {
        case present
        case rebuilt(orders: Int)
        /// Another process is rebuilding, or Redis has no generation yet: ask again shortly.
        case busy
    }

    public static func isBuilt(_ redis: BlockingRedisConnection, generation: String) throws -> Bool {
        try redis.command(["HGET", StockKeys.meta, "g"]).stringValue == generation
    }

    /// Blocking: for worker threads and CLI commands only.
    public static func ensure(redis: BlockingRedisConnection, postgres: () throws -> PostgresConnection, lease: LeaseScript, script: StockScript) throws -> Outcome {
        guard let generation = try Generation.current(redis) else { return .busy }
        if try isBuilt(redis, generation: generation) { return .present }
        let token = String(UInt64.random(in: 1...UInt64.max), radix: 36)
        guard try lease.acquire(redis, key: StockKeys.rebuildLock, holder: token, ttlMs: 30000) else { return .busy }
        defer { _ = try? lease.release(redis, key: StockKeys.rebuildLock, holder: token) }
        if try isBuilt(redis, generation: generation) { return .present }
        let (stock, pending, cursor) = try read(postgres())
        var available = stock
        for order in pending {
            for item in order.items { available[item.bookId, default: 0] -= item.quantity }
        }
        var args = [String(cursor), String(available.count)]
        for (book, units) in available.sorted(by: { $0.key < $1.key }) { args += [book, String(units)] }
        for order in pending {
            args += [order.orderId, order.userId, String(order.expiresAtMs), String(order.items.count)]
            for item in order.items { args += [item.bookId, String(item.quantity)] }
        }
        try script.run(redis, "rebuild", generation: generation, args)
        Log.info("stock rebuilt for generation \(generation): \(available.count) books, \(pending.count) pending orders")
        return .rebuilt(orders: pending.count)
    }

    /// Stock, pending orders and the newest adjustment id, from one snapshot.
    static func read(_ c: PostgresConnection) throws -> (stock: [String: Int64], pending: [PendingOrder], cursor: Int64) {
        try c.transaction { c in
            try c.execute("set transaction isolation level repeatable read")
            return (try OrderStore.stock(c), try OrderStore.pending(c), try OrderStore.lastAdjustment(c))
        }
    }
}
