import SMTP

/// What the mail side of `carthub worker` can be told.
public struct MailConfiguration: Sendable {
    /// Nil: nothing is sent (mail waits on the queue), which the worker says at start.
    public var smtp: SMTPConfiguration?
    /// `MAIL_FROM`: `Name <address>` or `address`.
    public var from = "carthub <carthub@localhost>"
    /// `CARTHUB_PUBLIC_URL`: the link back in every mail.
    public var publicURL = "http://127.0.0.1:8080/"
    /// Failures of one mail (for a reason of its own; an unreachable server does not
    /// count) before it is parked in mail_dead_letters.
    public var maxFailures = 8
    /// First retry delay in seconds; doubles per failure, with jitter, up to `maxRetryDelay`.
    public var retryDelay = 2.0
    public var maxRetryDelay = 600.0
    /// A job pending this long at a consumer (a dead worker) is taken over.
    public var claimIdleMs = 60_000
    /// How long a cart must sit unchanged before its reminder (ABANDONED_CART_AFTER).
    public var abandonedAfterMs: Int64 = 7 * 86_400_000

    public init() {}

    /// The `from` address split as the envelope and the From header need it.
    public var sender: (name: String, address: String)? { MailAddress.parse(from) }
}
