import CartDomain
import Diagnostics
import Foundation
import Postgres
import Redis
import Storage

/// `carthub worker`: applies the shards' outbox streams to Postgres.
///
/// Shards are owned through leases (`lease:{s:N}`), so each stream is applied by
/// one worker, in order; workers split the shards fairly and take over a dead
/// worker's shards, with its pending entries, when its lease lapses. Entries go to
/// Postgres in batches, one transaction and a few set-based statements per batch,
/// paced by `batchInterval` while the worker keeps up; a batch that fails is retried
/// entry by entry so one poison entry cannot sink the others. Acknowledged only after
/// commit; (epoch, version) checks make a redelivered entry harmless.
public final class PersistenceWorker {
    let configuration: WorkerConfiguration
    let lease: LeaseScript
    let consumers: ConsumerScript
    /// Walks catalog changes into carts (while this worker holds the catalog sync lease).
    let catalogSync: CatalogSync
    /// Keeps the stock and runs the order jobs (expiry, recovery).
    let orderJobs: OrderJobs
    private let connections: WorkerConnections
    private(set) var owned = Set<Int>()
    /// Claimed or failed entries still to apply, per shard, in stream order.
    private var backlog: [Int: [StreamEntry]] = [:]
    private var metrics = WorkerMetrics()
    private var lastMaintenance = 0.0
    private var lastTrim = 0.0
    private var lastOrderJobs = -Double.infinity
    private var highestAcked: [Int: String] = [:]
    /// When the last batch of entries started, and whether its read left entries waiting.
    private var lastBatch = -Double.infinity
    private var behind = false

    /// Seconds between two rounds of order jobs (stock adjustments, due expiries).
    static let orderJobsInterval = 0.1

    public init(configuration: WorkerConfiguration) throws {
        self.configuration = configuration
        lease = try LeaseScript(directory: configuration.luaDirectory)
        consumers = try ConsumerScript(directory: configuration.luaDirectory)
        catalogSync = try CatalogSync(configuration: configuration, lease: lease)
        orderJobs = try OrderJobs(configuration: configuration, lease: lease, consumers: consumers)
        connections = WorkerConnections(configuration: configuration)
    }

    /// Works until `shouldStop` says so, then gives its leases back.
    public func run(shouldStop: () -> Bool) {
        Log.info("worker \(configuration.workerId) started (\(configuration.shards) shards)")
        var failures = 0
        while !shouldStop() {
            do {
                try step()
                failures = 0
            } catch {
                // Redis or Postgres unreachable: not an attempt against any entry. Wait, reconnect, resume.
                failures += 1
                if failures == 1 || failures % 30 == 0 { Log.warning("worker: \(error); retrying") }
                connections.reset()
                Thread.sleep(forTimeInterval: min(2.0, 0.1 * Double(failures)))
            }
        }
        releaseAll()
        Log.info("worker \(configuration.workerId) stopped")
    }

