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

    /// True when the occurrence has a row (claimed by anyone).
    public static func exists(_ c: PostgresConnection, schedule: String, occurrenceMs: Int64) throws -> Bool {
        try c.query("select 1 from schedule_runs where schedule = $1 and occurrence = to_timestamp($2::bigint / 1000.0)",
                    [schedule, String(occurrenceMs)]).count > 0
    }

    public static func finish(_ c: PostgresConnection, schedule: String, occurrenceMs: Int64, ok: Bool, result: String) throws {
        try c.query("""
            update schedule_runs set finished_at = now(), status = $3, result = $4
            where schedule = $1 and occurrence = to_timestamp($2::bigint / 1000.0)
            """, [schedule, String(occurrenceMs), ok ? "ok" : "failed", String(result.prefix(2000))])
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
