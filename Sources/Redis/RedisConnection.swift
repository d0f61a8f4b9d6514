internal import CHiredis
import DequeModule
import Diagnostics
import EventLoop

/// One hiredis async connection on the hub's event loop, with what hiredis 0.14.1
/// lacks: a deadline on every command, stall detection, and reconnects with backoff.
///
/// Commands issued while disconnected fail at once with `.unavailable`, so callers
/// answer users quickly instead of queueing behind an outage.
public final class RedisConnection {
    public enum Role: Sendable { case commands, subscriber }

    public let role: Role
    public let name: String
    public private(set) var isReady = false
    /// Called after every (re)connect once the connection is authenticated (and resubscribed).
    public var onReady: (() -> Void)?
    /// Called when an established connection was lost.
    public var onDown: ((String) -> Void)?
    /// Subscriber role: a published message (channel, payload).
    public var onMessage: ((String, String) -> Void)?
    /// Subscriber role: Redis confirmed a subscription; messages published from now on arrive.
    public var onSubscribed: ((String) -> Void)?

    let loop: EventLoop
    let configuration: RedisConfiguration
    let commandTimeout: Double
    /// Once the oldest unanswered command has waited half its deadline, Redis is behind:
    /// new commands fail at once instead of queueing. Past its capacity, Redis then serves
    /// what it can within a bounded delay, rather than every command waiting out its
    /// deadline (while Redis still spends its time on them) and all of them failing.
    /// Half, not less: a thousand sockets with a command each in flight is a normal
    /// queue of a few hundred milliseconds on a busy hub, not an overload.
    var shedAfter: Double { commandTimeout / 2 }
    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private var inFlight = Deque<PendingCommand>()
    /// Sent but not yet answered by hiredis, timed-out commands included.
    private var outstanding = 0
    private var lastReplyAt = 0.0
    private var connectStartedAt = 0.0
    private var attempts = 0
    private var reconnectTimer: Timer?
    private var ticker: Timer?
    private var subscriptions = Set<String>()

    public init(loop: EventLoop, configuration: RedisConfiguration, name: String, role: Role = .commands, commandTimeout: Double = 1.5) {
        self.loop = loop
        self.configuration = configuration
        self.name = name
        self.role = role
        self.commandTimeout = commandTimeout
    }

    public func start() {
        ticker = loop.schedule(after: 0.1, repeat: 0.1) { [unowned self] in tick() }
        connect()
    }

    /// Sends one command. The completion runs on the loop thread exactly once.
    public func send(_ args: [String], _ completion: @escaping (Result<RedisValue, RedisError>) -> Void) {
        guard isReady, context != nil else {
            completion(.failure(RedisError(.unavailable, "redis is not connected")))
            return
        }
        if let oldest = inFlight.first, loop.now - oldest.sentAt > shedAfter {
            completion(.failure(RedisError(.overloaded, "redis is overloaded")))
            return
        }
        enqueue(args, completion)
    }

    /// Drops the connection and connects again (e.g. a subscriber that missed heartbeats).
    /// Deferred to a timer because freeing a context inside a hiredis callback is unsafe.
    public func reconnect() {
        loop.schedule(after: 0) { [unowned self] in
            guard let context else { return }
            // Runs the disconnect path when it was connected; not otherwise.
            redisAsyncFree(context)
            if self.context != nil { lost("closed by us") }
        }
    }

    // MARK: Subscriptions (subscriber role)

    public func subscribe(_ channel: String) {
        guard subscriptions.insert(channel).inserted, isReady else { return }
        issueSubscription("SUBSCRIBE", channel)
    }

    public func unsubscribe(_ channel: String) {
        guard subscriptions.remove(channel) != nil, isReady else { return }
        issueSubscription("UNSUBSCRIBE", channel)
    }

    private func issueSubscription(_ verb: String, _ channel: String) {
        guard let context else { return }
        _ = withArgv([verb, channel]) { argc, argv, lens in
            redisAsyncCommandArgv(context, subscriptionCallback, nil, argc, argv, lens)
        }
    }

    fileprivate func received(subscriptionReply reply: UnsafeMutableRawPointer?) {
        guard let reply else { return }
        let value = RedisValue(UnsafePointer(reply.assumingMemoryBound(to: redisReply.self)))
        lastReplyAt = loop.now
        guard case .array(let parts) = value, parts.count == 3, let kind = parts[0].stringValue,
              let channel = parts[1].stringValue else { return }
        switch kind {
        case "message":
            if let payload = parts[2].stringValue { onMessage?(channel, payload) }
        case "subscribe":
            // A confirmation for a channel dropped meanwhile is stale.
            if subscriptions.contains(channel) { onSubscribed?(channel) }
        default:
            break
        }
    }

    // MARK: Connection life cycle

    private func connect() {
        reconnectTimer = nil
        connectStartedAt = loop.now
        guard let ac = redisAsyncConnect(configuration.host, Int32(configuration.port)) else {
            scheduleReconnect("out of memory")
            return
        }
        if ac.pointee.err != 0 {
            let message = String(cString: ac.pointee.errstr)
            redisAsyncFree(ac)
            scheduleReconnect(message)
            return
        }
        ac.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        guard RedisLoopAdapter.attach(ac, to: loop.rawLoop) else {
            redisAsyncFree(ac)
            scheduleReconnect("cannot attach to the event loop")
            return
        }
        redisAsyncSetConnectCallback(ac, connectCallback)
        redisAsyncSetDisconnectCallback(ac, disconnectCallback)
        context = ac
        outstanding = 0
        // hiredis buffers these until the TCP connect completes.
        var handshake = configuration.handshake
        handshake.append(["CLIENT", "SETNAME", name])
        for (i, command) in handshake.enumerated() {
            let last = i == handshake.count - 1
            enqueue(command) { [unowned self] result in
                switch result {
                case .success(.error(let message)):
                    failHandshake("\(command[0]) refused: \(message)")
                case .failure(let error):
                    failHandshake(error.message)
                case .success:
                    if last { becomeReady() }
                }
            }
        }
    }

