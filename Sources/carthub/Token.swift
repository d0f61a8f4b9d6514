import ArgumentParser
import Auth
import CartDomain
import Foundation

struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print an HS256 access token (for curl and `carthub client`).")

    @Option(help: "User id (the token's sub).") var user: String
    @Option(help: "Lifetime in seconds.") var ttl: Int = 900
    @Option(help: "Role claim, e.g. admin.") var role: String?
    @Option(help: "Session id claim (sid).") var sid: String?
    @Option(name: .customLong("jwt-secret"), help: "HS256 secret (JWT_SECRET).") var jwtSecret: String?

    func run() throws {
        guard Identifier.isValidUserId(user) else { throw ValidationError("--user must be 1-64 characters of A-Z a-z 0-9 _ . - @ :") }
        guard ttl > 0, ttl <= 366 * 86_400 else { throw ValidationError("--ttl must be 1...\(366 * 86_400) seconds") }
        let codec = try JWTCodec(secret: Env.jwtSecret(jwtSecret))
        let now = Int64(Date().timeIntervalSince1970)
        print(codec.sign(JWTClaims(subject: user, expiresAt: now + Int64(ttl), issuedAt: now, role: role, sessionId: sid)))
    }
}
