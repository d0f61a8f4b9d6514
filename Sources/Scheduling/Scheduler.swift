import CartDomain
import Diagnostics
import Postgres
import Redis
import Storage

/// When a schedule's occurrences fall, in UTC.
public enum ScheduleTiming: Sendable, Equatable, CustomStringConvertible {
    /// At every multiple of the interval since the Unix epoch (so every instance agrees).
    case every(ms: Int64)
    /// Once a day at this minute after midnight UTC.
    case daily(minuteOfDay: Int)

    static let dayMs: Int64 = 86_400_000

    /// `every 1h`, `every 30s`, `daily 03:00`.
    public init?(_ text: String) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2 else { return nil }
        switch parts[0] {
        case "every":
            guard let ms = DurationText.milliseconds(String(parts[1])), ms >= 1000 else { return nil }
            self = .every(ms: ms)
        case "daily":
            let hm = parts[1].split(separator: ":")
            guard hm.count == 2, hm[0].count == 2, hm[1].count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0..<24).contains(h), (0..<60).contains(m)
            else { return nil }
            self = .daily(minuteOfDay: h * 60 + m)
        default:
            return nil
        }
    }

    public var description: String {
        switch self {
        case .every(let ms): "every \(DurationText.describe(ms))"
        case .daily(let minute): "daily " + String(format2(minute / 60)) + ":" + format2(minute % 60) + " UTC"
        }
    }

    private func format2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    private var period: Int64 {
        switch self {
        case .every(let ms): ms
        case .daily: Self.dayMs
        }
    }

    private var phase: Int64 {
        switch self {
        case .every: 0
        case .daily(let minute): Int64(minute) * 60_000
        }
    }

    /// The latest occurrence at or before `nowMs`: the one that is due. Earlier missed
    /// ones are not separately due (after downtime, one run catches up).
    public func latest(atOrBefore nowMs: Int64) -> Int64 {
        let shifted = nowMs - phase
        let floor = shifted >= 0 ? shifted / period : (shifted - period + 1) / period
        return floor * period + phase
    }

    /// The first occurrence after `nowMs`.
    public func next(after nowMs: Int64) -> Int64 { latest(atOrBefore: nowMs) + period }
}

/// What a schedule's job gets: the process's connections and the clock's now.
public struct ScheduleContext {
    public let redis: BlockingRedisConnection
    public let postgres: PostgresConnection
    public let nowMs: Int64

    public init(redis: BlockingRedisConnection, postgres: PostgresConnection, nowMs: Int64) {
        self.redis = redis
        self.postgres = postgres
        self.nowMs = nowMs
    }
}

/// A named schedule and its job, which returns a one-line result for `schedule_runs`.
public struct Schedule: Sendable {
    public let name: String
    public let timing: ScheduleTiming
    public let job: @Sendable (ScheduleContext) throws -> String

    public init(name: String, timing: ScheduleTiming, job: @escaping @Sendable (ScheduleContext) throws -> String) {
        self.name = name
        self.timing = timing
        self.job = job
    }
}

/// Runs each schedule's due occurrence exactly once across every instance: the
/// occurrence is claimed by inserting its `schedule_runs` row, under the schedule's
/// advisory lock so that a manual run and a scheduled one never overlap.
///
/// An occurrence that failed runs again after 1, 2, 4, 8 minutes (5 attempts in all),
/// as long as it is still the latest; one left `running` by an instance that died
/// (nobody holds the schedule's lock any more) is taken over at once.
public final class Scheduler {
    public let schedules: [Schedule]
    let instance: String
    /// Per schedule, the latest occurrence known to need nothing more from this
    /// instance (done, or out of attempts): no query until the next one is due.
    private var settled: [String: Int64] = [:]
    /// Per schedule, a failed occurrence and when it may run again: no query before then.
    private var waiting: [String: (occurrence: Int64, atMs: Int64)] = [:]
    public static let maxAttempts = 5
    static let firstRetryMs: Int64 = 60_000

