import CartDomain
import Postgres
import Redis
import Storage

/// The generation key says Redis holds a loaded state. When it is missing (a new
/// deployment, or Redis restarted without its data), one process records the next
/// generation number in Postgres and stamps every shard with it (`gen:{s:N}`, field
/// `g`): new and restored carts take it as their epoch, so epochs only grow. With no
/// cart in Postgres it is a fresh start and the shards are also marked loaded; after
/// a loss they are not, and each cart is rehydrated from Postgres on first access
/// (the cart script answers "missing").
public enum Generation {
    public enum Outcome: Sendable, Equatable {
        case present(String)
        case created(String, fresh: Bool)
        /// Another process is rebuilding; ask again shortly.
        case busy
    }

    /// Blocking: for worker threads and CLI commands only.
    public static func ensure(redis: BlockingRedisConnection, postgres: () throws -> PostgresConnection, shards: Int, lease: LeaseScript) throws -> Outcome {
        if let value = try current(redis) { return .present(value) }
        let token = String(UInt64.random(in: 1...UInt64.max), radix: 36)
        guard try lease.acquire(redis, key: CartKeys.rebuildLock, holder: token, ttlMs: 30000) else { return .busy }
        defer { _ = try? lease.release(redis, key: CartKeys.rebuildLock, holder: token) }
        if let value = try current(redis) { return .present(value) }
        let database = try postgres()
        let fresh = try CartStore.isEmpty(database)
        let generation = String(try GenerationStore.next(database, fresh: fresh))
        _ = try redis.pipeline((0..<shards).flatMap { shard in
            [["DEL", CartKeys.generationMarker(shard: shard)],
             ["HSET", CartKeys.generationMarker(shard: shard), "g", generation] + (fresh ? ["loaded", "1"] : [])]
        })
        try redis.command(["SET", CartKeys.generation, generation])
        return .created(generation, fresh: fresh)
    }

    /// The generation in force; a value that is not a generation number (left by an
    /// older release) counts as missing and is replaced.
    static func current(_ redis: BlockingRedisConnection) throws -> String? {
        try redis.command(["GET", CartKeys.generation]).stringValue.flatMap(isGeneration)
    }

    public static func isGeneration(_ value: String) -> String? {
        Int64(value).map { _ in value }
    }
}
