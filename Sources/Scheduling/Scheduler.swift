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
public final class Scheduler {
    public let schedules: [Schedule]
    let instance: String
    /// Per schedule, the latest occurrence known to be claimed (by anyone): no query
    /// until the next one is due.
    private var settled: [String: Int64] = [:]

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
            if try ScheduleStore.exists(postgres, schedule: schedule.name, occurrenceMs: occurrence) {
                settled[schedule.name] = occurrence
                continue
            }
            let outcome = try Self.run(schedule, occurrenceMs: occurrence, trigger: "schedule", claimedBy: instance,
                                       context: ScheduleContext(redis: redis, postgres: postgres, nowMs: nowMs))
            // Busy: a manual run holds the lock; try this occurrence again next tick.
            if outcome != .busy { settled[schedule.name] = occurrence }
        }
    }

    /// Claims the occurrence and runs the job; records its result.
    public static func run(_ schedule: Schedule, occurrenceMs: Int64, trigger: String, claimedBy: String, context: ScheduleContext) throws -> Outcome {
        let postgres = context.postgres
        guard try ScheduleStore.tryLock(postgres, schedule: schedule.name) else { return .busy }
        defer { try? ScheduleStore.unlock(postgres, schedule: schedule.name) }
        guard try ScheduleStore.claim(postgres, schedule: schedule.name, occurrenceMs: occurrenceMs, trigger: trigger, claimedBy: claimedBy) else {
            return .claimedElsewhere
        }
        Log.info("schedule \(schedule.name): running the occurrence of \(Timestamp.iso8601(milliseconds: occurrenceMs)) (\(trigger))")
        let outcome: Outcome
        do {
            outcome = .ran(ok: true, result: try schedule.job(context))
        } catch {
            Log.warning("schedule \(schedule.name): failed: \(error)")
            outcome = .ran(ok: false, result: "\(error)")
        }
        if case .ran(let ok, let result) = outcome {
            // A Postgres that went away mid-job leaves the row `running`; the error surfaces to the caller.
            try ScheduleStore.finish(postgres, schedule: schedule.name, occurrenceMs: occurrenceMs, ok: ok, result: result)
        }
        return outcome
    }
}
