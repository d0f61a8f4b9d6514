import Auth
import CartDomain
import Diagnostics
import EventLoop
import Persistence
import Redis
import WebSocketServer
#if canImport(Glibc)
import Glibc
#endif

/// One hub instance: sockets in, cart script calls out, room events fanned back.
/// Everything runs on one libuv loop thread; nothing here blocks.
public final class Hub {
    let configuration: HubConfiguration
    let loop = EventLoop()
    let redis: RedisConnection
    let subscriber: RedisConnection
    let catalog: CatalogCache
    let database: DatabaseThread
    /// Password hashing, off the loop and off the database thread.
    let passwords: BlockingWorkers
    let carts: CartService
    let script: CartScript
    /// `lua/stock.lua` on the loop, and the same script for the blocking rebuild.
    let stockScript: CartScript
    let stockRebuildScript: StockScript
    let orders: OrderService
    var stockCheckInFlight = false
    let leaseScript: LeaseScript
    let codec: JWTCodec
    let instanceId: String
    /// `Resources/openapi.json`, read once at start.
    let openAPIDocument: String
    /// The browser client (`Web/`), read once at start.
    let web: WebAssets
    var server: WebSocketServer?
    var authenticator: Authenticator?
    var rooms: [String: Room] = [:]
    /// The Redis generation this hub serves; nil until known.
    var generation: String?
    var generationCheckInFlight = false
    /// Postgres answered the last probe.
    var postgresReachable = false
    /// Commands answered, by "type result".
    var commandCounts: [String: Int64] = [:]
    var draining = false
    var nextConnection: UInt64 = 0
    /// REST rate limits by user id (sockets keep theirs on the session).
    var restBuckets: [String: (bucket: TokenBucket, lastUsed: Double)] = [:]
    /// Logged-out session ids → ms until which their tokens are refused (Hub+Revocation).
    var revokedSessions: [String: Int64] = [:]
    var revocationsLoaded = false

    // Subscriber liveness: our own heartbeat must come back through pub/sub.
    var heartbeatChannel: String { "hub:heartbeat:\(instanceId)" }
    var heartbeatSubscribed = false
    var lastHeartbeatSeen = 0.0

    public init(configuration: HubConfiguration) throws {
        self.configuration = configuration
        codec = try JWTCodec(secret: configuration.jwtSecret)
        openAPIDocument = try OpenAPIDocument.load()
        web = try WebAssets.load()
        instanceId = String(UInt64.random(in: 0..<(1 << 40)), radix: 36)
        script = try CartScript(directory: configuration.luaDirectory)
        stockScript = try CartScript(directory: configuration.luaDirectory, name: "stock.lua", withCartLibrary: false)
        stockRebuildScript = try StockScript(directory: configuration.luaDirectory)
        leaseScript = try LeaseScript(directory: configuration.luaDirectory)
        redis = RedisConnection(loop: loop, configuration: configuration.redis, name: "carthub-\(instanceId)-cmd", commandTimeout: configuration.redisTimeout)
        subscriber = RedisConnection(loop: loop, configuration: configuration.redis, name: "carthub-\(instanceId)-sub", role: .subscriber, commandTimeout: configuration.redisTimeout)
        database = DatabaseThread(loop: loop, url: configuration.databaseURL)
        passwords = BlockingWorkers(loop: loop, threads: configuration.passwordHashThreads, capacity: configuration.passwordHashQueue)
        catalog = CatalogCache(loop: loop, database: database)
        let loop = loop
        carts = CartService(redis: redis, script: script, catalog: catalog, database: database, configuration: configuration, clock: { loop.preciseNow })
        orders = OrderService(redis: redis, stock: stockScript, carts: carts, catalog: catalog, database: database, configuration: configuration)
        orders.generation = { [unowned self] in generation }
    }

    /// Serves until SIGTERM/SIGINT, then drains and exits. The port opens only once
    /// Redis answers and the catalog is loaded, so no client meets a half-started hub.
    public func run() throws {
        redis.onReady = { [unowned self] in
            script.load(on: redis)
            stockScript.load(on: redis)
            checkGeneration()
        }
        subscriber.onReady = { [unowned self] in
            // Catalog changes published while we were away were missed.
            catalog.reload()
            startListeningWhenReady()
        }
        subscriber.onDown = { [unowned self] _ in
            heartbeatSubscribed = false
            for room in rooms.values { room.subscribed = false }
        }
        subscriber.onSubscribed = { [unowned self] channel in subscribed(channel) }
        subscriber.onMessage = { [unowned self] channel, payload in received(channel, payload) }
        catalog.onLoaded = { [unowned self] in
            // The load was a Postgres round trip: Postgres is reachable right now.
            postgresReachable = true
            startListeningWhenReady()
        }
        subscriber.subscribe(heartbeatChannel)
        subscriber.subscribe(CartKeys.catalogChannel)
        subscriber.subscribe(AuthKeys.revokedChannel)
        redis.start()
        subscriber.start()

        loop.schedule(after: 1, repeat: 1) { [unowned self] in
            beat()
            checkGeneration()
            checkStock()
            probePostgres()
            closeExpiredSessions()
            pruneRESTBuckets()
            pruneRevokedSessions()
        }
        loop.onSignal(SIGTERM) { [unowned self] in beginShutdown() }
        loop.onSignal(SIGINT) { [unowned self] in beginShutdown() }
        loop.run()
    }

