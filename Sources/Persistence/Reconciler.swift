import CartDomain
import Diagnostics
import Postgres
import Redis
import Storage

/// Compares every cart Redis indexes with Postgres and copies the ones where Redis
/// is ahead. Only one process reconciles at a time. A cart Postgres has and Redis
/// lacks is left alone: missing is never taken for deleted.
public struct Reconciler {
    public struct Report: Sendable, Equatable {
        public var checked = 0
        public var resynced = 0
        public var upToDate = 0
        public var vanished = 0
    }

    let redis: BlockingRedisConnection
    let postgres: PostgresConnection
    let configuration: WorkerConfiguration
    let lease: LeaseScript

    public init(redis: BlockingRedisConnection, postgres: PostgresConnection, configuration: WorkerConfiguration, lease: LeaseScript) {
        self.redis = redis
        self.postgres = postgres
        self.configuration = configuration
        self.lease = lease
    }

    /// Nil when another reconciliation holds the lock.
    public func runIfFree() throws -> Report? {
        let holder = configuration.workerId + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let ttl = 60_000
        guard try lease.acquire(redis, key: CartKeys.reconcileLock, holder: holder, ttlMs: ttl) else { return nil }
        defer { _ = try? lease.release(redis, key: CartKeys.reconcileLock, holder: holder) }
        var report = Report()
        for shard in 0..<configuration.shards {
            guard try redis.command(lease.renewCommand(key: CartKeys.reconcileLock, holder: holder, ttlMs: ttl)) == .integer(1) else {
                throw PersistenceError("lost the reconcile lock")
            }
            var cursor = "0"
            repeat {
                let reply = try redis.command(["SSCAN", CartKeys.cartIndex(shard: shard), cursor, "COUNT", "500"])
                guard let parts = reply.arrayValue, parts.count == 2, let next = parts[0].stringValue else {
                    throw PersistenceError("SSCAN failed: \(reply)")
                }
                let users = (parts[1].arrayValue ?? []).compactMap(\.stringValue)
                try reconcile(users, into: &report)
                cursor = next
            } while cursor != "0"
        }
        Log.info("reconcile: \(report.checked) carts checked, \(report.resynced) resynced, \(report.upToDate) up to date")
        return report
    }

    private func reconcile(_ users: [String], into report: inout Report) throws {
        guard !users.isEmpty else { return }
        let metas = try redis.pipeline(users.map { ["HMGET", CartKeys(userId: $0, shards: configuration.shards).meta, "e", "v"] })
        let stored = try CartStore.versions(postgres, userIds: users)
        for (user, meta) in zip(users, metas) {
            report.checked += 1
            guard let parts = meta.arrayValue, parts.count == 2, let epoch = parts[0].intValue, let version = parts[1].intValue else {
                report.vanished += 1
                continue
            }
            if let mine = stored[user], mine >= CartVersion(epoch: epoch, version: version) {
                report.upToDate += 1
                continue
            }
            let wrote = try postgres.transaction { c -> Bool in
                _ = try CartStore.lockVersions(c, userIds: [user])
                guard let snapshot = try RedisCartReader.snapshot(redis, userId: user, shards: configuration.shards) else { return false }
                return try CartStore.replace(c, with: snapshot)
            }
            if wrote { report.resynced += 1 } else { report.upToDate += 1 }
        }
    }
}
