import CartDomain
import Diagnostics
import Foundation
import Postgres
import Redis
import Storage

/// Walks catalog changes into the carts that hold the changed books (run by
/// `carthub worker`, one worker at a time through the `carthub:catalog-sync` lease).
///
/// Every `pollInterval` it asks Postgres for the books whose revision is past the sync
/// cursor (an indexed range query). For each book, oldest change first, one pipelined
/// round of `catalog.lua begin` records the revision in every shard (from then on the
/// cart script refuses add/set priced from an older revision) and returns the shard's
/// book index; then `catalog.lua apply` rewrites the line in batches of at most
/// `cartsPerBatch` carts, one batch per Redis call, never SCAN/KEYS. The cursor moves
/// past a book once all its shards are done: a crash walks the book again, which changes
/// nothing the first walk already changed. Work is cut into steps of at most
/// `batchesPerStep` batches, so the worker keeps applying the outbox (including the jobs
/// the walk itself appends) during a long walk, and Redis serves hubs between batches.
final class CatalogSync {
    struct Settings {
        var pollInterval = 0.25
        var booksPerPoll = 100
        var cartsPerBatch = 100
        var batchesPerStep = 8
    }

    let configuration: WorkerConfiguration
    let settings: Settings
    private let lease: LeaseScript
    private let source: String
    private let holder: String
    private var holding = false
    private var lastPoll = -Double.infinity
    private var lastRenewal = -Double.infinity
    /// Known while holding the lease (only the holder moves it).
    private var cursor: Int64?
    /// Books still to walk, oldest change first; the first is in progress.
    private var queue: [CatalogRecord] = []
    /// For the book in progress once begun: per shard, the carts still to apply.
    private var shardsLeft: [(shard: Int, users: ArraySlice<String>)]?

    init(configuration: WorkerConfiguration, lease: LeaseScript, settings: Settings = Settings()) throws {
        self.configuration = configuration
        self.lease = lease
        self.settings = settings
        source = try LuaSource.read("catalog.lua", directory: configuration.luaDirectory, withCartLibrary: true)
        holder = configuration.workerId + "-catalog"
    }

    /// A walk is in progress: the caller should come back without waiting.
    var busy: Bool { !queue.isEmpty }

    /// Does a bounded amount of work. On an error the walk restarts from the cursor.
    func step(redis: BlockingRedisConnection, postgres: () throws -> PostgresConnection, now: Double, metrics: inout WorkerMetrics) throws {
        do {
            try work(redis: redis, postgres: postgres, now: now, metrics: &metrics)
        } catch {
            reset()
            throw error
        }
    }

    /// Gives the lease back (worker shutdown).
    func release(_ redis: BlockingRedisConnection) {
        if holding { _ = try? lease.release(redis, key: CartKeys.catalogSyncLease, holder: holder) }
        holding = false
        reset()
    }

    private func reset() {
        queue = []
        shardsLeft = nil
        cursor = nil
    }

    private func work(redis: BlockingRedisConnection, postgres: () throws -> PostgresConnection, now: Double, metrics: inout WorkerMetrics) throws {
        guard busy || now - lastPoll >= settings.pollInterval else { return }
        guard try keepLease(redis, now: now) else { return }
        if queue.isEmpty {
            lastPoll = now
            let database = try postgres()
            let after = try cursor ?? CatalogStore.syncCursor(database)
            cursor = after
            queue = try CatalogStore.changes(database, after: after, limit: settings.booksPerPoll)
            guard !queue.isEmpty else { return }
        }
        let sha = try load(redis)
        var budget = settings.batchesPerStep
        while budget > 0, let record = queue.first {
            if shardsLeft == nil { shardsLeft = try begin(record, redis: redis, sha: sha) }
            while budget > 0, var next = shardsLeft?.first {
                let users = next.users.prefix(settings.cartsPerBatch)
                next.users = next.users.dropFirst(users.count)
                let stale = try apply(record, shard: next.shard, users: Array(users), redis: redis, sha: sha, metrics: &metrics)
                if stale || next.users.isEmpty { shardsLeft?.removeFirst() } else { shardsLeft?[0] = next }
                budget -= 1
            }
            guard shardsLeft?.isEmpty == true else { break }
            try CatalogStore.advanceSyncCursor(postgres(), to: record.book.revision)
            cursor = max(cursor ?? 0, record.book.revision)
            queue.removeFirst()
            shardsLeft = nil
            metrics.add("catalog_books_walked", 1)
        }
    }

