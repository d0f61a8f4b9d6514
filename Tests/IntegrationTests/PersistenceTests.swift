import CartDomain
import Foundation
import JSON
import Persistence
import Postgres
import Redis
import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The Redis → stream → Postgres pipeline under faults. Each test has its own Redis
/// and Postgres: workers share leases through Redis, and some tests stop the servers.
@Suite("Persistence pipeline")
struct PersistenceTests {
    struct Stack {
        let redis: PrivateRedis
        let postgres: PrivatePostgres
        var environment: [String: String] { ["REDIS_URL": redis.url, "DATABASE_URL": postgres.url] }

        init(persistentRedis: Bool = false) throws {
            redis = try PrivateRedis(appendOnly: persistentRedis)
            postgres = try PrivatePostgres()
        }

        func redisConnection() throws -> BlockingRedisConnection { try BlockingRedisConnection(redis.configuration) }

        /// Postgres holds exactly what Redis holds for every one of `users`.
        func converged(_ users: [String]) throws -> Bool {
            let r = try redisConnection()
            let p = try postgres.connect()
            for user in users {
                let inRedis = try RedisCartReader.snapshot(r, userId: user, shards: 64)
                let inPostgres = try CartStore.load(p, userId: user)
                guard let inRedis, let inPostgres, inRedis.version == inPostgres.version, inRedis.lines == inPostgres.lines,
                      inRedis.totalCents == inPostgres.totalCents else { return false }
            }
            return true
        }

        func waitForConvergence(_ users: [String], within seconds: Double = 10) throws {
            _ = try eventually(within: seconds, "Postgres to equal Redis for \(users.count) carts") { try converged(users) ? true : nil }
        }

        func metric(_ name: String) throws -> Int64 {
            try redisConnection().command(["HGET", CartKeys.metrics, name]).intValue ?? 0
        }
    }

    /// 20 mutations that all succeed, cycling through the catalog's five books.
    static func script(_ catalog: TestCatalog) -> [(String, [String: JSONValue])] {
        (0..<20).map { k in
            let j = k / 4
            let here = JSONValue.string(catalog[j % 5].id)
            let next = JSONValue.string(catalog[(j + 1) % 5].id)
            switch k % 4 {
            case 0: return ("cart.add", ["bookId": here, "quantity": 2])
            case 1: return ("cart.setQuantity", ["bookId": here, "quantity": 1])
            case 2: return ("cart.add", ["bookId": next, "quantity": 1])
            default: return ("cart.remove", ["bookId": here])
            }
        }
    }

    /// Sends the script on every socket without waiting, then checks every reply.
    static func run(_ sockets: [CartSocket], _ catalog: TestCatalog) throws {
        var pending: [(CartSocket, String)] = []
        for socket in sockets {
            for (type, fields) in script(catalog) { pending.append((socket, try socket.send(type, fields))) }
        }
        for (socket, id) in pending {
            let reply = try socket.reply(id)
            #expect(reply.isOK, "\(reply.encoded)")
        }
    }

    @Test("Postgres down: 1,000 mutations keep working; once it is back the stream alone brings it level")
    func postgresOutage() throws {
        let stack = try Stack()
        let catalog = try TestCatalog(stocks: [1000, 1000, 1000, 1000, 1000], database: stack.postgres.connect())
        let hub = try HubProcess(environment: stack.environment)
        let worker = try WorkerProcess(environment: stack.environment)
        let users = (0..<50).map { _ in TestEnvironment.uniquePrefix("pg-down") }
        let sockets = try users.map { try CartSocket(hub, user: $0) }

        try stack.postgres.stop()
        try Self.run(sockets, catalog)
        try stack.postgres.start()

        try stack.waitForConvergence(users)
        #expect(try stack.metric("full_syncs") == 0, "the stream, not full syncs, should have done the work")
        #expect(try stack.metric("dead_lettered") == 0)
        #expect(try stack.metric("jobs_applied") >= 1000)
        _ = worker
    }

