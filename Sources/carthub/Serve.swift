import ArgumentParser
import CartDomain
import CartHub
import Diagnostics

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a hub: WebSocket and HTTP on one port.")

    @Option(help: "Listen address (CARTHUB_HOST).") var host: String?
    @Option(help: "Listen port, 0 for any free one (CARTHUB_PORT).") var port: Int?
    @Option(name: .customLong("redis-url"), help: "Redis URL (REDIS_URL).") var redisURL: String?
    @Option(name: .customLong("database-url"), help: "Postgres URL (DATABASE_URL).") var databaseURL: String?
    @Option(name: .customLong("jwt-secret"), help: "HS256 secret, ≥ 32 bytes (JWT_SECRET; prefer the environment).") var jwtSecret: String?
    @Option(name: .customLong("allowed-origins"), help: "Comma-separated allowed Origins (CARTHUB_ALLOWED_ORIGINS).") var allowedOrigins: String?
    @Option(help: "Shard count (CARTHUB_SHARDS).") var shards: Int?
    @Option(name: .customLong("lua-dir"), help: "Folder with the Lua scripts (CARTHUB_LUA_DIR).") var luaDir: String?
    @Option(name: .customLong("max-quantity"), help: "Largest quantity of one line (CARTHUB_MAX_QUANTITY).") var maxQuantity: Int?
    @Option(name: .customLong("max-lines"), help: "Most distinct books in a cart (CARTHUB_MAX_LINES).") var maxLines: Int?
    @Option(name: .customLong("max-sockets-per-user"), help: "Sockets per user on this instance (CARTHUB_MAX_SOCKETS_PER_USER).") var maxSockets: Int?
    @Option(name: .customLong("rate-limit"), help: "Commands per second per socket (CARTHUB_RATE_LIMIT).") var rateLimit: Int?
    @Option(name: .customLong("rate-burst"), help: "Burst per socket (CARTHUB_RATE_BURST).") var rateBurst: Int?
    @Option(name: .customLong("redis-timeout-ms"), help: "Redis command deadline (CARTHUB_REDIS_TIMEOUT_MS).") var redisTimeoutMs: Int?
    @Option(name: .customLong("ping-interval"), help: "Idle seconds before a socket is pinged (CARTHUB_PING_INTERVAL).") var pingInterval: Int?
    @Option(name: .customLong("pong-timeout"), help: "Seconds without a pong before a socket is dropped (CARTHUB_PONG_TIMEOUT).") var pongTimeout: Int?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate; with --tls-key the port serves https/wss only (CARTHUB_TLS_CERT).") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert (CARTHUB_TLS_KEY).") var tlsKey: String?
    @Option(name: .customLong("access-token-ttl"), help: "Seconds an access token lives, 60...86400 (CARTHUB_ACCESS_TOKEN_TTL).") var accessTokenTTL: Int?
    @Option(name: .customLong("refresh-token-ttl"), help: "Seconds a refresh token lives (CARTHUB_REFRESH_TOKEN_TTL).") var refreshTokenTTL: Int?
    @Option(name: .customLong("reservation-ttl"), help: "Seconds an unpaid order holds its stock (CARTHUB_RESERVATION_TTL).") var reservationTTL: Int?
    @Option(name: .customLong("trusted-proxies"), help: "Comma-separated proxy addresses whose X-Forwarded-For names the client (CARTHUB_TRUSTED_PROXIES).") var trustedProxies: String?
    @Option(name: .customLong("login-address-limit"), help: "Login attempts per client address a minute (CARTHUB_LOGIN_ADDRESS_LIMIT).") var loginAddressLimit: Int?
    @Option(name: .customLong("login-account-limit"), help: "Failed logins of one account per 15 minutes (CARTHUB_LOGIN_ACCOUNT_LIMIT).") var loginAccountLimit: Int?
    @Option(name: .customLong("register-address-limit"), help: "Registrations per client address a minute (CARTHUB_REGISTER_ADDRESS_LIMIT).") var registerAddressLimit: Int?

    func run() throws {
        Log.configure(from: Env.value("CARTHUB_LOG"))
        var c = HubConfiguration()
        c.host = Env.string(host, "CARTHUB_HOST", default: "127.0.0.1")
        c.port = try Env.int(port, "CARTHUB_PORT", default: 8080)
        c.redis = try Env.redis(redisURL)
        c.databaseURL = Env.databaseURL(databaseURL)
        c.jwtSecret = try Env.jwtSecret(jwtSecret)
        c.allowedOrigins = Env.string(allowedOrigins, "CARTHUB_ALLOWED_ORIGINS", default: "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        c.shards = try Env.int(shards, "CARTHUB_SHARDS", default: 64)
        c.luaDirectory = Env.luaDirectory(luaDir)
        c.limits.maxQuantity = Int64(try Env.int(maxQuantity, "CARTHUB_MAX_QUANTITY", default: 99))
        c.limits.maxLines = try Env.int(maxLines, "CARTHUB_MAX_LINES", default: 100)
        c.maxSocketsPerUser = try Env.int(maxSockets, "CARTHUB_MAX_SOCKETS_PER_USER", default: 20)
        c.commandsPerSecond = Double(try Env.int(rateLimit, "CARTHUB_RATE_LIMIT", default: 200))
        c.commandBurst = Double(try Env.int(rateBurst, "CARTHUB_RATE_BURST", default: 400))
        c.redisTimeout = Double(try Env.int(redisTimeoutMs, "CARTHUB_REDIS_TIMEOUT_MS", default: 1500)) / 1000
        c.pingIntervalSeconds = try Env.int(pingInterval, "CARTHUB_PING_INTERVAL", default: 20)
        c.pongTimeoutSeconds = try Env.int(pongTimeout, "CARTHUB_PONG_TIMEOUT", default: 50)
        c.tlsCertificatePath = Env.optional(tlsCert, "CARTHUB_TLS_CERT")
        c.tlsPrivateKeyPath = Env.optional(tlsKey, "CARTHUB_TLS_KEY")
        c.accessTokenTTL = try Env.int(accessTokenTTL, "CARTHUB_ACCESS_TOKEN_TTL", default: 900)
        c.refreshTokenTTL = try Env.int(refreshTokenTTL, "CARTHUB_REFRESH_TOKEN_TTL", default: 30 * 86_400)
        c.reservationTTL = try Env.int(reservationTTL, "CARTHUB_RESERVATION_TTL", default: 900)
        guard (1...7 * 86_400).contains(c.reservationTTL) else { throw ValidationError("CARTHUB_RESERVATION_TTL must be 1...604800 seconds") }
        let proxies = Env.string(trustedProxies, "CARTHUB_TRUSTED_PROXIES", default: "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if let bad = proxies.first(where: { !ClientAddress.isPlausible($0) }) {
            throw ValidationError("CARTHUB_TRUSTED_PROXIES must list IP addresses (e.g. 127.0.0.1,::1), got \"\(bad)\"")
        }
        c.trustedProxies = Set(proxies)
        c.loginThrottle.attemptsPerAddress = try Env.int(loginAddressLimit, "CARTHUB_LOGIN_ADDRESS_LIMIT", default: c.loginThrottle.attemptsPerAddress)
        c.loginThrottle.failuresPerAccount = try Env.int(loginAccountLimit, "CARTHUB_LOGIN_ACCOUNT_LIMIT", default: c.loginThrottle.failuresPerAccount)
        c.loginThrottle.registrationsPerAddress = try Env.int(registerAddressLimit, "CARTHUB_REGISTER_ADDRESS_LIMIT", default: c.loginThrottle.registrationsPerAddress)
        for (name, value) in [("CARTHUB_LOGIN_ADDRESS_LIMIT", c.loginThrottle.attemptsPerAddress), ("CARTHUB_LOGIN_ACCOUNT_LIMIT", c.loginThrottle.failuresPerAccount),
                              ("CARTHUB_REGISTER_ADDRESS_LIMIT", c.loginThrottle.registrationsPerAddress)] where !(1...1_000_000).contains(value) {
            throw ValidationError("\(name) must be 1...1000000, got \(value)")
        }
        if let secret = Env.value("PAYMENT_WEBHOOK_SECRET") {
            guard secret.utf8.count >= 32 else { throw ValidationError("PAYMENT_WEBHOOK_SECRET must be at least 32 bytes, got \(secret.utf8.count)") }
            c.paymentWebhookSecret = Array(secret.utf8)
        }
        c.demoPayments = try Env.flag("CARTHUB_DEMO_PAYMENTS")
        if c.demoPayments && c.paymentWebhookSecret == nil {
            throw ValidationError("CARTHUB_DEMO_PAYMENTS=1 needs PAYMENT_WEBHOOK_SECRET: demo payments are signed and sent through the webhook's code")
        }
        c.testCrashAfterReserve = Env.value("CARTHUB_TEST_CRASH_AFTER_RESERVE") == "1"
        guard HubConfiguration.accessTokenTTLs.contains(c.accessTokenTTL) else { throw ValidationError("CARTHUB_ACCESS_TOKEN_TTL must be 60...86400") }
        guard (60...366 * 86_400).contains(c.refreshTokenTTL) else { throw ValidationError("CARTHUB_REFRESH_TOKEN_TTL must be 60...\(366 * 86_400)") }
        guard (1...3600).contains(c.pingIntervalSeconds), (c.pingIntervalSeconds + 1...7200).contains(c.pongTimeoutSeconds) else {
            throw ValidationError("CARTHUB_PING_INTERVAL must be 1...3600 and CARTHUB_PONG_TIMEOUT longer than it, up to 7200")
        }
        guard (1...65536).contains(c.shards) else { throw ValidationError("CARTHUB_SHARDS must be 1...65536") }
        guard (0...65535).contains(c.port) else { throw ValidationError("CARTHUB_PORT must be 0...65535") }
        guard (1...9999).contains(c.limits.maxQuantity) else { throw ValidationError("CARTHUB_MAX_QUANTITY must be 1...9999") }
        guard (1...1000).contains(c.limits.maxLines) else { throw ValidationError("CARTHUB_MAX_LINES must be 1...1000") }
        do { try c.validateTLS() } catch { throw ValidationError(error.description) }
        guard c.maxSocketsPerUser >= 1, c.commandsPerSecond > 0, c.commandBurst >= 1, c.redisTimeout > 0 else {
            throw ValidationError("socket cap, rate limit, burst and Redis timeout must be positive")
        }
        try Hub(configuration: c).run()
    }
}
