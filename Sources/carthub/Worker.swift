import ArgumentParser
import Diagnostics
import EventLoop
import Foundation
import Persistence
import Synchronization

/// Set by SIGTERM/SIGINT; the worker finishes its batch and gives its leases back.
private let stopRequested = Atomic<Bool>(false)

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the cart outbox streams to Postgres and walk catalog changes into carts (run one or more).",
        discussion: """
            One worker at a time (lease carthub:catalog-sync) walks catalog changes into
            every cart that holds the changed book.

            Environment: REDIS_URL, DATABASE_URL, CARTHUB_SHARDS, CARTHUB_LUA_DIR, and
              CARTHUB_WORKER_ID            consumer and lease name (default: random)
              CARTHUB_WORKER_BATCH         entries per Postgres transaction (default 500)
              CARTHUB_WORKER_MAX_ATTEMPTS  failures before an entry is parked in dead_letters (default 5)
              CARTHUB_LEASE_MS             shard lease lifetime (default 10000)
              CARTHUB_RECONCILE_INTERVAL   seconds between reconciliations (default 600)
            """)

    @OptionGroup var common: WorkerOptions

    func run() throws {
        Log.configure(from: Env.value("CARTHUB_LOG"))
        let worker = try PersistenceWorker(configuration: common.configuration())
        for sig in [SIGTERM, SIGINT] {
            signal(sig) { _ in stopRequested.store(true, ordering: .relaxed) }
            EventLoop.unblock(sig)
        }
        worker.run { stopRequested.load(ordering: .relaxed) }
    }
}

/// Options shared by the commands that work on the persistence pipeline.
struct WorkerOptions: ParsableArguments {
    @Option(name: .customLong("redis-url"), help: "Redis URL (REDIS_URL).") var redisURL: String?
    @Option(name: .customLong("database-url"), help: "Postgres URL (DATABASE_URL).") var databaseURL: String?
    @Option(help: "Shard count (CARTHUB_SHARDS).") var shards: Int?
    @Option(name: .customLong("lua-dir"), help: "Folder with the Lua scripts (CARTHUB_LUA_DIR).") var luaDir: String?

    func configuration() throws -> WorkerConfiguration {
        var c = WorkerConfiguration()
        c.redis = try Env.redis(redisURL)
        c.databaseURL = Env.databaseURL(databaseURL)
        c.shards = try Env.int(shards, "CARTHUB_SHARDS", default: 64)
        c.luaDirectory = Env.luaDirectory(luaDir)
        if let id = Env.value("CARTHUB_WORKER_ID") { c.workerId = id }
        c.batchSize = try Env.int(nil, "CARTHUB_WORKER_BATCH", default: 500)
        c.maxAttempts = try Env.int(nil, "CARTHUB_WORKER_MAX_ATTEMPTS", default: 5)
        c.leaseMs = try Env.int(nil, "CARTHUB_LEASE_MS", default: 10_000)
        c.reconcileInterval = Double(try Env.int(nil, "CARTHUB_RECONCILE_INTERVAL", default: 600))
        guard (1...65536).contains(c.shards) else { throw ValidationError("CARTHUB_SHARDS must be 1...65536") }
        guard (1...10_000).contains(c.batchSize), c.maxAttempts >= 1, c.leaseMs >= 1000, c.reconcileInterval >= 1 else {
            throw ValidationError("batch 1...10000, max attempts ≥ 1, lease ≥ 1000 ms, reconcile interval ≥ 1 s")
        }
        return c
    }
}
