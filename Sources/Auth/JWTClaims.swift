/// The claims carthub puts in, and requires of, a session token. Times are Unix seconds.
public struct JWTClaims: Equatable, Sendable {
    /// `sub`: 1–64 characters of `[A-Za-z0-9_.@:-]`.
    public var subject: String
    /// `exp`: the token is rejected from this second on.
    public var expiresAt: Int64
    /// `nbf`: the token is rejected before this second.
    public var notBefore: Int64?
    /// `iat`
    public var issuedAt: Int64?
    /// `role`
    public var role: String?
    /// `sid`: same alphabet and length limit as `subject`.
    public var sessionId: String?

    public init(
        subject: String,
        expiresAt: Int64,
        notBefore: Int64? = nil,
        issuedAt: Int64? = nil,
        role: String? = nil,
        sessionId: String? = nil
    ) {
        self.subject = subject
        self.expiresAt = expiresAt
        self.notBefore = notBefore
        self.issuedAt = issuedAt
        self.role = role
        self.sessionId = sessionId
    }
}
