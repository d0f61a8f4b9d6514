import CartDomain
import Foundation
import Redis

/// Everything `carthub serve` can be told, with the defaults the docs promise.
public struct HubConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var redis = RedisConfiguration(host: "127.0.0.1", port: 6379)
    public var databaseURL = "postgres://carthub@127.0.0.1:5432/carthub"
    public var jwtSecret: [UInt8] = []
    /// Exact `Origin` values allowed; empty means the hub's own origin.
    public var allowedOrigins: [String] = []
    public var shards = 64
    public var limits = CartLimits()
    public var maxSocketsPerUser = 20
    public var commandsPerSecond = 200.0
    public var commandBurst = 400.0
    public var redisTimeout = 1.5
    /// Where the Lua scripts live (`lua/` of the checkout by default).
    public var luaDirectory = "lua"
    public var shutdownGraceSeconds = 5.0
    /// Idle seconds before the hub pings a socket, and without a pong before it drops it.
    public var pingIntervalSeconds = 20
    public var pongTimeoutSeconds = 50
    /// Request ids remembered per cart for safe retries.
    public var rememberedRequests = 32
    /// PEM certificate (chain) and private key (`CARTHUB_TLS_CERT`, `CARTHUB_TLS_KEY`):
    /// both or neither. With both, the one listener serves only https:// and wss://.
    public var tlsCertificatePath: String?
    public var tlsPrivateKeyPath: String?
    /// Seconds an access token (and its cookie) lives; seconds a refresh token lives.
    public var accessTokenTTL = 900
    public var refreshTokenTTL = 30 * 86_400
    public static let accessTokenTTLs = 60...86_400
    /// Password hashing: worker threads (a core is left to the loop), and jobs allowed
    /// to wait before logins get 503.
    public var passwordHashThreads = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount - 1))
    public var passwordHashQueue = 32
    public var loginThrottle = LoginThrottle()
    /// Proxies whose `X-Forwarded-For` names the client (`CARTHUB_TRUSTED_PROXIES`): see
    /// `ClientAddress`.
    public var trustedProxies: Set<String> = []
    /// Seconds an unpaid order holds its stock before it expires (`CARTHUB_RESERVATION_TTL`).
    public var reservationTTL = 900
    /// HMAC-SHA256 key of payment notifications (`PAYMENT_WEBHOOK_SECRET`, at least 32
    /// bytes); nil: the webhook refuses every call (401 BAD_SIGNATURE).
    public var paymentWebhookSecret: [UInt8]?
    /// Demo only (`CARTHUB_DEMO_PAYMENTS=1`, needs `paymentWebhookSecret`): `POST
    /// /api/demo/pay/{id}` lets an order's owner pay it through the webhook's code path
    /// (the browser client's Pay button). Off: the route answers 404.
    public var demoPayments = false
    /// Test-only (`CARTHUB_TEST_CRASH_AFTER_RESERVE=1`): the hub exits right after an
    /// order's stock is reserved, before the order is written, to test recovery.
    public var testCrashAfterReserve = false

    public init() {}

    /// True when the hub serves https/wss; cookies it sets must then carry `Secure`.
    public var usesTLS: Bool { tlsCertificatePath != nil && tlsPrivateKeyPath != nil }

    /// `https` with TLS, else `http`.
    public var scheme: String { usesTLS ? "https" : "http" }

    /// The origins a handshake or cookie request may come from.
    public func effectiveOrigins(listeningPort: Int) -> Set<String> {
        if !allowedOrigins.isEmpty { return Set(allowedOrigins) }
        var own: Set<String> = ["\(scheme)://\(host):\(listeningPort)"]
        if host == "127.0.0.1" || host == "localhost" {
            own.insert("\(scheme)://localhost:\(listeningPort)")
            own.insert("\(scheme)://127.0.0.1:\(listeningPort)")
        }
        return own
    }

    /// Checks the TLS settings before anything starts: both paths or neither, and
    /// each a readable, non-empty file. Whether they hold a usable PEM pair is lws's
    /// to say when the listener opens (the hub then exits with its error).
    public func validateTLS() throws(HubConfigurationError) {
        switch (tlsCertificatePath, tlsPrivateKeyPath) {
        case (nil, nil):
            return
        case (_?, nil):
            throw HubConfigurationError("CARTHUB_TLS_CERT is set but CARTHUB_TLS_KEY is not: TLS needs both the certificate and its private key (or neither, for plain HTTP)")
        case (nil, _?):
            throw HubConfigurationError("CARTHUB_TLS_KEY is set but CARTHUB_TLS_CERT is not: TLS needs both the certificate and its private key (or neither, for plain HTTP)")
        case (let certificate?, let key?):
            for (name, path) in [("CARTHUB_TLS_CERT", certificate), ("CARTHUB_TLS_KEY", key)] {
                guard let contents = FileManager.default.contents(atPath: path) else {
                    throw HubConfigurationError("\(name): cannot read \(path) (missing, a directory, or not readable)")
                }
                guard !contents.isEmpty else { throw HubConfigurationError("\(name): \(path) is empty") }
            }
        }
    }
}

public struct HubConfigurationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Close codes of the protocol (web-client-protocol.md).
public enum CloseCode {
    public static let goingAway: UInt16 = 1001
    public static let tokenExpired: UInt16 = 4001
    /// The socket's session logged out (or its refresh token was reused).
    public static let sessionRevoked: UInt16 = 4003
    public static let slowConsumer: UInt16 = 4008
}

/// Fixed windows in Redis, so the limits hold across instances.
public struct LoginThrottle: Sendable {
    /// Logins of one account since its last success, per window.
    public var failuresPerAccount = 5
    public var accountWindowSeconds = 900
    /// Login attempts from one client address, per window.
    public var attemptsPerAddress = 30
    public var addressWindowSeconds = 60
    /// Registrations from one client address, per window.
    public var registrationsPerAddress = 10
    public var registrationWindowSeconds = 60

    public init() {}
}