    @Test("two workers SIGKILLed again and again under load: nothing lost, no full sync from reordering, no consumer of a killed worker left")
    func workersKilledUnderLoad() throws {
        let stack = try Stack()
        let catalog = try TestCatalog(stocks: [1000, 1000, 1000, 1000, 1000], database: stack.postgres.connect())
        var environment = stack.environment
        environment["CARTHUB_LEASE_MS"] = "1500"
        environment["CARTHUB_WORKER_BATCH"] = "20"
        let hub = try HubProcess(environment: environment)
        func worker(_ id: String) throws -> WorkerProcess {
            var named = environment
            named["CARTHUB_WORKER_ID"] = id
            return try WorkerProcess(environment: named)
        }
        var ids = ["w-a0", "w-b0"]
        var workers = try ids.map(worker)
        let users = (0..<30).map { _ in TestEnvironment.uniquePrefix("kill") }
        let sockets = try users.map { try CartSocket(hub, user: $0) }

        for round in 0..<6 {
            // A slice of the load, then a crash of one worker and a fresh one in its place.
            try Self.run(Array(sockets[(round * 5)..<(round * 5 + 5)]), catalog)
            usleep(150_000)
            workers[round % 2].signal(SIGKILL)
            _ = workers[round % 2].waitForExit(timeout: 5)
            ids[round % 2] = "w-\(round % 2 == 0 ? "a" : "b")\(round + 1)"
            workers[round % 2] = try worker(ids[round % 2])
        }
        try stack.waitForConvergence(users, within: 20)
        #expect(try stack.metric("full_syncs") == 0, "a version gap means entries were applied out of order")
        #expect(try stack.metric("dead_lettered") == 0)

        // The killed workers' consumers are gone from every group their successors took over.
        let redis = try stack.redisConnection()
        let groups = (0..<64).map { (CartKeys.outbox(shard: $0), CartKeys.persistGroup) } + [(StockKeys.jobs, StockKeys.jobsGroup)]
        let left = try eventually(within: 15, "only the live workers \(ids) in the stream groups") { () -> [String]? in
            var names: [String] = []
            for (stream, group) in groups {
                for consumer in try redis.command(["XINFO", "CONSUMERS", stream, group]).arrayValue ?? [] {
                    let fields = consumer.arrayValue ?? []
                    if let at = fields.firstIndex(of: .string("name")), at + 1 < fields.count, let name = fields[at + 1].stringValue { names.append(name) }
                }
            }
            return Set(names).isSubset(of: ids) ? names : nil
        }
        #expect(!left.isEmpty)
        _ = workers
    }

    @Test("lua/consumers.lua deletes the consumers that hold nothing and were idle long enough, never one with pending entries nor the caller")
    func staleConsumers() throws {
        let redis = try TestEnvironment.redis()
        let stream = TestEnvironment.uniquePrefix("consumers")
        defer { _ = try? redis.command(["DEL", stream]) }
        for _ in 0..<2 { _ = try redis.command(["XADD", stream, "*", "f", "v"]) }
        _ = try redis.command(["XGROUP", "CREATE", stream, "g", "0"])
        // `busy` holds an entry; `done` read one and acknowledged it; `me` calls.
        _ = try redis.command(["XREADGROUP", "GROUP", "g", "busy", "COUNT", "1", "STREAMS", stream, ">"])
        let read = try redis.command(["XREADGROUP", "GROUP", "g", "done", "COUNT", "1", "STREAMS", stream, ">"])
        let id = try #require(read.arrayValue?.first?.arrayValue?.last?.arrayValue?.first?.arrayValue?.first?.stringValue, "\(read)")
        _ = try redis.command(["XACK", stream, "g", id])
        _ = try redis.command(["XGROUP", "CREATECONSUMER", stream, "g", "me"])
        func consumers() throws -> Set<String> {
            Set(try redis.command(["XINFO", "CONSUMERS", stream, "g"]).arrayValue?.compactMap { $0.arrayValue?[1].stringValue } ?? [])
        }
        let script = try ConsumerScript(directory: TestEnvironment.luaDirectory)
        #expect(try script.deleteIdle(redis, stream: stream, group: "g", keeping: "me", idleMs: 3_600_000) == 0)
        #expect(try consumers() == ["busy", "done", "me"])
        #expect(try script.deleteIdle(redis, stream: stream, group: "g", keeping: "me") == 1)
        #expect(try consumers() == ["busy", "me"])
        #expect(try redis.command(["XPENDING", stream, "g"]).arrayValue?.first?.intValue == 1, "busy's entry stays pending")
    }

