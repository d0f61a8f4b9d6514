import Auth
import CartDomain
import JSON
import Postgres
import Storage

/// `POST /api/auth/login`, `/refresh` and `/logout`: sessions with a short-lived access
/// token (JWT, `sid` = the session) and a rotating refresh token (web-client-protocol.md §10).
extension Hub {
    static let invalidCredentials = CartError(.invalidCredentials, "wrong email or password")

    var cookies: AuthCookies { AuthCookies(secure: configuration.usesTLS) }

    func login(_ call: APICall) {
        guard serving(call) != nil, let body = call.jsonObject(), let email = call.string(body, "email"),
            let password = call.string(body, "password")
        else { return }
        let limits = configuration.loginThrottle
        let perAddress = Limit(key: AuthKeys.loginAttempts(address: clientAddress(call)), limit: limits.attemptsPerAddress,
                               windowSeconds: limits.addressWindowSeconds, what: "login attempts from this address")
        throttle(call, perAddress) { [unowned self] in
            // No account can have these; answering at once tells nothing about accounts.
            guard AccountRules.emailProblem(email) == nil, password.utf8.count <= AccountRules.maxPasswordBytes else {
                return call.fail(Self.invalidCredentials)
            }
            // Counts every attempt and is reset by a success: the failures since then.
            let perAccount = Limit(key: AuthKeys.loginFailures(email: email), limit: limits.failuresPerAccount,
                                   windowSeconds: limits.accountWindowSeconds, what: "failed logins for this account")
            throttle(call, perAccount) { [unowned self] in
                database.run({ c in try UserStore.find(c, email: email) }) { [unowned self] found in
                    let user: UserAccount?
                    switch found {
                    case .success(let account): user = account
                    case .failure(let error): return storeUnavailable(call, error)
                    }
                    hashPassword(call, {
                        guard let user else {
                            PasswordHash.verifyNothing(password: password)
                            return false
                        }
                        return PasswordHash.verify(password: password, against: user.passwordHash)
                    }) { [unowned self] matches in
                        guard matches, let user else { return call.fail(Self.invalidCredentials) }
                        redis.send(["DEL", perAccount.key]) { _ in }
                        startSession(call, for: user)
                    }
                }
            }
        }
    }

    /// A cookie-authenticated change, so it needs an allowed Origin (or Referer).
    func refresh(_ call: APICall) {
        guard let authenticator = serving(call) else { return }
        if case .forbidden(let message)? = authenticator.crossSiteProblem(origin: call.header("origin"), referer: call.header("referer")) {
            return call.fail(.forbidden, message)
        }
        guard let presented = refreshCookie(call) else {
            return call.fail(.unauthorized, "missing or malformed refreshToken cookie; log in", headers: cookies.cleared)
        }
        let successor = RandomToken.secret()
        let now = wallClockMilliseconds() / 1000
        let tokenExpiresAt = now + Int64(configuration.refreshTokenTTL), accessExpiresAt = now + Int64(configuration.accessTokenTTL)
        database.run({ c in
            try SessionStore.rotate(c, presented: RandomToken.digest(presented), successor: RandomToken.digest(successor),
                                    tokenExpiresAt: tokenExpiresAt, accessExpiresAt: accessExpiresAt)
        }) { [unowned self] result in
            switch result {
            case .success(.rotated(let sessionId, let user)):
                respondWithTokens(call, user: user, sessionId: sessionId, refreshToken: successor, issuedAt: now)
            case .success(.reused(let sessionId, let until)):
                revokeEverywhere(sessionId, untilMs: until * 1000) { [unowned self] _ in
                    call.fail(.unauthorized, "this refresh token was used before, so the session has been revoked; log in again", headers: cookies.cleared)
                }
            case .success(.invalid):
                call.fail(.unauthorized, "the refresh token is invalid, expired or revoked; log in again", headers: cookies.cleared)
            case .failure(let error):
                storeUnavailable(call, error)
            }
        }
    }

