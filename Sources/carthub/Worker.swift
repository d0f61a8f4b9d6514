import ArgumentParser
import Diagnostics
import EventLoop
import Foundation
import Mail
import Persistence
import Scheduling
import SMTP
import Synchronization

/// Set by SIGTERM/SIGINT; the worker finishes its batch and gives its leases back.
private let stopRequested = Atomic<Bool>(false)

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the cart outbox streams to Postgres, walk catalog changes into carts, run the schedules and send mail (run one or more).",
        discussion: """
            One worker at a time (lease carthub:catalog-sync) walks catalog changes into
            every cart that holds the changed book. Every worker runs the scheduler (each
            occurrence runs once across all of them: `carthub schedule list`) and sends
            the mail queued on mail:jobs.

            Environment: REDIS_URL, DATABASE_URL, CARTHUB_SHARDS, CARTHUB_LUA_DIR, and
              CARTHUB_WORKER_ID            consumer and lease name (default: random)
              CARTHUB_WORKER_BATCH         entries per shard read for one Postgres transaction (default 500)
              CARTHUB_WORKER_BATCH_INTERVAL  while caught up, the least time between two batches: entries
                                           wait up to this long, transactions carry more (default 25ms)
              CARTHUB_WORKER_MAX_ATTEMPTS  failures before an entry is parked in dead_letters (default 5)
              CARTHUB_LEASE_MS             shard lease lifetime (default 10000)

            Schedules (UTC; "every DURATION" or "daily HH:MM"):
              CARTHUB_SCHEDULE_RECONCILE       the daily Redis → Postgres sync (default "daily 03:00")
              CARTHUB_SCHEDULE_CART_REMINDERS  the abandoned-cart scan (default "every 1h")
              ABANDONED_CART_AFTER         idle time before a cart's reminder: 7d, 36h, 2s … (default 7d)
              CARTHUB_CLOCK_FILE           test/ops hook: a file holding a clock offset (+8d) or an
                                           RFC 3339 instant, re-read every tick (default: none)

            Mail:
              SMTP_URL                     smtp://[user:password@]host:port (STARTTLS when offered) or
                                           smtps://…; unset: mail stays queued, nothing is sent
              MAIL_FROM                    sender, "Name <address>" or address (default "carthub <carthub@localhost>")
              CARTHUB_PUBLIC_URL           the link back to the client in mails (default http://127.0.0.1:8080/)
              CARTHUB_SMTP_TIMEOUT         seconds for one SMTP transaction (default 60; connect: 10)
              CARTHUB_MAIL_MAX_FAILURES    failures before a mail is parked in mail_dead_letters (default 8)
              CARTHUB_MAIL_RETRY_DELAY     first retry delay, doubling up to 10m (default 2s)
              CARTHUB_MAIL_CLAIM_IDLE      a mail job pending this long at a dead worker is taken over (default 60s)
            """)

    @OptionGroup var common: WorkerOptions

    func run() throws {
        Log.configure(from: Env.value("CARTHUB_LOG"))
        let configuration = try common.configuration()
        let mail = try MailOptions.configuration()
        let schedules = try WorkerSchedules.make(worker: configuration, mail: mail)
        let clockFile = Env.value("CARTHUB_CLOCK_FILE")
        let worker = try PersistenceWorker(configuration: configuration)
        for sig in [SIGTERM, SIGINT] {
            signal(sig) { _ in stopRequested.store(true, ordering: .relaxed) }
            EventLoop.unblock(sig)
        }
        if let smtp = mail.smtp {
            Log.info("worker: sending mail through \(smtp.redactedURL) as \(mail.from)")
        } else {
            Log.warning("worker: SMTP_URL is not set; mail is queued on \(MailKeys.stream) but not sent")
        }
        if let clockFile { Log.warning("worker: CARTHUB_CLOCK_FILE=\(clockFile): the scheduler's clock may be moved (a test/ops hook)") }
        let finished = DispatchSemaphore(value: 0)
        let consumers = try ConsumerScript(directory: configuration.luaDirectory)
        let background = Thread {
            BackgroundJobs(worker: configuration, mail: mail, schedules: schedules, clockFile: clockFile, consumers: consumers)
                .run { stopRequested.load(ordering: .relaxed) }
            finished.signal()
        }
        background.name = "schedules-and-mail"
        background.start()
        worker.run { stopRequested.load(ordering: .relaxed) }
        finished.wait()
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
        c.batchInterval = Double(try Env.duration("CARTHUB_WORKER_BATCH_INTERVAL", default: Int64(c.batchInterval * 1000))) / 1000
        c.maxAttempts = try Env.int(nil, "CARTHUB_WORKER_MAX_ATTEMPTS", default: 5)
        c.leaseMs = try Env.int(nil, "CARTHUB_LEASE_MS", default: 10_000)
        guard (1...65536).contains(c.shards) else { throw ValidationError("CARTHUB_SHARDS must be 1...65536") }
        guard (1...10_000).contains(c.batchSize), (0...1).contains(c.batchInterval), c.maxAttempts >= 1, c.leaseMs >= 1000 else {
            throw ValidationError("batch 1...10000, batch interval 0...1s, max attempts ≥ 1, lease ≥ 1000 ms")
        }
        return c
    }
}

/// The mail settings of `carthub worker` (environment only).
enum MailOptions {
    static func configuration() throws -> MailConfiguration {
        var m = MailConfiguration()
        if let url = Env.value("SMTP_URL") {
            guard url.hasPrefix("smtp://") || url.hasPrefix("smtps://") else { throw ValidationError("SMTP_URL must start with smtp:// or smtps://") }
            var smtp = SMTPConfiguration(url: url)
            smtp.timeout = Double(try Env.int(nil, "CARTHUB_SMTP_TIMEOUT", default: 60))
            smtp.connectTimeout = min(10, smtp.timeout)
            guard smtp.timeout >= 1 else { throw ValidationError("CARTHUB_SMTP_TIMEOUT must be at least 1 (seconds)") }
            m.smtp = smtp
        }
        if let from = Env.value("MAIL_FROM") { m.from = from }
        guard m.sender != nil else { throw ValidationError("MAIL_FROM must be an address or \"Name <address>\", got \(m.from)") }
        if let url = Env.value("CARTHUB_PUBLIC_URL") {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw ValidationError("CARTHUB_PUBLIC_URL must be an http(s) URL") }
            m.publicURL = url
        }
        m.abandonedAfterMs = try Env.duration("ABANDONED_CART_AFTER", default: m.abandonedAfterMs)
        m.maxFailures = try Env.int(nil, "CARTHUB_MAIL_MAX_FAILURES", default: m.maxFailures)
        m.retryDelay = Double(try Env.duration("CARTHUB_MAIL_RETRY_DELAY", default: Int64(m.retryDelay * 1000))) / 1000
        m.claimIdleMs = Int(try Env.duration("CARTHUB_MAIL_CLAIM_IDLE", default: Int64(m.claimIdleMs)))
        guard m.abandonedAfterMs >= 1000, m.maxFailures >= 1, m.retryDelay > 0, m.claimIdleMs >= 1000 else {
            throw ValidationError("ABANDONED_CART_AFTER ≥ 1s, CARTHUB_MAIL_MAX_FAILURES ≥ 1, CARTHUB_MAIL_RETRY_DELAY > 0, CARTHUB_MAIL_CLAIM_IDLE ≥ 1s")
        }
        return m
    }
}