    @Test("a poison entry is retried, parked in dead_letters, and can be replayed or discarded; its cart converges")
    func poisonEntry() throws {
        let stack = try Stack()
        let catalog = try TestCatalog(stocks: [1000, 1000, 1000, 1000, 1000], database: stack.postgres.connect())
        var environment = stack.environment
        environment["CARTHUB_WORKER_MAX_ATTEMPTS"] = "3"
        let hub = try HubProcess(environment: environment)
        let worker = try WorkerProcess(environment: environment)
        let user = TestEnvironment.uniquePrefix("poison")
        let socket = try CartSocket(hub, user: user)
        #expect(try socket.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1]).isOK)

        let keys = CartKeys(userId: user, shards: 64)
        let poisonId = try #require(try stack.redisConnection().command(["XADD", keys.outbox, "*", "u", user, "op", "put", "b", "no such book!", "q", "-3"]).stringValue)
        let letter = try eventually(within: 10, "the poison entry in dead_letters") {
            try DeadLetterStore.list(stack.postgres.connect(), limit: 100).first { $0.entryId == poisonId }
        }
        #expect(letter.attempts == 3)
        #expect(letter.stream == keys.outbox)
        _ = try eventually(within: 5, "the dead letter counted in the metrics") { try stack.metric("dead_lettered") == 1 ? true : nil }

        #expect(try socket.call("cart.add", ["bookId": .string(catalog[1].id), "quantity": 2]).isOK)
        try stack.waitForConvergence([user])

        let replay = try runCarthub(["dlq", "replay", String(letter.id)], environment: environment)
        #expect(replay.status == 0, "\(replay.output)")
        let again = try eventually(within: 10, "the replayed entry parked again") {
            try DeadLetterStore.list(stack.postgres.connect(), limit: 100).first { $0.entryId != poisonId && $0.payload.contains(user) }
        }
        let discard = try runCarthub(["dlq", "discard", String(again.id)], environment: environment)
        #expect(discard.status == 0, "\(discard.output)")
        #expect(try DeadLetterStore.list(stack.postgres.connect(), limit: 100).isEmpty)
        let missing = try runCarthub(["dlq", "discard", String(again.id)], environment: environment)
        #expect(missing.status != 0)
        _ = worker
    }

    @Test("Redis SIGKILLed 1.5 s after the last write: carts and pending jobs survive the restart")
    func redisCrash() throws {
        let stack = try Stack(persistentRedis: true)
        let catalog = try TestCatalog(stocks: [1000, 1000, 1000, 1000, 1000], database: stack.postgres.connect())
        let hub = try HubProcess(environment: stack.environment)
        let users = (0..<5).map { _ in TestEnvironment.uniquePrefix("crash") }
        let sockets = try users.map { try CartSocket(hub, user: $0) }
        try Self.run(sockets, catalog)
        usleep(1_500_000)
        stack.redis.kill()
        try stack.redis.start()

        let r = try stack.redisConnection()
        for user in users {
            let cart = try #require(try RedisCartReader.snapshot(r, userId: user, shards: 64), "cart of \(user) lost")
            #expect(cart.version.version == 20)
        }
        let queued = try (0..<64).reduce(Int64(0)) { $0 + (try r.command(["XLEN", CartKeys.outbox(shard: $1)]).intValue ?? 0) }
        #expect(queued == 100, "every persistence job survives")
        // The hub reconnects by itself and serves the same carts.
        let reply = try eventually(within: 10, "the hub to serve again") { () -> JSONValue? in
            let answer = try? CartSocket(hub, user: users[0]).call("cart.get")
            return answer?.isOK == true ? answer : nil
        }
        #expect(reply.cartVersion == 20)
        let worker = try WorkerProcess(environment: stack.environment)
        try stack.waitForConvergence(users)

        // Redis away again: the worker waits it out and resumes by itself.
        stack.redis.kill()
        usleep(1_500_000)
        #expect(worker.process.isRunning, "the worker must survive a Redis outage:\n\(worker.log)")
        try stack.redis.start()
        let more = try eventually(within: 10, "the hub to take commands again") { () -> JSONValue? in
            let answer = try? CartSocket(hub, user: users[1]).call("cart.add", ["bookId": .string(catalog[4].id), "quantity": 1])
            return answer?.isOK == true ? answer : nil
        }
        #expect(more.cartVersion == 21)
        try stack.waitForConvergence(users)
    }

