import Diagnostics
import Foundation
import JSON
import Postgres
import Redis
import SMTP
import Storage

/// Sends what is on `mail:jobs`, as one consumer of the `mailers` group (run inside
/// `carthub worker`, on its own thread with its own connections).
///
/// Per job: `mail_sends` is set to `sending` (taken over from another worker only after
/// the sending lease), the message goes out over SMTP, then `sent` is recorded and the
/// entry acknowledged and deleted. A job whose Message-ID is `sent` already is only
/// acknowledged. Failures are retried with exponential backoff and jitter; after
/// `maxFailures` the job is parked in `mail_dead_letters`. An unreachable server is not
/// the mail's fault: the mailer pauses (backing off up to 30 s) and counts nothing.
/// Jobs of a consumer that died are taken over after `claimIdleMs` (XAUTOCLAIM).
public final class Mailer {
    struct Pending {
        let id: String
        let fields: [String: String]
        /// Monotonic seconds before which it is not tried.
        var notBefore = 0.0
    }

    let configuration: MailConfiguration
    let consumer: String
    private var client: SMTPClient?
    private var backlog: [Pending] = []
    private var groupReady = false
    private var lastClaim = -1e9
    private var pausedUntil = 0.0
    private var outages = 0

    /// Deletes the consumers stopped workers left in the group; run with each takeover round.
    let removeStoppedConsumers: (BlockingRedisConnection) throws -> Void

    public init(configuration: MailConfiguration, consumer: String, removeStoppedConsumers: @escaping (BlockingRedisConnection) throws -> Void) {
        self.configuration = configuration
        self.consumer = consumer
        self.removeStoppedConsumers = removeStoppedConsumers
    }

    /// Seconds a `sending` record of another worker is respected: its longest possible send, and some.
    var sendingLease: Double { (configuration.smtp?.timeout ?? 60) + 5 }

    /// One round: take over abandoned jobs, retry what is due, else wait up to `blockMs`
    /// for new jobs and send them.
    public func step(redis: BlockingRedisConnection, postgres: () throws -> PostgresConnection, clockMs: () -> Int64, now: Double, blockMs: Int) throws {
        guard configuration.smtp != nil, now >= pausedUntil else {
            Thread.sleep(forTimeInterval: Double(blockMs) / 1000)
            return
        }
        if !groupReady {
            if case .error(let message) = try redis.command(["XGROUP", "CREATE", MailKeys.stream, MailKeys.group, "0", "MKSTREAM"]),
               !message.hasPrefix("BUSYGROUP") {
                throw MailError("cannot create the consumer group of \(MailKeys.stream): \(message)")
            }
            groupReady = true
        }
        if now - lastClaim >= min(5, Double(configuration.claimIdleMs) / 2000) {
            lastClaim = now
            try claimAbandoned(redis)
            try removeStoppedConsumers(redis)
        }
        var due: [Pending] = []
        backlog.removeAll { entry in
            guard entry.notBefore <= now, due.count < 10 else { return false }
            due.append(entry)
            return true
        }
        if due.isEmpty {
            let reply = try redis.command(["XREADGROUP", "GROUP", MailKeys.group, consumer, "COUNT", "10", "BLOCK", String(blockMs),
                                           "STREAMS", MailKeys.stream, ">"])
            if case .error(let message) = reply {
                if message.hasPrefix("NOGROUP") { groupReady = false }
                throw MailError("XREADGROUP on \(MailKeys.stream) failed: \(message)")
            }
            for stream in reply.arrayValue ?? [] {
                guard let parts = stream.arrayValue, parts.count == 2 else { continue }
                due += parts[1].streamEntries.map { Pending(id: $0.id, fields: $0.fields) }
            }
        }
        for (index, entry) in due.enumerated() {
            do {
                try handle(entry, redis: redis, postgres: postgres(), clockMs: clockMs())
            } catch {
                // Not sent (or not known to be): keep it and whatever follows for later.
                backlog += due[index...]
                throw error
            }
            if Self.monotonic() < pausedUntil {
                backlog += due[(index + 1)...]
                break
            }
        }
    }

    private func claimAbandoned(_ redis: BlockingRedisConnection) throws {
        let reply = try redis.command(["XAUTOCLAIM", MailKeys.stream, MailKeys.group, consumer, String(configuration.claimIdleMs), "0-0", "COUNT", "100"])
        guard let parts = reply.arrayValue, parts.count >= 2 else {
            if case .error(let message) = reply, message.hasPrefix("NOGROUP") { groupReady = false }
            return
        }
        let known = Set(backlog.map(\.id))
        let claimed = parts[1].streamEntries.filter { !known.contains($0.id) }
        if !claimed.isEmpty { Log.info("mail: took over \(claimed.count) pending mail job(s)") }
        backlog += claimed.map { Pending(id: $0.id, fields: $0.fields) }
    }

