import CartDomain
import Diagnostics
import Foundation
import Mail
import Postgres
import Redis
import Storage

/// The order side of `carthub worker`.
///
/// One worker at a time (lease `carthub:order-scheduler`) keeps the stock: it rebuilds it
/// from Postgres when Redis lost it, applies `stock_adjustments` to the available counters
/// (exactly once: the cursor moves in the same script), moves due delayed jobs into the
/// job stream (`lua/stock.lua due`: one atomic step, never key expiry or keyspace
/// notifications), runs the recovery pass for reservations no order owns, and redoes the
/// Redis follow-ups of status changes whose maker died right after the commit.
///
/// Every worker consumes the job stream in the `orders` group: `expire` moves a
/// PAYMENT_PENDING order to EXPIRED with a conditional update (a payment racing it wins
/// or loses there, once), then settles the reservation with Postgres's verdict and
/// queues the EXPIRED mail (`OrderMail`); entries are acknowledged only after all that,
/// so a crash redelivers them (claimed after `claimIdleMs`), a redelivery releases
/// nothing twice and queues the mail again under the same Message-ID (sent once).
final class OrderJobs {
    let configuration: WorkerConfiguration
    let lease: LeaseScript
    let consumers: ConsumerScript
    let script: StockScript
    private let holder: String
    private var holding = false
    private var lastRenewal = -Double.infinity
    private var lastRecovery = -Double.infinity
    private var lastFollowUps = -Double.infinity
    private var groupReady = false
    private var lastClaim = -Double.infinity
    static let batch = 100
    static let claimIdleMs = 30_000
    static let recoveryInterval = 60.0
    /// A reservation this old without an order is an orphan (a hub died before writing it).
    static let orphanAgeMs: Int64 = 60_000
    /// A status change's follow-ups this long undone: their maker will not do them.
    static let followUpGraceSeconds = 30
    static let followUpInterval = 10.0

    init(configuration: WorkerConfiguration, lease: LeaseScript, consumers: ConsumerScript) throws {
        self.configuration = configuration
        self.lease = lease
        self.consumers = consumers
        script = try StockScript(directory: configuration.luaDirectory)
        holder = configuration.workerId + "-orders"
    }

    func step(redis: BlockingRedisConnection, postgres: () throws -> PostgresConnection, now: Double, metrics: inout WorkerMetrics) throws {
        if try keepLease(redis, now: now) {
            if case .busy = try StockRebuild.ensure(redis: redis, postgres: postgres, lease: lease, script: script) { return }
            try applyAdjustments(redis, postgres())
            try script.run(redis, "due", [String(Self.wallMilliseconds()), String(Self.batch)])
            if now - lastRecovery >= Self.recoveryInterval {
                lastRecovery = now
                try recover(redis, postgres(), olderThanMs: Self.orphanAgeMs)
            }
            if now - lastFollowUps >= Self.followUpInterval {
                lastFollowUps = now
                try redoFollowUps(redis, postgres(), olderThanSeconds: Self.followUpGraceSeconds)
            }
        }
        try consume(redis, postgres: postgres, now: now, metrics: &metrics)
    }

    func release(_ redis: BlockingRedisConnection) {
        if holding { _ = try? lease.release(redis, key: StockKeys.schedulerLease, holder: holder) }
        holding = false
    }

    // MARK: The stock keeper

    private func applyAdjustments(_ redis: BlockingRedisConnection, _ postgres: PostgresConnection) throws {
        guard let cursor = try redis.command(["HGET", StockKeys.meta, "adj"]).intValue else { return }
        let rows = try OrderStore.adjustments(postgres, after: cursor, limit: 1000)
        guard !rows.isEmpty else { return }
        try script.run(redis, "adjust", rows.flatMap { [String($0.id), $0.bookId, String($0.delta)] })
    }

    /// Settles reservations made more than `olderThanMs` ago by their order's status in
    /// Postgres: no order (a hub crashed between reserving and writing it) or a final
    /// status → released or committed. Orders still PAYMENT_PENDING keep theirs.
    func recover(_ redis: BlockingRedisConnection, _ postgres: PostgresConnection, olderThanMs: Int64) throws {
        let ids = (try redis.command(["SMEMBERS", StockKeys.reservations]).arrayValue ?? []).compactMap(\.stringValue)
        guard !ids.isEmpty else { return }
        let made = try redis.pipeline(ids.map { ["HGET", StockKeys.reservation(orderId: $0), "@at"] })
        let cutoff = Self.wallMilliseconds() - olderThanMs
        let old = zip(ids, made).filter { ($0.1.intValue ?? 0) < cutoff }.map(\.0)
        let statuses = try OrderStore.statuses(postgres, ids: old)
        var settled = 0
        for id in old where statuses[id] != .paymentPending {
            try script.settle(redis, orderId: id, status: statuses[id])
            settled += 1
        }
        if settled > 0 { Log.warning("orders: recovery settled \(settled) reservation(s) without a pending order") }
    }

    /// The follow-ups of status changes left undone for `olderThanSeconds`: the reservation
    /// settled by the order's status now, `order.updated` published, the mail of the
    /// change's status queued (one mail per Message-ID, so a repeat sends nothing twice).
    /// The cart deduct of a payment is not redone: the cart may have changed since, and
    /// taking the quantities twice would lose lines the user wants.
    func redoFollowUps(_ redis: BlockingRedisConnection, _ postgres: PostgresConnection, olderThanSeconds: Int) throws {
        for (id, status) in try OrderStore.pendingFollowUps(postgres, olderThanSeconds: olderThanSeconds, limit: Self.batch) {
            if let order = try OrderStore.load(postgres, id: id) {
                try script.settle(redis, orderId: id, status: order.status)
                try announce(order, change: status, redis: redis, postgres: postgres)
            } else {
                try OrderStore.followedUp(postgres, id: id, status: status)
            }
            Log.warning("orders: redid the \(status.rawValue) follow-ups of order \(id)")
        }
    }