    @Test("Redis flushed: hubs and worker rebuild, carts come back from Postgres under a new epoch, loaded once")
    func redisFlushed() throws {
        let stack = try Stack()
        let catalog = try TestCatalog(stocks: [1000, 1000, 1000, 1000, 1000], database: stack.postgres.connect())
        let a = try HubProcess(environment: stack.environment)
        let b = try HubProcess(environment: stack.environment)
        let worker = try WorkerProcess(environment: stack.environment)
        let user = TestEnvironment.uniquePrefix("flush")
        let phone = try CartSocket(a, user: user)
        let laptop = try CartSocket(b, user: user)
        try Self.run([phone], catalog)
        try stack.waitForConvergence([user])
        let before = try #require(try CartStore.load(stack.postgres.connect(), userId: user))

        try stack.redisConnection().command(["FLUSHALL"])

        // Both devices are told the cart again: same lines, next epoch.
        for device in [phone, laptop] {
            let resync = try device.next(timeout: 10) { $0["type"] == "cart.updated" && $0["origin"]?["via"] == "resync" }
            #expect(resync["cart"]?["epoch"]?.intValue == before.version.epoch + 1)
            #expect(resync["cart"]?["items"]?.arrayValue?.count == before.lines.count)
        }
        // Concurrent first reads on both instances agree.
        let others = try (0..<6).map { try CartSocket($0 % 2 == 0 ? a : b, user: user) }
        let ids = try others.map { try $0.send("cart.get") }
        let carts = try zip(others, ids).map { try $0.reply($1)["data"]?["cart"] }
        #expect(Set(carts.map { $0?["epoch"]?.intValue }).count == 1 && Set(carts.map { $0?["version"]?.intValue }).count == 1)
        #expect(carts.first??["epoch"]?.intValue == before.version.epoch + 1)

        // Changes after the rebuild reach Postgres too.
        #expect(try phone.call("cart.add", ["bookId": .string(catalog[3].id), "quantity": 1]).isOK)
        try stack.waitForConvergence([user])
        #expect(try CartStore.load(stack.postgres.connect(), userId: user)?.version == CartVersion(epoch: before.version.epoch + 1, version: 1))
        _ = worker
    }

    @Test("a backlog is applied in few transactions, each cart folded to its exact final state")
    func backlogFoldsIntoFewTransactions() throws {
        let stack = try Stack()
        let catalog = try TestCatalog(stocks: [1000, 1000, 1000, 1000, 1000], database: stack.postgres.connect())
        let hub = try HubProcess(environment: stack.environment)
        let worker = try WorkerProcess(environment: stack.environment)
        try Self.waitForStartupReconciliation(worker)
        // 20 jobs per cart (adds, quantity changes, removals) while the worker is stopped.
        worker.signal(SIGSTOP)
        let users = (0..<10).map { _ in TestEnvironment.uniquePrefix("backlog") }
        try Self.run(try users.map { try CartSocket(hub, user: $0) }, catalog)
        worker.signal(SIGCONT)

        try stack.waitForConvergence(users)
        _ = try eventually(within: 5, "the metrics of the batches") { try stack.metric("jobs_applied") == 200 ? true : nil }
        // A read blocked when the worker stopped takes the first entry alone; the rest
        // (200 entries of up to 64 shards) fit the next read, hence one more transaction.
        #expect(try stack.metric("db_write:count") <= 2)
        #expect(try stack.metric("full_syncs") == 0)
        #expect(try stack.metric("jobs_skipped") == 0)
    }