    /// One round: keep leases, then apply what is due and what is new.
    func step() throws {
        // Caught up: let entries gather until `batchInterval` after the last batch, so
        // that each commit (one fsync, a fixed handful of statements) carries many jobs
        // and a cart's jobs fold into one write. Behind, or walking the catalog: go on.
        if !behind, !catalogSync.busy {
            let wait = lastBatch + configuration.batchInterval - Self.monotonic()
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
        }
        let now = Self.monotonic()
        if now - lastMaintenance >= 1 {
            try maintain()
            lastMaintenance = now
        }
        if now - lastTrim >= 5 {
            try trim()
            lastTrim = now
        }
        // Order jobs (a handful of Redis calls and a Postgres query) keep their own pace, so
        // that short batch intervals, or a worker behind, do not repeat them every round.
        if now - lastOrderJobs >= Self.orderJobsInterval {
            lastOrderJobs = now
            try orderJobs.step(redis: redis(), postgres: { try postgres() }, now: now, metrics: &metrics)
        }
        try catalogSync.step(redis: redis(), postgres: { try postgres() }, now: now, metrics: &metrics)
        // During a catalog walk, come back to it without waiting for new entries.
        let idle = !catalogSync.busy
        var entries = dueBacklog(now: now)
        behind = entries.count >= configuration.batchSize
        if !behind {
            let (new, full) = try readNew(limit: configuration.batchSize - entries.count, block: entries.isEmpty && idle)
            entries += new
            behind = full
        }
        guard !entries.isEmpty else {
            try flushMetrics()
            if owned.isEmpty && idle { Thread.sleep(forTimeInterval: 0.2) }
            return
        }
        lastBatch = Self.monotonic()
        do {
            try process(entries)
        } catch {
            // Nothing was acknowledged: keep every entry for the next round.
            for entry in entries { backlog[entry.shard, default: []].append(entry) }
            for shard in backlog.keys { backlog[shard]?.sort { Self.streamOrder($0.id, $1.id) } }
            throw error
        }
    }

    // MARK: Applying

    private func process(_ entries: [StreamEntry]) throws {
        var jobs: [(StreamEntry, PersistenceJob)] = []
        var malformed: [StreamEntry] = []
        for entry in entries {
            if let job = entry.job { jobs.append((entry, job)) } else { malformed.append(entry) }
        }
        if !jobs.isEmpty {
            do {
                try apply(jobs.map(\.1))
                try acknowledge(jobs.map(\.0))
            } catch let error as PostgresError where !error.isConnectionFailure {
                // Find the entries at fault: each on its own.
                for (entry, job) in jobs {
                    do {
                        try apply([job])
                        try acknowledge([entry])
                    } catch let error as PostgresError where !error.isConnectionFailure {
                        try failed(entry, reason: error.description)
                    }
                }
            }
        }
        for entry in malformed { try failed(entry, reason: "malformed entry: missing or invalid fields") }
        try flushMetrics()
    }

    private func apply(_ jobs: [PersistenceJob]) throws {
        let started = Self.monotonic()
        let postgres = try postgres()
        let redis = try redis()
        let shards = configuration.shards
        let plan = try postgres.transaction { c in
            let stored = try CartStore.lockVersions(c, userIds: Set(jobs.map(\.userId)))
            let plan = PersistencePlanner.plan(jobs, stored: stored)
            try CartStore.apply(c, plan.changes)
            for user in plan.fullSyncs.sorted() {
                if let snapshot = try RedisCartReader.snapshot(redis, userId: user, shards: shards) {
                    try CartStore.replace(c, with: snapshot)
                }
            }
            return plan
        }
        let nowMs = Self.wallMilliseconds()
        metrics.observe("db_write", milliseconds: (Self.monotonic() - started) * 1000)
        for job in jobs { metrics.observe("lag", milliseconds: Double(nowMs - job.updatedAtMs)) }
        metrics.add("jobs_applied", plan.applied)
        metrics.add("jobs_skipped", plan.skipped)
        metrics.add("full_syncs", plan.fullSyncs.count)
        if !plan.fullSyncs.isEmpty { Log.info("worker: full sync of \(plan.fullSyncs.count) cart(s) after a version gap") }
    }

    private func acknowledge(_ entries: [StreamEntry]) throws {
        guard !entries.isEmpty else { return }
        let byShard = Dictionary(grouping: entries, by: \.shard)
        var commands: [[String]] = []
        for (shard, list) in byShard {
            commands.append(["XACK", CartKeys.outbox(shard: shard), CartKeys.persistGroup] + list.map(\.id))
            if let last = list.map(\.id).max(by: Self.streamOrder), highestAcked[shard].map({ Self.streamOrder($0, last) }) ?? true {
                highestAcked[shard] = last
            }
        }
        // The metrics counted so far ride along: one round trip instead of two.
        _ = try redis().pipeline(commands + metrics.drain())
    }