    /// Records the revision in every shard at once and reads each shard's book index.
    private func begin(_ record: CatalogRecord, redis: BlockingRedisConnection, sha: String) throws -> [(shard: Int, users: ArraySlice<String>)] {
        let id = record.book.id
        let shards = 0..<configuration.shards
        let replies = try redis.pipeline(shards.map { shard in
            ["EVALSHA", sha, "2", CartKeys.catalogRevisions(shard: shard), CartKeys.bookIndex(shard: shard, bookId: id), "begin", id, String(record.book.revision)]
        })
        var walk: [(shard: Int, users: ArraySlice<String>)] = []
        for (shard, reply) in zip(shards, replies) {
            guard let parts = reply.arrayValue, parts.count == 2 else { throw PersistenceError("catalog.lua begin failed: \(reply)") }
            let users = (parts[1].arrayValue ?? []).compactMap(\.stringValue)
            if parts[0].intValue == 1, !users.isEmpty { walk.append((shard, users.sorted()[...])) }
        }
        return walk
    }

    /// One batch; true when the shard already holds a newer revision (stop walking it).
    private func apply(_ record: CatalogRecord, shard: Int, users: [String], redis: BlockingRedisConnection, sha: String, metrics: inout WorkerMetrics) throws -> Bool {
        let book = record.book
        var keys = [CartKeys.catalogRevisions(shard: shard), CartKeys.bookIndex(shard: shard, bookId: book.id), CartKeys.outbox(shard: shard)]
        for user in users {
            let cart = CartKeys(userId: user, shards: configuration.shards)
            keys += [cart.meta, cart.lines]
        }
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let args = ["apply", book.id, String(book.revision), record.deleted ? "1" : "0", book.title, String(book.priceCents), String(book.stock),
                    String(nowMs), Timestamp.iso8601(milliseconds: nowMs), CartKeys.channel(userId: "")] + users
        let reply = try redis.command(["EVALSHA", sha, String(keys.count)] + keys + args)
        guard let counts = reply.arrayValue?.compactMap(\.intValue), counts.count == 3 else {
            throw PersistenceError("catalog.lua apply failed: \(reply)")
        }
        if counts[0] < 0 { return true }
        metrics.add("catalog_carts_changed", Int(counts[0]))
        return false
    }

    /// SCRIPT LOAD is idempotent and cheap; once per step covers a SCRIPT FLUSH or a new connection.
    private func load(_ redis: BlockingRedisConnection) throws -> String {
        guard let sha = try redis.command(["SCRIPT", "LOAD", source]).stringValue else {
            throw PersistenceError("cannot load lua/catalog.lua")
        }
        return sha
    }

    /// Acquires or renews (at most once a second) the walker's lease.
    private func keepLease(_ redis: BlockingRedisConnection, now: Double) throws -> Bool {
        if holding {
            guard now - lastRenewal >= 1 else { return true }
            holding = try redis.command(lease.renewCommand(key: CartKeys.catalogSyncLease, holder: holder, ttlMs: configuration.leaseMs)) == .integer(1)
            if !holding {
                Log.warning("worker: lost the catalog sync lease")
                reset()
            }
        } else {
            lastPoll = now
            holding = try lease.acquire(redis, key: CartKeys.catalogSyncLease, holder: holder, ttlMs: configuration.leaseMs)
            if holding { cursor = nil }
        }
        if holding { lastRenewal = now }
        return holding
    }
}
