import Postgres

/// What presenting a refresh token led to.
public enum RefreshOutcome: Sendable, Equatable {
    /// The token was current: it is now used, its successor stored; the session goes on.
    case rotated(sessionId: String, user: UserAccount)
    /// The token had been rotated already (stolen, or replayed): the whole session is
    /// now revoked. Its access tokens must be refused until `accessExpiresAt` (Unix s).
    case reused(sessionId: String, accessExpiresAt: Int64)
    /// Unknown, expired, or its session is revoked.
    case invalid
}

/// A session that was just revoked: refuse its `sid` until `accessExpiresAt` (Unix s).
public struct RevokedSession: Sendable, Equatable {
    public var sessionId: String
    public var userId: String
    public var accessExpiresAt: Int64
}

/// The `sessions` and `refresh_tokens` tables. Only SHA-256 digests of refresh tokens
/// (hex) are stored; the tokens themselves live in the client's cookie only.
public enum SessionStore {
    /// Opens a session with its first refresh token. Times are Unix seconds.
    public static func create(_ c: PostgresConnection, sessionId: String, userId: String, tokenHash: String, tokenExpiresAt: Int64, accessExpiresAt: Int64) throws {
        try c.transaction { c in
            try c.query("insert into sessions (id, user_id, access_expires_at) values ($1, $2, to_timestamp($3::bigint))",
                        [sessionId, userId, String(accessExpiresAt)])
            try insertToken(c, hash: tokenHash, sessionId: sessionId, expiresAt: tokenExpiresAt)
        }
    }

    /// Rotates the token whose digest is `presented` to `successor`, or revokes its whole
    /// session when it had been rotated before. The token row is locked, so of two
    /// concurrent uses of one token exactly one rotates and the other counts as reuse.
    public static func rotate(_ c: PostgresConnection, presented: String, successor: String, tokenExpiresAt: Int64, accessExpiresAt: Int64) throws -> RefreshOutcome {
        try c.transaction { c in
            let found = try c.query("""
                select t.session_id, t.used_at is not null, t.expires_at > now(), s.revoked_at is not null, s.user_id
                from refresh_tokens t join sessions s on s.id = t.session_id
                where t.token_hash = $1
                for update of t, s
                """, [presented])
            guard let row = found.rows.first, let sessionId = row[0], let userId = row[4] else { return .invalid }
            let used = row[1] == "t", live = row[2] == "t", revoked = row[3] == "t"
            if revoked { return .invalid }
            if used {
                guard let revokedSession = try revoke(c, sessionId: sessionId) else { return .invalid }
                return .reused(sessionId: sessionId, accessExpiresAt: revokedSession.accessExpiresAt)
            }
            guard live, let user = try UserStore.find(c, id: userId) else { return .invalid }
            try insertToken(c, hash: successor, sessionId: sessionId, expiresAt: tokenExpiresAt)
            try c.query("update refresh_tokens set used_at = now(), replaced_by = $2 where token_hash = $1", [presented, successor])
            try c.query("update sessions set access_expires_at = greatest(access_expires_at, to_timestamp($2::bigint)) where id = $1",
                        [sessionId, String(accessExpiresAt)])
            return .rotated(sessionId: sessionId, user: user)
        }
    }

    /// Revokes a session (again, harmlessly, if it was already); nil if there is none.
    @discardableResult
    public static func revoke(_ c: PostgresConnection, sessionId: String) throws -> RevokedSession? {
        let rows = try c.query("""
            update sessions set revoked_at = coalesce(revoked_at, now()) where id = $1
            returning id, user_id, ceil(extract(epoch from access_expires_at))::bigint
            """, [sessionId])
        return try rows.rows.first.map(revoked)
    }

    /// Revokes the session a refresh token (current or already rotated) belongs to.
    @discardableResult
    public static func revoke(_ c: PostgresConnection, tokenHash: String) throws -> RevokedSession? {
        let rows = try c.query("""
            update sessions s set revoked_at = coalesce(s.revoked_at, now())
            from refresh_tokens t where t.token_hash = $1 and s.id = t.session_id
            returning s.id, s.user_id, ceil(extract(epoch from s.access_expires_at))::bigint
            """, [tokenHash])
        return try rows.rows.first.map(revoked)
    }

    private static func insertToken(_ c: PostgresConnection, hash: String, sessionId: String, expiresAt: Int64) throws {
        try c.query("insert into refresh_tokens (token_hash, session_id, expires_at) values ($1, $2, to_timestamp($3::bigint))",
                    [hash, sessionId, String(expiresAt)])
    }

    private static func revoked(_ row: [String?]) throws -> RevokedSession {
        guard let id = row[0], let user = row[1], let expires = row[2].flatMap({ Int64($0) }) else {
            throw StorageError("unreadable sessions row")
        }
        return RevokedSession(sessionId: id, userId: user, accessExpiresAt: expires)
    }
}