    /// An entry failed for a reason of its own: retry later with backoff, or park it.
    private func failed(_ entry: StreamEntry, reason: String) throws {
        var entry = entry
        entry.attempts += 1
        if entry.firstFailureMs == 0 { entry.firstFailureMs = Self.wallMilliseconds() }
        guard entry.attempts >= configuration.maxAttempts else {
            let delay = min(configuration.maxRetryDelay, configuration.retryDelay * pow(2, Double(entry.attempts - 1)))
            entry.notBefore = Self.monotonic() + delay * Double.random(in: 0.5...1.0)
            backlog[entry.shard, default: []].append(entry)
            return
        }
        Log.warning("worker: parking \(entry.stream) \(entry.id) after \(entry.attempts) attempts: \(reason)")
        try DeadLetterStore.record(try postgres(), stream: entry.stream, entryId: entry.id, payload: entry.payload, error: reason,
                                   attempts: entry.attempts, firstSeenMs: entry.firstFailureMs)
        try acknowledge([entry])
        metrics.add("dead_lettered", 1)
        // The cart may now lack this change in Postgres: copy it whole from Redis.
        if let user = entry.fields["u"], Identifier.isValidUserId(user) { try fullSync(user) }
    }

    /// Copies one cart from Redis to Postgres unless Postgres is already as new.
    func fullSync(_ user: String) throws {
        let redis = try redis()
        let shards = configuration.shards
        let wrote = try postgres().transaction { c -> Bool in
            _ = try CartStore.lockVersions(c, userIds: [user])
            guard let snapshot = try RedisCartReader.snapshot(redis, userId: user, shards: shards) else { return false }
            return try CartStore.replace(c, with: snapshot)
        }
        if wrote { metrics.add("full_syncs", 1) }
    }

    private func flushMetrics() throws {
        let commands = metrics.drain()
        if !commands.isEmpty { _ = try redis().pipeline(commands) }
    }

    // MARK: Reading

    private func dueBacklog(now: Double) -> [StreamEntry] {
        var due: [StreamEntry] = []
        for shard in backlog.keys.sorted() {
            guard var list = backlog[shard] else { continue }
            // Stream order within a shard: stop at the first entry still waiting.
            let ready = list.prefix { $0.notBefore <= now }.prefix(configuration.batchSize - due.count)
            due += ready
            list.removeFirst(ready.count)
            backlog[shard] = list.isEmpty ? nil : list
            if due.count >= configuration.batchSize { break }
        }
        return due
    }

    /// New entries, about `limit` per shard at most; `full` when more may be waiting.
    /// Redis runs one command at a time, and one read of every shard's backlog (300 entries
    /// every 100 ms at 3,000 changes/s took Redis 2 ms on the bench machine) held up every
    /// cart command behind it: so a read takes a few streams and a few entries of each, the
    /// next read goes after the answer, leaving Redis free in between, and the streams that
    /// gave all they were asked for are read again until they have given `limit`.
    private func readNew(limit: Int, block: Bool) throws -> (entries: [StreamEntry], full: Bool) {
        let shards = owned.sorted()
        guard !shards.isEmpty, limit > 0 else { return ([], false) }
        var waiting = shards
        let count = min(limit, Self.entriesPerStreamRead)
        var entries: [StreamEntry] = []
        var taken: [Int: Int] = [:]
        var full = false
        while !waiting.isEmpty {
            var more: [Int] = []
            for start in stride(from: 0, to: waiting.count, by: Self.streamsPerRead) {
                let (read, gaveAll) = try read(Array(waiting[start..<min(start + Self.streamsPerRead, waiting.count)]), count: count, blockMs: nil)
                entries += read
                for entry in read { taken[entry.shard, default: 0] += 1 }
                for shard in gaveAll {
                    if taken[shard, default: 0] < limit { more.append(shard) } else { full = true }
                }
            }
            waiting = more
        }
        if entries.isEmpty, block {
            // Nothing anywhere: wait on every stream; what wakes it up is small.
            let (read, gaveAll) = try read(shards, count: count, blockMs: configuration.readBlockMs)
            return (read, !gaveAll.isEmpty)
        }
        return (entries, full)
    }

