import CartDomain
import Postgres
import Redis
import Storage

/// The generation key says Redis holds a loaded state. When it is missing (a new
/// deployment, or Redis restarted without its data), one process decides which:
/// with no cart in Postgres it is a fresh start and every shard is marked loaded;
/// otherwise Redis lost data, the shards stay unmarked, and each cart is rehydrated
/// from Postgres on first access (the cart script answers "missing").
public enum Generation {
    public enum Outcome: Sendable, Equatable {
        case present(String)
        case created(String, fresh: Bool)
        /// Another process is rebuilding; ask again shortly.
        case busy
    }

    /// Blocking: for worker threads and CLI commands only.
    public static func ensure(redis: BlockingRedisConnection, postgres: () throws -> PostgresConnection, shards: Int, lease: LeaseScript) throws -> Outcome {
        if let value = try redis.command(["GET", CartKeys.generation]).stringValue { return .present(value) }
        let token = String(UInt64.random(in: 1...UInt64.max), radix: 36)
        guard try lease.acquire(redis, key: CartKeys.rebuildLock, holder: token, ttlMs: 30000) else { return .busy }
        defer { _ = try? lease.release(redis, key: CartKeys.rebuildLock, holder: token) }
        if let value = try redis.command(["GET", CartKeys.generation]).stringValue { return .present(value) }
        let fresh = try CartStore.isEmpty(postgres())
        if fresh {
            for shard in 0..<shards {
                try redis.command(["SET", CartKeys.generationMarker(shard: shard), "1"])
            }
        }
        let generation = String(UInt64.random(in: 1...UInt64.max), radix: 36)
        try redis.command(["SET", CartKeys.generation, generation])
        return .created(generation, fresh: fresh)
    }
}
