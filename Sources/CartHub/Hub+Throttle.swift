import CartDomain

/// Fixed-window counters in Redis, shared by every instance: INCR, then PEXPIRE NX,
/// which gives a key its window once and also heals a key left without expiry.
extension Hub {
    struct Limit {
        var key: String
        var limit: Int
        var windowSeconds: Int
        /// For the 429 message: "login attempts from this address".
        var what: String
    }

    /// Whom per-address limits count for this request (`ClientAddress`).
    func clientAddress(_ call: APICall) -> String {
        ClientAddress.resolve(peer: call.head.peerAddress, forwardedFor: call.head.header("x-forwarded-for"), trustedProxies: configuration.trustedProxies)
    }

    /// Counts one hit; runs `proceed` when it is within the limit, otherwise answers
    /// 429 with `Retry-After` (or 503 when Redis does not answer: fail closed).
    func throttle(_ call: APICall, _ limit: Limit, then proceed: @escaping () -> Void) {
        var count: Int64?
        redis.send(["INCR", limit.key]) { count = (try? $0.get())?.intValue }
        redis.send(["PEXPIRE", limit.key, String(limit.windowSeconds * 1000), "NX"]) { _ in }
        redis.send(["PTTL", limit.key]) { result in
            guard let count, let ttl = (try? result.get())?.intValue else {
                return call.fail(.unavailable, "the rate limiter is unavailable; retry shortly", headers: [("retry-after", "1")])
            }
            guard count <= Int64(limit.limit) else {
                let retryAfter = max(1, (ttl + 999) / 1000)
                return call.fail(.rateLimited, "too many \(limit.what); retry in \(retryAfter) s", headers: [("retry-after", String(retryAfter))])
            }
            proceed()
        }
    }
}