    static let streamsPerRead = 8
    static let entriesPerStreamRead = 16

    /// One XREADGROUP of `shards`, and the shards that gave `count` entries (more may wait).
    private func read(_ shards: [Int], count: Int, blockMs: Int?) throws -> (entries: [StreamEntry], full: [Int]) {
        var command = ["XREADGROUP", "GROUP", CartKeys.persistGroup, configuration.workerId, "COUNT", String(count)]
        if let blockMs { command += ["BLOCK", String(blockMs)] }
        command += ["STREAMS"] + shards.map { CartKeys.outbox(shard: $0) } + shards.map { _ in ">" }
        let reply = try redis().command(command)
        if case .error(let message) = reply {
            // The stream or its group vanished (Redis lost its data): set the shards up again.
            if message.hasPrefix("NOGROUP") { for shard in shards { try setUp(shard) } }
            throw PersistenceError("XREADGROUP failed: \(message)")
        }
        var entries: [StreamEntry] = []
        var full: [Int] = []
        for stream in reply.arrayValue ?? [] {
            guard let parts = stream.arrayValue, parts.count == 2, let name = parts[0].stringValue,
                  let shard = shards.first(where: { CartKeys.outbox(shard: $0) == name }) else { continue }
            let read = StreamEntry.parse(parts[1], shard: shard)
            if read.count >= count { full.append(shard) }
            entries += read
        }
        return (entries, full)
    }

    // MARK: Leases

    /// Heartbeat, renew what we hold, then grow or shrink to a fair share.
    private func maintain() throws {
        let redis = try redis()
        let nowMs = Self.wallMilliseconds()
        let shards = owned.sorted()
        var commands: [[String]] = [
            ["ZADD", CartKeys.workers, String(nowMs), configuration.workerId],
            ["ZREMRANGEBYSCORE", CartKeys.workers, "-inf", String(nowMs - Int64(configuration.leaseMs))],
            ["ZCARD", CartKeys.workers],
            ["GET", CartKeys.generation],
        ]
        commands += shards.map { lease.renewCommand(key: CartKeys.lease(shard: $0), holder: configuration.workerId, ttlMs: configuration.leaseMs) }
        let replies = try redis.pipeline(commands)
        if replies[3].stringValue.flatMap(Generation.isGeneration) == nil {
            _ = try Generation.ensure(redis: redis, postgres: { try postgres() }, shards: configuration.shards, lease: lease)
        }
        for (shard, reply) in zip(shards, replies.dropFirst(4)) where reply != .integer(1) {
            Log.warning("worker: lost the lease of shard \(shard)")
            drop(shard)
        }
        let live = max(1, Int(replies[2].intValue ?? 1))
        let share = (configuration.shards + live - 1) / live
        if owned.count > share {
            for shard in owned.sorted().suffix(owned.count - share) {
                try lease.release(redis, key: CartKeys.lease(shard: shard), holder: configuration.workerId)
                drop(shard)
            }
        }
        guard owned.count < share else { return }
        // Start at a worker-specific offset so workers starting together do not collide.
        let offset = Int(CartKeys.shard(of: configuration.workerId, shards: configuration.shards))
        for i in 0..<configuration.shards where owned.count < share {
            let shard = (offset + i) % configuration.shards
            guard !owned.contains(shard),
                  try lease.acquire(redis, key: CartKeys.lease(shard: shard), holder: configuration.workerId, ttlMs: configuration.leaseMs)
            else { continue }
            owned.insert(shard)
            try setUp(shard)
        }
    }