    public init(schedules: [Schedule], instance: String) {
        self.schedules = schedules
        self.instance = instance
    }

    public enum Outcome: Sendable, Equatable {
        case ran(ok: Bool, result: String)
        /// The occurrence was claimed already.
        case claimedElsewhere
        /// The schedule is running right now elsewhere.
        case busy
    }

    /// Runs whatever is due now (at most one occurrence per schedule).
    public func tick(redis: BlockingRedisConnection, postgres: PostgresConnection, nowMs: Int64) throws {
        for schedule in schedules {
            let occurrence = schedule.timing.latest(atOrBefore: nowMs)
            if settled[schedule.name] == occurrence { continue }
            if let wait = waiting[schedule.name], wait.occurrence == occurrence, nowMs < wait.atMs { continue }
            var retry = false
            if let state = try ScheduleStore.state(postgres, schedule: schedule.name, occurrenceMs: occurrence) {
                switch (state.status, state.retryAtMs) {
                case ("failed", let at?) where nowMs < at:
                    waiting[schedule.name] = (occurrence, at)
                    continue
                case ("failed", _?), ("running", _):
                    retry = true
                default:
                    settled[schedule.name] = occurrence
                    continue
                }
            }
            let outcome = try Self.run(schedule, occurrenceMs: occurrence, trigger: "schedule", claimedBy: instance,
                                       context: ScheduleContext(redis: redis, postgres: postgres, nowMs: nowMs), retry: retry)
            switch outcome {
            // Busy: a manual run, or another instance, holds the lock; look again next tick.
            case .busy: break
            case .ran(ok: false, _): waiting[schedule.name] = nil
            default: settled[schedule.name] = occurrence
            }
        }
    }

    /// Claims the occurrence (`retry`: takes a failed or orphaned one over) and runs the
    /// job; records its result, and for a scheduled occurrence that failed, when to try
    /// again.
    public static func run(_ schedule: Schedule, occurrenceMs: Int64, trigger: String, claimedBy: String, context: ScheduleContext,
                           retry: Bool = false) throws -> Outcome {
        let postgres = context.postgres
        guard try ScheduleStore.tryLock(postgres, schedule: schedule.name) else { return .busy }
        defer { try? ScheduleStore.unlock(postgres, schedule: schedule.name) }
        let attempt: Int
        if retry {
            guard let n = try ScheduleStore.reclaim(postgres, schedule: schedule.name, occurrenceMs: occurrenceMs, claimedBy: claimedBy, nowMs: context.nowMs)
            else { return .claimedElsewhere }
            attempt = n
        } else {
            guard try ScheduleStore.claim(postgres, schedule: schedule.name, occurrenceMs: occurrenceMs, trigger: trigger, claimedBy: claimedBy) else {
                return .claimedElsewhere
            }
            attempt = 1
        }
        let again = attempt > 1 ? ", attempt \(attempt)" : ""
        Log.info("schedule \(schedule.name): running the occurrence of \(Timestamp.iso8601(milliseconds: occurrenceMs)) (\(trigger)\(again))")
        do {
            let result = try schedule.job(context)
            // A Postgres that went away mid-job leaves the row `running`; the error surfaces to the caller.
            try ScheduleStore.finish(postgres, schedule: schedule.name, occurrenceMs: occurrenceMs, ok: true, result: result)
            return .ran(ok: true, result: result)
        } catch {
            let retryAt = trigger == "schedule" && attempt < maxAttempts ? context.nowMs + firstRetryMs << Int64(attempt - 1) : nil
            Log.warning("schedule \(schedule.name): failed: \(error)" + (retryAt.map { "; trying again at \(Timestamp.iso8601(milliseconds: $0))" } ?? ""))
            try ScheduleStore.finish(postgres, schedule: schedule.name, occurrenceMs: occurrenceMs, ok: false, result: "\(error)", retryAtMs: retryAt)
            return .ran(ok: false, result: "\(error)")
        }
    }
}
