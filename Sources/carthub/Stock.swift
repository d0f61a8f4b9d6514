import ArgumentParser
import Foundation
import Persistence
import Postgres
import Redis

struct Stock: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the Redis stock against Postgres.",
        subcommands: [Verify.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every book whose Postgres stock differs from Redis available + reserved; --repair corrects them.",
            discussion: """
                For every book: books.stock = available + reserved + stock adjustments not yet applied
                to Redis. A drift still there half a second later is repaired (with --repair) by moving the
                available counter by the difference, under the stock rebuild lock. Exits 1 when drift remains.
                The worker's reconciliation runs the same repair.
                """)

        @OptionGroup var common: WorkerOptions
        @Flag(help: "Correct the drift found.") var repair = false

        func run() throws {
            let c = try common.configuration()
            let verifier = try StockVerifier(redis: BlockingRedisConnection(c.redis), postgres: PostgresConnection(url: c.databaseURL),
                                             lease: LeaseScript(directory: c.luaDirectory), script: StockScript(directory: c.luaDirectory))
            let report = try verifier.run(repair: repair)
            if report.unbuilt {
                print("stock: not built for this Redis generation yet (a hub or worker rebuilds it from Postgres); nothing compared")
                throw ExitCode(1)
            }
            for drift in report.drifts {
                print("drift \(drift)\(report.repaired.contains(drift.bookId) ? " — repaired" : "")")
            }
            print("stock: \(report.books) books checked, \(report.drifts.count) with drift, \(report.repaired.count) repaired")
            if report.drifts.count > report.repaired.count { throw ExitCode(1) }
        }
    }
}
