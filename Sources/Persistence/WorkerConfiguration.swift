import Redis

/// What `carthub worker` can be told.
public struct WorkerConfiguration: Sendable {
    public var redis = RedisConfiguration()
    public var databaseURL = "postgres://carthub@127.0.0.1:5432/carthub"
    public var shards = 64
    public var luaDirectory = "lua"
    /// Names this process in leases and as the stream consumer.
    public var workerId = "w-" + String(UInt64.random(in: 0..<(1 << 40)), radix: 36)
    /// Most entries of one shard read for one Postgres transaction.
    public var batchSize = 500
    /// Seconds between the starts of two batches while the worker keeps up: new
    /// entries wait up to this long, and in exchange each transaction carries more.
    /// Short, because a batch's Postgres work takes a core for its length: at 3,000
    /// changes/s, batches every 100 ms (about 10 ms of work each) put the hubs' reply
    /// p99 at 3.8-5.5 ms, every 25 ms at 1.9-5.2 (measured interleaved; README).
    public var batchInterval = 0.025
    /// Longest wait for new entries in one read; bounds how late leases are renewed too.
    public var readBlockMs = 100
    /// A shard lease lapses this long after its holder stopped renewing it.
    public var leaseMs = 10_000
    /// Failures of one entry (for a reason of its own) before it is parked in dead_letters.
    public var maxAttempts = 5
    /// First retry delay; doubles per attempt, with jitter, up to `maxRetryDelay`.
    public var retryDelay = 0.1
    public var maxRetryDelay = 5.0

    public init() {}
}
