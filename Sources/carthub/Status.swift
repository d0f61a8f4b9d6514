import ArgumentParser
import CartDomain
import Foundation
import Persistence
import Postgres
import Redis
import Storage

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the persistence pipeline's state for a person.")

    @OptionGroup var common: WorkerOptions

    func run() throws {
        let c = try common.configuration()
        let redis = try BlockingRedisConnection(c.redis)
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let generation = try redis.command(["GET", CartKeys.generation]).stringValue
        print("redis       \(c.redis.host):\(c.redis.port)  generation \(generation ?? "MISSING (Redis lost its data or was never initialised)")")
        let workers = try redis.command(["ZRANGE", CartKeys.workers, "0", "-1", "WITHSCORES"]).arrayValue ?? []
        var live: [String] = []
        for i in stride(from: 0, to: workers.count - 1, by: 2) {
            if let id = workers[i].stringValue, let seen = workers[i + 1].intValue ?? workers[i + 1].stringValue.flatMap({ Double($0) }).map({ Int64($0) }) {
                live.append("\(id) (seen \(max(0, nowMs - seen)) ms ago)")
            }
        }
        print("workers     \(live.isEmpty ? "none" : live.joined(separator: ", "))")
        let shards = 0..<c.shards
        let replies = try redis.pipeline(shards.flatMap { shard in
            [["XLEN", CartKeys.outbox(shard: shard)], ["XPENDING", CartKeys.outbox(shard: shard), CartKeys.persistGroup], ["GET", CartKeys.lease(shard: shard)]]
        })
        var length: Int64 = 0
        var pending: Int64 = 0
        var oldest: Int64?
        var unowned: [Int] = []
        for shard in shards {
            length += replies[3 * shard].intValue ?? 0
            let summary = replies[3 * shard + 1].arrayValue ?? []
            let count = summary.first?.intValue ?? 0
            pending += count
            if count > 0, let id = summary[1].stringValue, let ms = Int64(id.split(separator: "-").first ?? "") {
                oldest = min(oldest ?? ms, ms)
            }
            if replies[3 * shard + 2] == .null { unowned.append(shard) }
        }
        print("streams     \(length) entries in \(c.shards) shards, \(pending) pending" + (oldest.map { ", oldest pending \(Double(nowMs - $0) / 1000) s" } ?? ""))
        print("leases      \(c.shards - unowned.count)/\(c.shards) shards owned" + (unowned.isEmpty ? "" : " (unowned: \(unowned.prefix(16).map(String.init).joined(separator: " "))\(unowned.count > 16 ? " …" : ""))"))
        do {
            let postgres = try PostgresConnection(url: c.databaseURL)
            let carts = try postgres.query("select count(*) from carts").rows.first?.first.flatMap { $0 } ?? "?"
            print("postgres    reachable, \(carts) carts, \(try DeadLetterStore.count(postgres)) dead letters")
        } catch {
            print("postgres    UNREACHABLE: \(error)")
        }
    }
}