    @Test("while caught up, the worker lets entries gather for CARTHUB_WORKER_BATCH_INTERVAL before each transaction")
    func batchInterval() throws {
        let stack = try Stack()
        let catalog = try TestCatalog(stocks: [1000, 1000, 1000, 1000, 1000], database: stack.postgres.connect())
        var environment = stack.environment
        environment["CARTHUB_WORKER_BATCH_INTERVAL"] = "1s"
        let hub = try HubProcess(environment: environment)
        let worker = try WorkerProcess(environment: environment)
        try Self.waitForStartupReconciliation(worker)
        let users = (0..<5).map { _ in TestEnvironment.uniquePrefix("interval") }
        let sockets = try users.map { try CartSocket(hub, user: $0) }
        // One command at a time: without the interval each would be about one transaction.
        let started = Date()
        for (type, fields) in Self.script(catalog) {
            for socket in sockets { #expect(try socket.call(type, fields).isOK) }
        }
        let seconds = Date().timeIntervalSince(started)
        try stack.waitForConvergence(users)
        _ = try eventually(within: 5, "the metrics of the last batch") { try stack.metric("jobs_applied") == 100 ? true : nil }
        let writes = try stack.metric("db_write:count")
        #expect(writes >= 1 && Double(writes) <= seconds + 2, "\(writes) transactions in \(seconds) s")
    }

    @Test("the worker refuses a CARTHUB_WORKER_BATCH_INTERVAL that is not a duration of 0 to 1 s", arguments: ["2s", "-1", "soon"])
    func badBatchInterval(_ value: String) throws {
        let run = try runCLI(["worker"], environment: ["CARTHUB_WORKER_BATCH_INTERVAL": value])
        #expect(run.status != 0, "\(value): \(run.output)")
        #expect(run.output.contains("CARTHUB_WORKER_BATCH_INTERVAL") || run.output.contains("batch interval"), "\(value): \(run.output)")
    }

    /// A fresh worker runs the missed daily reconciliation at once; wait for it so that it
    /// cannot copy carts before the stream does.
    static func waitForStartupReconciliation(_ worker: WorkerProcess) throws {
        _ = try eventually(within: 10, "the worker's startup reconciliation") { worker.log.contains("reconcile: ") ? true : nil }
    }

    @Test("two reconciliations at once: one does the work")
    func reconcileOnce() throws {
        let stack = try Stack()
        let catalog = try TestCatalog(stocks: [1000, 1000, 1000, 1000, 1000], database: stack.postgres.connect())
        let hub = try HubProcess(environment: stack.environment)
        let users = (0..<20).map { _ in TestEnvironment.uniquePrefix("recon") }
        try Self.run(try users.map { try CartSocket(hub, user: $0) }, catalog)

        // While the lock is held, a reconciliation refuses to start.
        try stack.redisConnection().command(["SET", CartKeys.reconcileLock, "someone-else", "PX", "60000"])
        let blocked = try runCarthub(["reconcile"], environment: stack.environment)
        #expect(blocked.status == 0 && blocked.output.contains("another reconciliation is running"), "\(blocked.output)")
        try stack.redisConnection().command(["DEL", CartKeys.reconcileLock])

        let results = try runConcurrently([["reconcile"], ["reconcile"]], environment: stack.environment)
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.output))")
        let resynced = results.compactMap { output -> Int? in
            guard let range = output.output.range(of: #"(\d+) resynced"#, options: .regularExpression) else { return nil }
            return Int(output.output[range].split(separator: " ")[0])
        }
        #expect(resynced.reduce(0, +) == 20, "\(results.map(\.output))")
        try stack.waitForConvergence(users, within: 2)
    }
}

/// Runs `carthub ARGS` to completion.
func runCarthub(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, output: String) {
    try runConcurrently([arguments], environment: environment)[0]
}

func runConcurrently(_ commands: [[String]], environment: [String: String]) throws -> [(status: Int32, output: String)] {
    let runs = try commands.map { arguments -> (Process, String) in
        let process = Process()
        var env = ProcessInfo.processInfo.environment
        env["CARTHUB_LUA_DIR"] = TestEnvironment.luaDirectory
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.executableURL = URL(fileURLWithPath: TestEnvironment.binary)
        process.arguments = arguments
        let path = NSTemporaryDirectory() + "carthub-cli-\(UUID().uuidString.prefix(8)).out"
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = FileHandle(forWritingAtPath: path)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return (process, path)
    }
    return runs.map { process, path in
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }
}
