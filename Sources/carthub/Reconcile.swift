import ArgumentParser
import Persistence
import Postgres
import Redis

struct Reconcile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy every cart where Redis is ahead of Postgres (one run at a time; a second exits saying so).")

    @OptionGroup var common: WorkerOptions

    func run() throws {
        let c = try common.configuration()
        let reconciler = try Reconciler(redis: BlockingRedisConnection(c.redis), postgres: PostgresConnection(url: c.databaseURL),
                                        configuration: c, lease: LeaseScript(directory: c.luaDirectory))
        guard let report = try reconciler.runIfFree() else {
            print("reconcile: another reconciliation is running; nothing done")
            return
        }
        print("reconcile: \(report.checked) carts checked, \(report.resynced) resynced, \(report.upToDate) up to date, \(report.vanished) gone from Redis")
    }
}
