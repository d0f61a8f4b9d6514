import CartDomain

/// What the hub keeps per socket, riding on the WebSocket session.
final class ClientSession {
    let userId: String
    let connectionId: String
    /// The token's `sid`: a logout of that session closes this socket (4003).
    let sessionId: String?
    let expiresAt: Int64
    var bucket: TokenBucket
    /// Commands sent to Redis and not yet answered.
    var inFlight = 0
    /// The hello snapshot went out; room events may follow it.
    var greeted = false
    /// Replies to commands that completed before the hello went out: `hello` stays first.
    var heldReplies: [String] = []
    /// Loop time of the last message received: while draining, a socket is closed only
    /// once it has been quiet for a moment, so commands already on the wire get answered.
    var lastReceivedAt = 0.0

    init(userId: String, connectionId: String, sessionId: String?, expiresAt: Int64, bucket: TokenBucket) {
        self.userId = userId
        self.connectionId = connectionId
        self.sessionId = sessionId
        self.expiresAt = expiresAt
        self.bucket = bucket
    }
}
