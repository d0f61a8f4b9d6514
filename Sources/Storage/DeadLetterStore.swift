import Postgres

/// A stream entry the worker gave up on, kept with why and how often it failed.
public struct DeadLetter: Sendable, Equatable {
    public var id: Int64
    public var stream: String
    public var entryId: String
    /// The entry's fields as a JSON object.
    public var payload: String
    public var error: String
    public var attempts: Int
    public var firstSeen: String
    public var lastSeen: String
}

/// A parking lot: `dead_letters` (the persistence queue's) or `mail_dead_letters`
/// (the mail queue's), alike in shape.
public enum DeadLetterTable: String, Sendable {
    case persistence = "dead_letters"
    case mail = "mail_dead_letters"
}

/// The parking lots of the queues.
public enum DeadLetterStore {
    public static func record(_ c: PostgresConnection, table: DeadLetterTable = .persistence, stream: String, entryId: String, payload: String, error: String, attempts: Int, firstSeenMs: Int64) throws {
        try c.query("""
            insert into \(table.rawValue) (stream, entry_id, payload, error, attempts, first_seen, last_seen)
            values ($1, $2, $3::jsonb, $4, $5, to_timestamp($6::bigint / 1000.0), now())
            on conflict (stream, entry_id) do update set
                error = excluded.error, attempts = \(table.rawValue).attempts + excluded.attempts, last_seen = now()
            """, [stream, entryId, payload, error, String(attempts), String(firstSeenMs)])
    }

    public static func list(_ c: PostgresConnection, table: DeadLetterTable = .persistence, limit: Int) throws -> [DeadLetter] {
        try c.query("""
            select id, stream, entry_id, payload::text, error, attempts,
                   to_char(first_seen at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   to_char(last_seen at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
            from \(table.rawValue) order by id limit $1
            """, [String(limit)]).rows.map(letter)
    }

    /// Removes and returns one entry (for replay or discard).
    public static func take(_ c: PostgresConnection, table: DeadLetterTable = .persistence, id: Int64) throws -> DeadLetter? {
        try c.query("""
            delete from \(table.rawValue) where id = $1
            returning id, stream, entry_id, payload::text, error, attempts,
                      to_char(first_seen at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                      to_char(last_seen at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
            """, [String(id)]).rows.first.map(letter)
    }

    public static func count(_ c: PostgresConnection, table: DeadLetterTable = .persistence) throws -> Int {
        try c.query("select count(*) from \(table.rawValue)").rows.first?.first.flatMap { $0 }.flatMap { Int($0) } ?? 0
    }

    private static func letter(_ row: [String?]) -> DeadLetter {
        DeadLetter(id: Int64(row[0] ?? "") ?? 0, stream: row[1] ?? "", entryId: row[2] ?? "", payload: row[3] ?? "{}", error: row[4] ?? "",
                   attempts: Int(row[5] ?? "") ?? 0, firstSeen: row[6] ?? "", lastSeen: row[7] ?? "")
    }
}