    private func handle(_ entry: Pending, redis: BlockingRedisConnection, postgres: PostgresConnection, clockMs: Int64) throws {
        guard let job = MailJob(fields: entry.fields) else {
            return try park(entry, job: nil, reason: "malformed mail job: missing or invalid fields", attempts: 1, redis: redis, postgres: postgres)
        }
        let start = try MailStore.begin(postgres, messageId: job.messageId, kind: job.kind, recipient: job.to, worker: consumer, leaseSeconds: sendingLease)
        let attempts: Int
        switch start {
        case .alreadySent:
            Log.info("mail: \(job.messageId) was sent already; dropping the duplicate job")
            return try acknowledge(entry, redis)
        case .busyElsewhere:
            var later = entry
            later.notBefore = Self.monotonic() + 2
            backlog.append(later)
            return
        case .send(let tries, _):
            attempts = tries
        }
        let message: MailMessage
        do {
            guard let sender = configuration.sender else { throw MailError("MAIL_FROM is not an address: \(configuration.from)") }
            let content = try MailTemplates.render(job, context: MailContext(publicURL: configuration.publicURL))
            message = MailMessage(from: sender, to: (job.name, job.to), messageId: job.messageId, dateMs: clockMs, content: content)
        } catch {
            return try park(entry, job: job, reason: "cannot render: \(error)", attempts: attempts, redis: redis, postgres: postgres)
        }
        do {
            try smtp().send(from: message.from.address, to: [job.to], message: message.bytes)
        } catch let error as SMTPError {
            client = nil
            return try failed(entry, job: job, error: error.description, unreachable: error.kind == .unreachable, attempts: attempts, redis: redis, postgres: postgres)
        } catch {
            client = nil
            return try failed(entry, job: job, error: "\(error)", unreachable: false, attempts: attempts, redis: redis, postgres: postgres)
        }
        outages = 0
        try MailStore.sent(postgres, messageId: job.messageId)
        try acknowledge(entry, redis)
        Log.info("mail: sent \(job.kind) \(job.messageId) to \(job.to)")
    }

    private func failed(_ entry: Pending, job: MailJob, error: String, unreachable: Bool, attempts: Int, redis: BlockingRedisConnection, postgres: PostgresConnection) throws {
        let counts = !unreachable
        let failures = try MailStore.failed(postgres, messageId: job.messageId, error: error, counts: counts)
        var retry = entry
        if !counts {
            outages += 1
            let pause = min(30, configuration.retryDelay * pow(2, Double(min(outages, 20) - 1)))
            pausedUntil = Self.monotonic() + pause
            if outages == 1 || outages % 10 == 0 {
                Log.warning("mail: SMTP server unreachable (\(error)); pausing \(String(format: "%.1f", pause)) s")
            }
            backlog.append(retry)
            return
        }
        guard failures < configuration.maxFailures else {
            return try park(entry, job: job, reason: error, attempts: attempts, redis: redis, postgres: postgres)
        }
        let delay = min(configuration.maxRetryDelay, configuration.retryDelay * pow(2, Double(min(failures, 30) - 1)))
        retry.notBefore = Self.monotonic() + delay * Double.random(in: 0.5...1.0)
        Log.warning("mail: \(job.messageId) failed (\(failures) of \(configuration.maxFailures)): \(error); retrying in about \(Int(delay)) s")
        backlog.append(retry)
    }

    private func park(_ entry: Pending, job: MailJob?, reason: String, attempts: Int, redis: BlockingRedisConnection, postgres: PostgresConnection) throws {
        Log.warning("mail: parking \(MailKeys.stream) \(entry.id) after \(attempts) attempt(s): \(reason)")
        let payload = JSONValue.object(entry.fields.mapValues { .string($0) }).encoded
        try DeadLetterStore.record(postgres, table: .mail, stream: MailKeys.stream, entryId: entry.id, payload: payload, error: reason,
                                   attempts: attempts, firstSeenMs: Int64(Date().timeIntervalSince1970 * 1000))
        if let job { try MailStore.parked(postgres, messageId: job.messageId, error: reason) }
        try acknowledge(entry, redis)
    }

    private func acknowledge(_ entry: Pending, _ redis: BlockingRedisConnection) throws {
        _ = try redis.pipeline([["XACK", MailKeys.stream, MailKeys.group, entry.id], ["XDEL", MailKeys.stream, entry.id]])
    }

    private func smtp() throws -> SMTPClient {
        if let client { return client }
        guard let configuration = configuration.smtp else { throw MailError("SMTP_URL is not set") }
        let fresh = try SMTPClient(configuration: configuration)
        client = fresh
        return fresh
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