    /// Ensures the consumer group, takes over every pending entry of earlier owners and
    /// deletes their consumers.
    private func setUp(_ shard: Int) throws {
        let redis = try redis()
        let stream = CartKeys.outbox(shard: shard)
        if case .error(let message) = try redis.command(["XGROUP", "CREATE", stream, CartKeys.persistGroup, "0", "MKSTREAM"]), !message.hasPrefix("BUSYGROUP") {
            throw PersistenceError("cannot create the consumer group of \(stream): \(message)")
        }
        var cursor = "0-0"
        var claimed: [StreamEntry] = []
        repeat {
            let reply = try redis.command(["XAUTOCLAIM", stream, CartKeys.persistGroup, configuration.workerId, "0", cursor, "COUNT", "1000"])
            guard let parts = reply.arrayValue, parts.count >= 2, let next = parts[0].stringValue else {
                throw PersistenceError("XAUTOCLAIM on \(stream) failed: \(reply)")
            }
            claimed += StreamEntry.parse(parts[1], shard: shard)
            cursor = next
        } while cursor != "0-0"
        let known = Set((backlog[shard] ?? []).map(\.id))
        backlog[shard, default: []] += claimed.filter { !known.contains($0.id) }
        backlog[shard]?.sort { Self.streamOrder($0.id, $1.id) }
        if !claimed.isEmpty { Log.info("worker: took over shard \(shard) with \(claimed.count) pending entries") }
        let removed = try consumers.deleteIdle(redis, stream: stream, group: CartKeys.persistGroup, keeping: configuration.workerId)
        if removed > 0 { Log.info("worker: removed \(removed) consumer(s) of stopped workers from shard \(shard)") }
    }

    private func drop(_ shard: Int) {
        owned.remove(shard)
        backlog[shard] = nil
        highestAcked[shard] = nil
    }

    private func releaseAll() {
        guard let redis = try? redis() else { return }
        catalogSync.release(redis)
        orderJobs.release(redis)
        for shard in owned { _ = try? lease.release(redis, key: CartKeys.lease(shard: shard), holder: configuration.workerId) }
        _ = try? redis.command(["ZREM", CartKeys.workers, configuration.workerId])
        owned.removeAll()
    }

    /// Drops what every consumer has acknowledged: below the oldest pending entry,
    /// or up to the last delivered one when nothing is pending; never past either.
    private func trim() throws {
        let redis = try redis()
        for shard in owned.sorted() {
            let stream = CartKeys.outbox(shard: shard)
            let pending = try redis.command(["XPENDING", stream, CartKeys.persistGroup])
            guard let summary = pending.arrayValue, summary.count >= 2, let count = summary[0].intValue else { continue }
            let floor: String?
            if count > 0 {
                floor = summary[1].stringValue
            } else {
                floor = highestAcked[shard]?.nextStreamId
            }
            if let floor { try redis.command(["XTRIM", stream, "MINID", floor]) }
        }
    }

    // MARK: Connections

    func redis() throws -> BlockingRedisConnection { try connections.redis() }
    func postgres() throws -> PostgresConnection { try connections.postgres() }

    /// Seconds on a clock that never steps back, for intervals and backoff.
    public static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func wallMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Stream ids compare as (milliseconds, sequence).
    static func streamOrder(_ a: String, _ b: String) -> Bool {
        streamPosition(a) < streamPosition(b)
    }

    /// `ms-seq` as numbers, read in place: this runs for every entry of every batch.
    private static func streamPosition(_ id: String) -> (UInt64, UInt64) {
        var parts: (UInt64, UInt64) = (0, 0)
        var second = false
        for byte in id.utf8 {
            if byte == UInt8(ascii: "-") {
                second = true
            } else if second {
                parts.1 = parts.1 &* 10 &+ UInt64(byte &- UInt8(ascii: "0"))
            } else {
                parts.0 = parts.0 &* 10 &+ UInt64(byte &- UInt8(ascii: "0"))
            }
        }
        return parts
    }
}
