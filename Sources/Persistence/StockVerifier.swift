import CartDomain
import Diagnostics
import Foundation
import Postgres
import Redis
import Storage

/// `carthub stock verify [--repair]`, also run by the worker's reconciliation: for every
/// book, Postgres stock must equal Redis available + reserved, once the adjustments
/// Redis has not applied yet are counted.
public struct StockVerifier {
    /// One book whose numbers disagree.
    public struct Drift: Sendable, Equatable, CustomStringConvertible {
        public var bookId: String
        public var postgres: Int64
        /// `stock_adjustments` past the Redis cursor (on their way to Redis).
        public var unapplied: Int64
        public var available: Int64
        public var reserved: Int64
        /// What available lacks: Postgres − unapplied − available − reserved.
        public var drift: Int64 { postgres - unapplied - available - reserved }

        public var description: String {
            "\(bookId): postgres \(postgres), unapplied adjustments \(unapplied), available \(available), reserved \(reserved), drift \(drift > 0 ? "+" : "")\(drift)"
        }
    }

    public struct Report: Sendable, Equatable {
        public var books = 0
        public var drifts: [Drift] = []
        public var repaired: [String] = []
        /// The stock is not built for this Redis generation (nothing compared).
        public var unbuilt = false
    }

    let redis: BlockingRedisConnection
    let postgres: PostgresConnection
    let lease: LeaseScript
    let script: StockScript

    public init(redis: BlockingRedisConnection, postgres: PostgresConnection, lease: LeaseScript, script: StockScript) {
        self.redis = redis
        self.postgres = postgres
        self.lease = lease
        self.script = script
    }

    /// Compares every book; with `repair`, corrects each drift that is still there a
    /// moment later (not a payment or adjustment in flight) by moving the available counter
    /// by the difference, under the rebuild lock, only if the counter did not move meanwhile.
    public func run(repair: Bool) throws -> Report {
        var report = try compare()
        guard repair, !report.drifts.isEmpty || report.unbuilt else { return report }
        let token = "verify-" + String(UInt64.random(in: 1...UInt64.max), radix: 36)
        guard try lease.acquire(redis, key: StockKeys.rebuildLock, holder: token, ttlMs: 30000) else {
            throw PersistenceError("the stock is being rebuilt or repaired by another process; try again")
        }
        defer { _ = try? lease.release(redis, key: StockKeys.rebuildLock, holder: token) }
        if report.unbuilt { return report }
        Thread.sleep(forTimeInterval: 0.5)
        let again = Dictionary(uniqueKeysWithValues: try compare().drifts.map { ($0.bookId, $0) })
        for drift in report.drifts {
            guard let still = again[drift.bookId], still == drift else { continue }
            let reply = try script.run(redis, "correct", [drift.bookId, String(drift.available), String(drift.drift)])
            if reply.first?.stringValue == "ok" {
                report.repaired.append(drift.bookId)
                Log.warning("stock: repaired \(drift)")
            }
        }
        return report
    }

    func compare() throws -> Report {
        var report = Report()
        let snapshot = try script.run(redis, "snapshot")
        guard snapshot.first?.stringValue == "ok", snapshot.count == 5, let cursor = snapshot[2].stringValue.flatMap({ Int64($0) }) else {
            report.unbuilt = true
            return report
        }
        let available = Self.counts(snapshot[3])
        let reserved = Self.counts(snapshot[4])
        let stock = try OrderStore.stock(postgres)
        var unapplied: [String: Int64] = [:]
        var after = cursor
        while true {
            let page = try OrderStore.adjustments(postgres, after: after, limit: 1000)
            for row in page { unapplied[row.bookId, default: 0] += row.delta }
            guard let last = page.last, page.count == 1000 else { break }
            after = last.id
        }
        let books = Set(stock.keys).union(available.keys).union(reserved.keys)
        report.books = books.count
        for book in books.sorted() {
            let drift = Drift(bookId: book, postgres: stock[book] ?? 0, unapplied: unapplied[book] ?? 0, available: available[book] ?? 0,
                              reserved: reserved[book] ?? 0)
            if drift.drift != 0 { report.drifts.append(drift) }
        }
        return report
    }

    static func counts(_ value: RedisValue) -> [String: Int64] {
        let flat = value.arrayValue ?? []
        var counts: [String: Int64] = [:]
        for i in stride(from: 0, to: flat.count - 1, by: 2) {
            if let book = flat[i].stringValue, let n = flat[i + 1].intValue ?? flat[i + 1].stringValue.flatMap({ Int64($0) }) { counts[book] = n }
        }
        return counts
    }
}
