import JSON
import Storage

/// The two HttpOnly cookies of a login. The access token goes to every path (REST and
/// the socket handshake); the refresh token only to `/api/auth`, where it is used.
struct AuthCookies {
    static let access = "accessToken"
    static let refresh = "refreshToken"
    static let refreshPath = "/api/auth"

    let secure: Bool

    /// `Set-Cookie` headers carrying both tokens.
    func set(accessToken: String, accessMaxAge: Int, refreshToken: String, refreshMaxAge: Int) -> [(String, String)] {
        [cookie(Self.access, accessToken, path: "/", maxAge: accessMaxAge),
         cookie(Self.refresh, refreshToken, path: Self.refreshPath, maxAge: refreshMaxAge)]
    }

    /// `Set-Cookie` headers that make the browser drop both.
    var cleared: [(String, String)] {
        [cookie(Self.access, "", path: "/", maxAge: 0), cookie(Self.refresh, "", path: Self.refreshPath, maxAge: 0)]
    }

    private func cookie(_ name: String, _ value: String, path: String, maxAge: Int) -> (String, String) {
        ("set-cookie", "\(name)=\(value); HttpOnly; SameSite=Lax; Path=\(path); Max-Age=\(maxAge)" + (secure ? "; Secure" : ""))
    }
}

extension UserAccount {
    /// USER of the API: never the password hash.
    var json: JSONValue {
        .object([
            "id": .string(id), "email": .string(email), "name": .string(name), "role": .string(role),
            "marketingEmails": .bool(marketingEmails), "createdAt": .string(createdAt),
        ])
    }
}