    func startListeningWhenReady() {
        guard server == nil, !draining, redis.isReady, subscriber.isReady, catalog.isLoaded, generation != nil, revocationsLoaded else { return }
        var socketConfiguration = WebSocketServerConfiguration()
        socketConfiguration.host = configuration.host
        socketConfiguration.port = configuration.port
        socketConfiguration.maxMessageBytes = configuration.limits.maxMessageBytes
        socketConfiguration.slowConsumerCloseCode = CloseCode.slowConsumer
        socketConfiguration.fdLimit = Self.raiseFileLimit()
        socketConfiguration.pingIntervalSeconds = UInt16(configuration.pingIntervalSeconds)
        socketConfiguration.pongTimeoutSeconds = UInt16(configuration.pongTimeoutSeconds)
        socketConfiguration.tlsCertificatePath = configuration.tlsCertificatePath
        socketConfiguration.tlsPrivateKeyPath = configuration.tlsPrivateKeyPath
        let server: WebSocketServer
        do {
            server = try WebSocketServer(loop: loop, configuration: socketConfiguration, delegate: self)
        } catch {
            Log.error("\(error)")
            exit(1)
        }
        self.server = server
        authenticator = Authenticator(codec: codec, allowedOrigins: configuration.effectiveOrigins(listeningPort: server.port))
        let socketScheme = server.isTLS ? "wss" : "ws"
        Log.info("carthub \(instanceId) listening on \(configuration.scheme)://\(configuration.host):\(server.port) (\(socketScheme) path /ws\(server.isTLS ? ", TLS 1.2+, ALPN http/1.1" : ""))")
        // Machine-readable line for scripts and tests that start a hub on port 0.
        print("LISTENING \(configuration.host) \(server.port) \(instanceId)")
        fflush(nil)
    }

    // MARK: Fan-out

    private func subscribed(_ channel: String) {
        if channel == heartbeatChannel {
            heartbeatSubscribed = true
            lastHeartbeatSeen = loop.now
            return
        }
        if channel == AuthKeys.revokedChannel { return revocationsSubscribed() }
        guard channel.hasPrefix(CartKeys.channel(userId: "")), let room = rooms[String(channel.dropFirst(CartKeys.channel(userId: "").count))] else { return }
        room.subscribed = true
        // Greet new sockets; sockets that may have missed events while we were not subscribed get a fresh snapshot.
        for session in room.sessions { greet(session) }
    }

    private func received(_ channel: String, _ payload: String) {
        if channel == heartbeatChannel {
            lastHeartbeatSeen = loop.now
        } else if channel == CartKeys.catalogChannel {
            catalog.changed(payload)
        } else if channel == AuthKeys.revokedChannel {
            revocationAnnounced(payload)
        } else if channel.hasPrefix(CartKeys.channel(userId: "")), let room = rooms[String(channel.dropFirst(CartKeys.channel(userId: "").count))] {
            for session in room.sessions where client(session).greeted { session.send(payload) }
        }
    }

    /// Sends the cart: `hello` to a new socket, a `resync` update to one that was greeted before.
    func greet(_ session: WebSocketSession) {
        let client = client(session)
        carts.execute(.get, userId: client.userId, origin: .init(requestId: "", connectionId: nil, via: "resync"), now: wallClockMilliseconds()) { [weak self, weak session] result in
            guard let self, let session, session.isOpen else { return }
            switch result {
            case .success(let cart):
                if client.greeted {
                    session.send(ServerFrame.cartUpdated(cart: cart, via: "resync"))
                } else {
                    client.greeted = true
                    session.send(ServerFrame.hello(userId: client.userId, connectionId: client.connectionId, cart: cart))
                    for reply in client.heldReplies { session.send(reply) }
                    client.heldReplies = []
                }
            case .failure:
                // Redis is away; try again until it is back or the socket leaves.
                loop.schedule(after: 1) { [weak self, weak session] in
                    guard let self, let session, session.isOpen, rooms[client.userId]?.subscribed == true else { return }
                    greet(session)
                }
            }
        }
    }

    private func beat() {
        guard redis.isReady else { return }
        if subscriber.isReady, heartbeatSubscribed, loop.now - lastHeartbeatSeen > 5 {
            Log.warning("pub/sub heartbeat lost; reconnecting the subscriber")
            heartbeatSubscribed = false
            subscriber.reconnect()
            return
        }
        redis.send(["PUBLISH", heartbeatChannel, "1"]) { [weak self] result in
            guard let self, case .success(.integer(0)) = result, subscriber.isReady, heartbeatSubscribed else { return }
            // Redis no longer knows our subscriber (e.g. CLIENT KILL that we did not see yet).
            Log.warning("pub/sub subscriber unknown to redis; reconnecting it")
            heartbeatSubscribed = false
            subscriber.reconnect()
        }
    }

    func client(_ session: WebSocketSession) -> ClientSession {
        // Every session the server opens was authorized with a ClientSession attached.
        session.attachment as! ClientSession
    }

    private static func raiseFileLimit() -> UInt32 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return UInt32(min(limit.rlim_cur, 1 << 20))
    }
}
