import Auth
import Foundation

enum Tokens {
    static let codec = try! JWTCodec(secret: Array(TestEnvironment.jwtSecret.utf8))

    static func make(user: String, ttl: Int64 = 3600, notBefore: Int64? = nil, role: String? = nil, sid: String? = nil) -> String {
        let now = Int64(Date().timeIntervalSince1970)
        return codec.sign(JWTClaims(subject: user, expiresAt: now + ttl, notBefore: notBefore, issuedAt: now, role: role, sessionId: sid))
    }
}
