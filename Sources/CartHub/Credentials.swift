import Auth

/// Where a request's token came from decides whether its Origin must be checked:
/// browsers send cookies on their own (cross-site hijacking), never Bearer headers.
enum CredentialSource {
    case cookie, bearer
}

struct Credentials {
    var token: String
    var source: CredentialSource

    static let cookieName = "accessToken"

    /// The Bearer header wins over the cookie when both are present.
    init?(authorization: String?, cookie: String?) {
        if let authorization {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
            token = parts[1].trimmingSpaces
            source = .bearer
            return
        }
        guard let cookie, let value = Self.cookieValue(cookie, named: Self.cookieName) else { return nil }
        token = value
        source = .cookie
    }

    static func cookieValue(_ header: String, named name: String) -> String? {
        for pair in header.split(separator: ";") {
            let trimmed = pair.trimmingSpaces
            guard let eq = trimmed.firstIndex(of: "=") else { continue }
            if trimmed[..<eq] == name { return String(trimmed[trimmed.index(after: eq)...]) }
        }
        return nil
    }
}

/// Checks a handshake's or request's credentials and Origin.
struct Authenticator {
    let codec: JWTCodec
    let allowedOrigins: Set<String>

    enum Failure: Error {
        case unauthorized(String)
        case forbidden(String)
    }

    /// WebSocket handshakes: a present Origin must be allowed; a cookie without any Origin is refused too.
    func authenticate(authorization: String?, cookie: String?, origin: String?, now: Int64) -> Result<JWTClaims, Failure> {
        let credentials: Credentials
        switch Self.credentials(authorization: authorization, cookie: cookie) {
        case .failure(let failure): return .failure(failure)
        case .success(let found): credentials = found
        }
        if let origin {
            guard allowedOrigins.contains(origin) else { return .failure(.forbidden("origin \(origin) is not allowed")) }
        } else if credentials.source == .cookie {
            return .failure(.forbidden("a cookie-authenticated request must carry an allowed Origin"))
        }
        return verify(credentials, now: now)
    }

    /// REST: Bearer requests carry no ambient authority, so only cookie-authenticated
    /// mutations must show an allowed `Origin`, or failing that a `Referer` from one (CSRF).
    func authenticateRequest(authorization: String?, cookie: String?, origin: String?, referer: String?, mutating: Bool, now: Int64) -> Result<JWTClaims, Failure> {
        let credentials: Credentials
        switch Self.credentials(authorization: authorization, cookie: cookie) {
        case .failure(let failure): return .failure(failure)
        case .success(let found): credentials = found
        }
        if credentials.source == .cookie && mutating, let failure = crossSiteProblem(origin: origin, referer: referer) {
            return .failure(failure)
        }
        return verify(credentials, now: now)
    }

    /// Why a cookie-authenticated change may come from another site (CSRF), or nil when
    /// its `Origin`, or failing that its `Referer`, is allowed.
    func crossSiteProblem(origin: String?, referer: String?) -> Failure? {
        guard let source = origin ?? referer.flatMap(Self.origin(ofURL:)) else {
            return .forbidden("a cookie-authenticated change must carry an allowed Origin or Referer")
        }
        return allowedOrigins.contains(source) ? nil : .forbidden("origin \(source) is not allowed")
    }

    /// `scheme://host[:port]` of an absolute URL, as browsers write it in `Origin`.
    static func origin(ofURL url: String) -> String? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let authority = url[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        return url[..<schemeEnd.upperBound].lowercased() + authority.lowercased()
    }

    private static func credentials(authorization: String?, cookie: String?) -> Result<Credentials, Failure> {
        if let credentials = Credentials(authorization: authorization, cookie: cookie) { return .success(credentials) }
        let problem = authorization == nil ? "missing access token (accessToken cookie or Authorization: Bearer)" : "Authorization must be \"Bearer <token>\""
        return .failure(.unauthorized(problem))
    }

    private func verify(_ credentials: Credentials, now: Int64) -> Result<JWTClaims, Failure> {
        do {
            return .success(try codec.verify(credentials.token, now: now))
        } catch {
            return .failure(.unauthorized("invalid token: \(error.message)"))
        }
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