    /// Ends the session of the access token (cookie or Bearer) or, failing that, of the
    /// refresh cookie: its refresh tokens stop working, its `sid` is refused everywhere
    /// and its sockets on every hub close with 4003.
    func logout(_ call: APICall) {
        guard let authenticator = serving(call) else { return }
        let origin = call.header("origin"), referer = call.header("referer")
        if Credentials(authorization: call.header("authorization"), cookie: call.header("cookie")) != nil {
            let result = authenticator.authenticateRequest(
                authorization: call.header("authorization"), cookie: call.header("cookie"), origin: origin, referer: referer,
                mutating: true, now: wallClockMilliseconds() / 1000)
            switch result {
            case .failure(.forbidden(let message)):
                return call.fail(.forbidden, message)
            case .success(let claims) where !isRevoked(claims):
                if let sid = claims.sessionId {
                    return endSession(call, { c in try SessionStore.revoke(c, sessionId: sid) }, sessionId: sid, expiresAt: claims.expiresAt)
                }
                // A token without a session (`carthub token`): nothing of its own to revoke.
                if refreshCookie(call) == nil { return call.respond(204, headers: cookies.cleared) }
            case .success, .failure(.unauthorized):
                break  // expired, invalid or revoked already: the refresh cookie may still name the session
            }
        }
        guard let presented = refreshCookie(call) else {
            return call.fail(.unauthorized, "not logged in: no valid access token or refreshToken cookie", headers: cookies.cleared)
        }
        if case .forbidden(let message)? = authenticator.crossSiteProblem(origin: origin, referer: referer) {
            return call.fail(.forbidden, message)
        }
        let digest = RandomToken.digest(presented)
        endSession(call, { c in try SessionStore.revoke(c, tokenHash: digest) }, sessionId: nil, expiresAt: 0)
    }

    // MARK: Sessions and tokens

    private func startSession(_ call: APICall, for user: UserAccount) {
        let sessionId = RandomToken.identifier(prefix: "s-")
        let refreshToken = RandomToken.secret()
        let now = wallClockMilliseconds() / 1000
        let tokenExpiresAt = now + Int64(configuration.refreshTokenTTL), accessExpiresAt = now + Int64(configuration.accessTokenTTL)
        database.run({ c in
            try SessionStore.create(c, sessionId: sessionId, userId: user.id, tokenHash: RandomToken.digest(refreshToken),
                                    tokenExpiresAt: tokenExpiresAt, accessExpiresAt: accessExpiresAt)
        }) { [unowned self] result in
            if case .failure(let error) = result { return storeUnavailable(call, error) }
            respondWithTokens(call, user: user, sessionId: sessionId, refreshToken: refreshToken, issuedAt: now)
        }
    }

    /// 200 with the access token in the body (for curl) and both cookies (for browsers).
    private func respondWithTokens(_ call: APICall, user: UserAccount, sessionId: String, refreshToken: String, issuedAt now: Int64) {
        let ttl = configuration.accessTokenTTL
        let token = codec.sign(JWTClaims(subject: user.id, expiresAt: now + Int64(ttl), issuedAt: now, role: user.role, sessionId: sessionId))
        let body: JSONValue = .object(["accessToken": .string(token), "tokenType": "Bearer", "expiresIn": .int(Int64(ttl)), "user": user.json])
        call.respond(200, json: body.encoded, headers: cookies.set(
            accessToken: token, accessMaxAge: ttl, refreshToken: refreshToken, refreshMaxAge: configuration.refreshTokenTTL))
    }

    /// Revokes in Postgres, then everywhere else; 204 with both cookies cleared.
    /// `sessionId`/`expiresAt` come from the access token when there was one.
    private func endSession(_ call: APICall, _ revoke: @escaping @Sendable (PostgresConnection) throws -> RevokedSession?, sessionId: String?, expiresAt: Int64) {
        database.run(revoke) { [unowned self] result in
            let revoked: RevokedSession?
            switch result {
            case .success(let session): revoked = session
            case .failure(let error): return storeUnavailable(call, error)
            }
            guard let sid = revoked?.sessionId ?? sessionId else {
                return call.fail(.unauthorized, "the refresh token is unknown; nothing to log out", headers: cookies.cleared)
            }
            let until = max(revoked?.accessExpiresAt ?? 0, expiresAt)
            revokeEverywhere(sid, untilMs: until * 1000) { [unowned self] stored in
                // Not on the deny-list yet: keep the cookies, so that a retry can finish it.
                guard stored else { return call.fail(.unavailable, "could not log out everywhere; retry", headers: [("retry-after", "1")]) }
                call.respond(204, headers: cookies.cleared)
            }
        }
    }

    /// The `refreshToken` cookie when it has a refresh token's shape (32 bytes, base64url).
    private func refreshCookie(_ call: APICall) -> String? {
        guard let header = call.header("cookie"), let value = Credentials.cookieValue(header, named: AuthCookies.refresh),
            Base64URL.decode(value)?.count == 32
        else { return nil }
        return value
    }
}