    private func failHandshake(_ reason: String) {
        guard context != nil, !isReady else { return }
        log("handshake failed: \(reason)")
        reconnect()
    }

    private func becomeReady() {
        attempts = 0
        isReady = true
        lastReplyAt = loop.now
        for channel in subscriptions { issueSubscription("SUBSCRIBE", channel) }
        onReady?()
    }

    fileprivate func connected(status: Int32) {
        guard status != REDIS_OK else { return }
        // hiredis frees the context right after this callback.
        context = nil
        failInFlight("connect failed")
        scheduleReconnect("connect failed")
    }

    fileprivate func disconnected(status: Int32) {
        guard context != nil else { return }
        lost(status == REDIS_OK ? "closed" : "connection lost")
    }

    private func lost(_ reason: String) {
        context = nil
        let wasReady = isReady
        isReady = false
        failInFlight(reason)
        if wasReady { onDown?(reason) }
        scheduleReconnect(reason)
    }

    private func scheduleReconnect(_ reason: String) {
        guard reconnectTimer == nil else { return }
        attempts += 1
        let delay = min(2.0, 0.05 * Double(1 << min(attempts, 6))) * Double.random(in: 0.5...1.0)
        if attempts == 1 || attempts % 20 == 0 { log("\(reason); reconnecting (attempt \(attempts))") }
        reconnectTimer = loop.schedule(after: delay) { [unowned self] in connect() }
    }

    // MARK: Commands

    private func enqueue(_ args: [String], _ completion: @escaping (Result<RedisValue, RedisError>) -> Void) {
        let pending = PendingCommand(sentAt: loop.now, deadline: loop.now + commandTimeout, completion: completion)
        let privdata = Unmanaged.passRetained(pending).toOpaque()
        let status = withArgv(args) { argc, argv, lens in
            redisAsyncCommandArgv(context, commandCallback, privdata, argc, argv, lens)
        }
        guard status == REDIS_OK else {
            Unmanaged<PendingCommand>.fromOpaque(privdata).release()
            completion(.failure(RedisError(.unavailable, "redis connection is closing")))
            return
        }
        if inFlight.isEmpty { lastReplyAt = loop.now }
        outstanding += 1
        inFlight.append(pending)
    }

    fileprivate func completed(_ pending: PendingCommand, reply: UnsafeMutableRawPointer?) {
        if inFlight.first === pending { inFlight.removeFirst() }
        outstanding -= 1
        guard let reply else {
            pending.finish(.failure(RedisError(.unavailable, "redis connection lost")))
            return
        }
        lastReplyAt = loop.now
        pending.finish(.success(RedisValue(UnsafePointer(reply.assumingMemoryBound(to: redisReply.self)))))
    }

    private func failInFlight(_ reason: String) {
        let failed = inFlight
        inFlight.removeAll()
        for pending in failed { pending.finish(.failure(RedisError(.unavailable, "redis \(reason)"))) }
    }

    private func tick() {
        let now = loop.now
        while let first = inFlight.first, first.deadline <= now {
            inFlight.removeFirst()
            first.finish(.failure(RedisError(.timeout, "redis did not answer within \(commandTimeout) s")))
        }
        guard context != nil else { return }
        // A peer that stopped answering altogether: start over on a fresh connection.
        let stalled = outstanding > 0 && now - lastReplyAt > 3 * commandTimeout
        let connectHung = !isReady && now - connectStartedAt > 3 * commandTimeout
        if stalled || connectHung { reconnect() }
    }

    private func log(_ message: String) {
        Log.warning("redis[\(name)] \(message)")
    }
}

final class PendingCommand {
    let sentAt: Double
    let deadline: Double
    private var completion: ((Result<RedisValue, RedisError>) -> Void)?

    init(sentAt: Double, deadline: Double, completion: @escaping (Result<RedisValue, RedisError>) -> Void) {
        self.sentAt = sentAt
        self.deadline = deadline
        self.completion = completion
    }

    func finish(_ result: Result<RedisValue, RedisError>) {
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }
}

private func connection(of ac: UnsafePointer<redisAsyncContext>?) -> RedisConnection? {
    guard let data = ac?.pointee.data else { return nil }
    return Unmanaged<RedisConnection>.fromOpaque(data).takeUnretainedValue()
}

private let commandCallback: @convention(c) (UnsafeMutablePointer<redisAsyncContext>?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { ac, reply, privdata in
    let pending = Unmanaged<PendingCommand>.fromOpaque(privdata!).takeRetainedValue()
    guard let connection = connection(of: ac) else {
        pending.finish(.failure(RedisError(.unavailable, "redis connection lost")))
        return
    }
    connection.completed(pending, reply: reply)
}

private let subscriptionCallback: @convention(c) (UnsafeMutablePointer<redisAsyncContext>?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { ac, reply, _ in
    connection(of: ac)?.received(subscriptionReply: reply)
}

private let connectCallback: @convention(c) (UnsafePointer<redisAsyncContext>?, Int32) -> Void = { ac, status in
    connection(of: ac)?.connected(status: status)
}

private let disconnectCallback: @convention(c) (UnsafePointer<redisAsyncContext>?, Int32) -> Void = { ac, status in
    connection(of: ac)?.disconnected(status: status)
}
