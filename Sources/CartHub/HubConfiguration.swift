import CartDomain
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

    public init() {}

    /// The origins a handshake or cookie request may come from.
    public func effectiveOrigins(listeningPort: Int) -> Set<String> {
        if !allowedOrigins.isEmpty { return Set(allowedOrigins) }
        var own: Set<String> = ["http://\(host):\(listeningPort)"]
        if host == "127.0.0.1" || host == "localhost" {
            own.insert("http://localhost:\(listeningPort)")
            own.insert("http://127.0.0.1:\(listeningPort)")
        }
        return own
    }
}

/// Close codes of the protocol (web-client-protocol.md).
public enum CloseCode {
    public static let goingAway: UInt16 = 1001
    public static let tokenExpired: UInt16 = 4001
    public static let slowConsumer: UInt16 = 4008
}