    /// The last follow-ups of the order's change to `status`, its stock settled: `order.updated`
    /// (the order as it is now) to the user's devices, the mail of `status` queued, and the
    /// change's follow-up row deleted.
    private func announce(_ order: Order, change status: OrderStatus, redis: BlockingRedisConnection, postgres: PostgresConnection) throws {
        try redis.command(["PUBLISH", CartKeys.channel(userId: order.userId), order.updatedEvent])
        var then = order
        then.status = status
        try OrderMail.enqueue(redis, postgres, then)
        try OrderStore.followedUp(postgres, id: order.id, status: status)
    }

    private func keepLease(_ redis: BlockingRedisConnection, now: Double) throws -> Bool {
        if holding {
            guard now - lastRenewal >= 1 else { return true }
            holding = try redis.command(lease.renewCommand(key: StockKeys.schedulerLease, holder: holder, ttlMs: configuration.leaseMs)) == .integer(1)
            if !holding { Log.warning("worker: lost the order scheduler lease") }
        } else {
            guard now - lastRenewal >= 1 else { return false }
            holding = try lease.acquire(redis, key: StockKeys.schedulerLease, holder: holder, ttlMs: configuration.leaseMs)
            // A new holder runs the recovery pass at once.
            if holding { lastRecovery = -Double.infinity }
        }
        lastRenewal = now
        return holding
    }

    // MARK: The job consumer

    private func consume(_ redis: BlockingRedisConnection, postgres: () throws -> PostgresConnection, now: Double, metrics: inout WorkerMetrics) throws {
        if !groupReady {
            let reply = try redis.command(["XGROUP", "CREATE", StockKeys.jobs, StockKeys.jobsGroup, "0", "MKSTREAM"])
            if case .error(let message) = reply, !message.hasPrefix("BUSYGROUP") { throw PersistenceError("cannot create the order job group: \(message)") }
            groupReady = true
        }
        // Our own unacknowledged entries first (a failed round), then new ones; now and then
        // the entries of a worker that died holding them, and the consumers left with none.
        var entries = try read(redis, from: "0")
        if entries.isEmpty { entries = try read(redis, from: ">") }
        if entries.isEmpty, now - lastClaim >= 5 {
            lastClaim = now
            let reply = try redis.command(["XAUTOCLAIM", StockKeys.jobs, StockKeys.jobsGroup, configuration.workerId, String(Self.claimIdleMs), "0-0",
                                           "COUNT", String(Self.batch)])
            entries = reply.arrayValue.flatMap { $0.count >= 2 ? Self.parse($0[1]) : nil } ?? []
            try consumers.deleteIdle(redis, stream: StockKeys.jobs, group: StockKeys.jobsGroup, keeping: configuration.workerId)
        }
        for (id, fields) in entries {
            try handle(fields, redis: redis, postgres: postgres(), metrics: &metrics)
            try redis.command(["XACK", StockKeys.jobs, StockKeys.jobsGroup, id])
            try redis.command(["XDEL", StockKeys.jobs, id])
        }
    }

    private func read(_ redis: BlockingRedisConnection, from id: String) throws -> [(String, [String: String])] {
        let reply = try redis.command(["XREADGROUP", "GROUP", StockKeys.jobsGroup, configuration.workerId, "COUNT", String(Self.batch),
                                       "STREAMS", StockKeys.jobs, id])
        if case .error(let message) = reply {
            // Redis lost the stream with its data: set the group up again.
            if message.hasPrefix("NOGROUP") { groupReady = false }
            throw PersistenceError("XREADGROUP \(StockKeys.jobs) failed: \(message)")
        }
        return (reply.arrayValue ?? []).flatMap { stream in stream.arrayValue.flatMap { $0.count == 2 ? Self.parse($0[1]) : nil } ?? [] }
    }

    static func parse(_ value: RedisValue) -> [(String, [String: String])] {
        (value.arrayValue ?? []).compactMap { entry in
            guard let parts = entry.arrayValue, parts.count == 2, let id = parts[0].stringValue else { return nil }
            let flat = (parts[1].arrayValue ?? []).compactMap(\.stringValue)
            var fields: [String: String] = [:]
            for i in stride(from: 0, to: flat.count - 1, by: 2) { fields[flat[i]] = flat[i + 1] }
            return (id, fields)
        }
    }

    /// One due job. An unknown or malformed job is logged and dropped.
    private func handle(_ fields: [String: String], redis: BlockingRedisConnection, postgres: PostgresConnection, metrics: inout WorkerMetrics) throws {
        guard fields["job"] == "expire", let id = fields["order"], Order.isValidId(id) else {
            Log.warning("orders: dropping an unknown job \(fields)")
            return
        }
        switch try OrderStore.transition(postgres, id: id, from: .paymentPending, to: .expired) {
        case .changed(let order):
            try script.release(redis, orderId: id)
            try announce(order, change: .expired, redis: redis, postgres: postgres)
            metrics.add("orders_expired", 1)
        case .unchanged(let order), .refused(let order):
            try script.settle(redis, orderId: id, status: order.status)
            // A redelivery (this job failed or died after the commit): the EXPIRED event and
            // mail again, in case they were not sent; its Message-ID makes it one mail.
            if order.status == .expired { try announce(order, change: .expired, redis: redis, postgres: postgres) }
        case .notFound:
            // A reservation without an order: its hub died before writing it.
            if try script.release(redis, orderId: id) { Log.warning("orders: released the orphan reservation \(id)") }
        }
    }

    static func wallMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
