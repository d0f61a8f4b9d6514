import Postgres

/// A row of `schedule_runs`.
public struct ScheduleRun: Sendable, Equatable {
    public var schedule: String
    /// RFC 3339 UTC with milliseconds.
    public var occurrence: String
    public var trigger: String
    public var claimedBy: String
    public var startedAt: String
    public var finishedAt: String?
    /// `running`, `ok` or `failed`.
    public var status: String
    public var result: String?
}

/// Where an occurrence stands (`ScheduleStore.state`).
public struct OccurrenceState: Sendable, Equatable {
    /// `running`, `ok` or `failed`.
    public var status: String
    public var attempts: Int
    /// When a failed occurrence may run again; nil: not again.
    public var retryAtMs: Int64?

    public init(status: String, attempts: Int, retryAtMs: Int64?) {
        self.status = status
        self.attempts = attempts
        self.retryAtMs = retryAtMs
    }
}

/// The `schedule_runs` table: one row per occurrence of a schedule, its primary key the
/// claim that makes exactly one instance run it.
public enum ScheduleStore {
    /// Inserts the occurrence's row; true when this caller won it and must run it.
    public static func claim(_ c: PostgresConnection, schedule: String, occurrenceMs: Int64, trigger: String, claimedBy: String) throws -> Bool {
        try c.query("""
            insert into schedule_runs (schedule, occurrence, trigger, claimed_by)
            values ($1, to_timestamp($2::bigint / 1000.0), $3, $4)
            on conflict (schedule, occurrence) do nothing
            """, [schedule, String(occurrenceMs), trigger, claimedBy]).affectedRows == 1
    }

    /// The occurrence's row, if it was claimed (by anyone).
    public static func state(_ c: PostgresConnection, schedule: String, occurrenceMs: Int64) throws -> OccurrenceState? {
        try c.query("""
            select status, attempts, (extract(epoch from retry_at) * 1000)::bigint from schedule_runs
            where schedule = $1 and occurrence = to_timestamp($2::bigint / 1000.0)
            """, [schedule, String(occurrenceMs)]).rows.first.map {
            OccurrenceState(status: $0[0] ?? "", attempts: $0[1].flatMap { Int($0) } ?? 1, retryAtMs: $0[2].flatMap { Int64($0) })
        }
    }

    /// Takes the occurrence over for another attempt: one that failed and whose retry time
    /// has come, or one still `running` although nobody holds the schedule's lock (its
    /// instance died). Call it holding that lock. The attempt's number, or nil.
    public static func reclaim(_ c: PostgresConnection, schedule: String, occurrenceMs: Int64, claimedBy: String, nowMs: Int64) throws -> Int? {
        try c.query("""
            update schedule_runs set status = 'running', attempts = attempts + 1, claimed_by = $3, started_at = now(),
                finished_at = null, result = null, retry_at = null
            where schedule = $1 and occurrence = to_timestamp($2::bigint / 1000.0)
              and (status = 'running' or (status = 'failed' and retry_at <= to_timestamp($4::bigint / 1000.0)))
            returning attempts
            """, [schedule, String(occurrenceMs), claimedBy, String(nowMs)]).rows.first?.first.flatMap { $0 }.flatMap { Int($0) }
    }

    /// Records the outcome; a failure may be given a time to try again.
    public static func finish(_ c: PostgresConnection, schedule: String, occurrenceMs: Int64, ok: Bool, result: String, retryAtMs: Int64? = nil) throws {
        try c.query("""
            update schedule_runs set finished_at = now(), status = $3, result = $4,
                retry_at = case when $5::bigint is null then null else to_timestamp($5::bigint / 1000.0) end
            where schedule = $1 and occurrence = to_timestamp($2::bigint / 1000.0)
            """, [schedule, String(occurrenceMs), ok ? "ok" : "failed", String(result.prefix(2000)), retryAtMs.map { String($0) }])
    }

    /// The latest runs of a schedule, newest occurrence first.
    public static func recent(_ c: PostgresConnection, schedule: String, limit: Int) throws -> [ScheduleRun] {
        try c.query("""
            select schedule, \(timestamp("occurrence")), trigger, claimed_by, \(timestamp("started_at")), \(timestamp("finished_at")), status, result
            from schedule_runs where schedule = $1 order by occurrence desc limit $2
            """, [schedule, String(limit)]).rows.map { row in
            ScheduleRun(schedule: row[0] ?? "", occurrence: row[1] ?? "", trigger: row[2] ?? "", claimedBy: row[3] ?? "", startedAt: row[4] ?? "",
                        finishedAt: row[5], status: row[6] ?? "", result: row[7])
        }
    }

    /// Session-level advisory lock of one schedule, so a manual run and a scheduled one
    /// never overlap; released by `unlock` or when the connection ends (a crash).
    public static func tryLock(_ c: PostgresConnection, schedule: String) throws -> Bool {
        try c.query("select pg_try_advisory_lock(hashtext('carthub.schedule.' || $1))", [schedule]).rows.first?.first == "t"
    }

    public static func unlock(_ c: PostgresConnection, schedule: String) throws {
        try c.query("select pg_advisory_unlock(hashtext('carthub.schedule.' || $1))", [schedule])
    }

    static func timestamp(_ column: String) -> String {
        "to_char(\(column) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }
}
