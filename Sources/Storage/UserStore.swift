import Postgres

/// A row of `users`, as the API shows it plus the password hash it never shows.
public struct UserAccount: Sendable, Equatable {
    public var id: String
    public var email: String
    public var name: String
    public var role: String
    public var marketingEmails: Bool
    /// RFC 3339 UTC with milliseconds.
    public var createdAt: String
    public var passwordHash: String

    public init(id: String, email: String, name: String, role: String, marketingEmails: Bool, createdAt: String, passwordHash: String) {
        self.id = id
        self.email = email
        self.name = name
        self.role = role
        self.marketingEmails = marketingEmails
        self.createdAt = createdAt
        self.passwordHash = passwordHash
    }
}

/// The `users` table. Emails are unique and looked up case-insensitively (`lower(email)`).
public enum UserStore {
    public static let roles: Set<String> = ["customer", "admin"]

    /// Inserts a user; nil when the email (in any case) is taken already.
    public static func create(_ c: PostgresConnection, id: String, email: String, name: String, passwordHash: String, role: String) throws -> UserAccount? {
        guard roles.contains(role) else { throw StorageError("unknown role \"\(role)\"") }
        return try c.query("""
            insert into users (id, email, name, password_hash, role) values ($1, $2, $3, $4, $5)
            on conflict ((lower(email))) do nothing
            returning \(columns)
            """, [id, email, name, passwordHash, role]).rows.first.map(account)
    }

    public static func find(_ c: PostgresConnection, email: String) throws -> UserAccount? {
        try c.query("select \(columns) from users where lower(email) = lower($1)", [email]).rows.first.map(account)
    }

    public static func find(_ c: PostgresConnection, id: String) throws -> UserAccount? {
        try c.query("select \(columns) from users where id = $1", [id]).rows.first.map(account)
    }

    /// Turns marketing mail (the abandoned-cart reminders) on or off; nil when no such user.
    public static func setMarketingEmails(_ c: PostgresConnection, id: String, _ enabled: Bool) throws -> UserAccount? {
        try c.query("update users set marketing_emails = $2, updated_at = now() where id = $1 returning \(columns)",
                    [id, enabled ? "true" : "false"]).rows.first.map(account)
    }

    static let columns = """
        id, email, name, role, marketing_emails, \
        to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), password_hash
        """

    /// Reads a row selected with `columns`.
    static func account(_ row: [String?]) throws -> UserAccount {
        guard row.count >= 7, let id = row[0], let email = row[1], let name = row[2], let role = row[3],
            let marketing = row[4], let created = row[5], let hash = row[6]
        else { throw StorageError("unreadable users row") }
        return UserAccount(id: id, email: email, name: name, role: role, marketingEmails: marketing == "t", createdAt: created, passwordHash: hash)
    }
}
