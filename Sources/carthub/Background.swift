import Diagnostics
import Foundation
import Mail
import Persistence
import Postgres
import Redis
import Scheduling

/// The scheduler and the mail queue of `carthub worker`, on a thread of their own with
/// their own connections, so a slow SMTP server or a long scheduled job never delays
/// the persistence loop's lease renewals.
final class BackgroundJobs {
    let worker: WorkerConfiguration
    let mail: MailConfiguration
    let scheduler: Scheduler
    let mailer: Mailer
    let clock: Clock
    private let connections: WorkerConnections

    init(worker: WorkerConfiguration, mail: MailConfiguration, schedules: [Schedule], clockFile: String?, consumers: ConsumerScript) {
        self.worker = worker
        self.mail = mail
        scheduler = Scheduler(schedules: schedules, instance: worker.workerId)
        // Several workers send mail at once, each reading every few seconds: a consumer
        // idle for an hour with nothing pending belongs to a worker that stopped.
        mailer = Mailer(configuration: mail, consumer: worker.workerId) { [consumer = worker.workerId] redis in
            try consumers.deleteIdle(redis, stream: MailKeys.stream, group: MailKeys.group, keeping: consumer, idleMs: 3_600_000)
        }
        clock = Clock(file: clockFile)
        connections = WorkerConnections(configuration: worker)
    }

    func run(shouldStop: () -> Bool) {
        var failures = 0
        var lastTick = -1e9
        while !shouldStop() {
            do {
                let now = PersistenceWorker.monotonic()
                if now - lastTick >= 1 {
                    lastTick = now
                    try scheduler.tick(redis: redis(), postgres: postgres(), nowMs: clock.nowMs())
                }
                try mailer.step(redis: redis(), postgres: { try postgres() }, clockMs: { clock.nowMs() }, now: now, blockMs: 250)
                failures = 0
            } catch {
                failures += 1
                if failures == 1 || failures % 30 == 0 { Log.warning("worker (schedules and mail): \(error); retrying") }
                connections.reset()
                Thread.sleep(forTimeInterval: min(2.0, 0.1 * Double(failures)))
            }
        }
    }

    func redis() throws -> BlockingRedisConnection { try connections.redis() }
    func postgres() throws -> PostgresConnection { try connections.postgres() }
}

/// The schedules `carthub worker` runs. Each timing can be changed with
/// `CARTHUB_SCHEDULE_<NAME>` (`-` as `_`, upper case), e.g. `CARTHUB_SCHEDULE_RECONCILE="daily 04:30"`.
enum WorkerSchedules {
    static let defaults: [(name: String, timing: String, what: String)] = [
        ("reconcile", "daily 03:00", "the daily Redis → Postgres sync: copies every cart where Redis is ahead"),
        ("cart-reminders", "every 1h", "queues one reminder per abandoned cart (ABANDONED_CART_AFTER)"),
        ("stock-verify", "daily 03:30", "checks Redis stock (available + reserved) against Postgres and repairs drift"),
    ]

    static func variable(_ name: String) -> String {
        "CARTHUB_SCHEDULE_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    static func timing(_ name: String, default fallback: String) throws -> ScheduleTiming {
        let text = Env.value(variable(name)) ?? fallback
        guard let timing = ScheduleTiming(text) else {
            throw MailError("\(variable(name)) must be \"every DURATION\" (at least 1s) or \"daily HH:MM\" (UTC), got \"\(text)\"")
        }
        return timing
    }

    static func make(worker: WorkerConfiguration, mail: MailConfiguration) throws -> [Schedule] {
        let lease = try LeaseScript(directory: worker.luaDirectory)
        var schedules: [Schedule] = []
        for entry in defaults {
            let timing = try timing(entry.name, default: entry.timing)
            switch entry.name {
            case "reconcile":
                schedules.append(Schedule(name: entry.name, timing: timing) { context in
                    let reconciler = Reconciler(redis: context.redis, postgres: context.postgres, configuration: worker, lease: lease)
                    guard let r = try reconciler.runIfFree() else { return "another reconciliation was running; nothing done" }
                    return "\(r.checked) carts checked, \(r.resynced) resynced, \(r.upToDate) up to date, \(r.vanished) gone from Redis"
                })
            case "cart-reminders":
                let after = mail.abandonedAfterMs
                schedules.append(Schedule(name: entry.name, timing: timing) { context in
                    try AbandonedCarts.run(redis: context.redis, postgres: context.postgres, shards: worker.shards,
                                           nowMs: context.nowMs, abandonedAfterMs: after).description
                })
            case "stock-verify":
                let script = try StockScript(directory: worker.luaDirectory)
                schedules.append(Schedule(name: entry.name, timing: timing) { context in
                    let report = try StockVerifier(redis: context.redis, postgres: context.postgres, lease: lease, script: script).run(repair: true)
                    if report.unbuilt { return "stock counters not built yet; nothing checked" }
                    return "\(report.books) books checked, \(report.drifts.count) drifted, \(report.repaired.count) repaired"
                })
            default:
                break
            }
        }
        return schedules
    }
}
