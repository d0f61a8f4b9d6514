/// Redis keys and channels of accounts and sessions.
public enum AuthKeys {
    /// Sorted set: revoked session ids (`sid`), scored by the ms until which tokens of
    /// that session could still be valid; members past their score are pruned.
    public static let revokedSessions = "auth:revoked"
    /// Pub/sub: a revoked session id; every hub closes that session's sockets (4003).
    public static let revokedChannel = "auth:revoked"
    /// Counter: logins of one account (lower-cased email) since its last success, in a 15 min window.
    public static func loginFailures(email: String) -> String { "auth:throttle:login:account:\(email.lowercased())" }
    /// Counter: login attempts from one client address in a 1 min window.
    public static func loginAttempts(address: String) -> String { "auth:throttle:login:address:\(address)" }
    /// Counter: registrations from one client address in a 1 min window.
    public static func registrations(address: String) -> String { "auth:throttle:register:address:\(address)" }
}
