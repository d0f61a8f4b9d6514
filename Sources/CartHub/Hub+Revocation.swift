import Auth
import CartDomain
import Diagnostics

/// The session deny-list: a logged-out session's `sid` is refused on every hub until
/// its last access token expires. Redis holds it (`AuthKeys.revokedSessions`, a sorted
/// set scored by that expiry in ms) and announces each addition on
/// `AuthKeys.revokedChannel`; each hub keeps a copy, loaded whenever its subscription
/// is (re)established, so it answers handshakes and requests without a round trip.
extension Hub {
    static let revokedMessage = "this session has been logged out; log in again"

    func isRevoked(_ claims: JWTClaims) -> Bool {
        guard let sid = claims.sessionId, let until = revokedSessions[sid] else { return false }
        return until > wallClockMilliseconds()
    }

    /// Refuses `sessionId` everywhere until `untilMs` and closes its sockets on every hub.
    /// `completion` gets false when Redis did not take it (the caller answers 503).
    func revokeEverywhere(_ sessionId: String, untilMs: Int64, completion: @escaping (Bool) -> Void) {
        revoked([sessionId: untilMs])
        let now = wallClockMilliseconds()
        redis.send(["ZREMRANGEBYSCORE", AuthKeys.revokedSessions, "-inf", String(now)]) { _ in }
        redis.send(["ZADD", AuthKeys.revokedSessions, "GT", String(untilMs), sessionId]) { _ in }
        redis.send(["PUBLISH", AuthKeys.revokedChannel, sessionId]) { result in
            if case .failure(let error) = result { Log.warning("revoking session \(sessionId): \(error)") }
            completion((try? result.get()) != nil)
        }
    }

    /// The subscription to the revocation channel is (re)established: whatever was
    /// revoked while we were not listening is in the sorted set.
    func revocationsSubscribed() {
        let now = wallClockMilliseconds()
        redis.send(["ZRANGEBYSCORE", AuthKeys.revokedSessions, String(now), "+inf", "WITHSCORES"]) { [weak self] result in
            guard let self else { return }
            guard case .success(.array(let flat)) = result else {
                // Without the list we cannot tell revoked sessions apart: retry; a hub
                // still starting keeps its port closed meanwhile.
                Log.warning("cannot load the session deny-list; retrying")
                loop.schedule(after: 1) { [weak self] in self?.revocationsSubscribed() }
                return
            }
            var entries: [String: Int64] = [:]
            for i in stride(from: 0, to: flat.count - 1, by: 2) {
                if let sid = flat[i].stringValue, let score = flat[i + 1].stringValue.flatMap(Double.init) {
                    entries[sid] = Int64(score)
                }
            }
            revoked(entries)
            revocationsLoaded = true
            startListeningWhenReady()
        }
    }

    /// A hub revoked `sessionId`: close its sockets now, then learn until when.
    func revocationAnnounced(_ sessionId: String) {
        // Provisional: no access token lives longer than the longest allowed lifetime.
        revoked([sessionId: wallClockMilliseconds() + Int64(HubConfiguration.accessTokenTTLs.upperBound) * 1000])
        redis.send(["ZSCORE", AuthKeys.revokedSessions, sessionId]) { [weak self] result in
            guard let self, let score = (try? result.get())?.stringValue.flatMap(Double.init) else { return }
            revokedSessions[sessionId] = Int64(score)
        }
    }

    /// Entries whose tokens have all expired are no longer needed.
    func pruneRevokedSessions() {
        let now = wallClockMilliseconds()
        revokedSessions = revokedSessions.filter { $0.value > now }
    }

    /// Records sessions (sid → ms) as revoked and closes their sockets here, in one pass.
    private func revoked(_ entries: [String: Int64]) {
        guard !entries.isEmpty else { return }
        revokedSessions.merge(entries, uniquingKeysWith: max)
        for room in rooms.values {
            for session in room.sessions {
                if let sid = client(session).sessionId, entries[sid] != nil {
                    session.close(code: CloseCode.sessionRevoked, reason: "logged out")
                }
            }
        }
    }
}
