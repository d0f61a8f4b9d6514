internal import CHiredis

/// A synchronous connection for command-line tools and tests (never on the event loop).
public final class BlockingRedisConnection {
    private let context: UnsafeMutablePointer<redisContext>

    public init(_ configuration: RedisConfiguration, timeoutSeconds: Int = 5) throws(RedisError) {
        let tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        guard let context = redisConnectWithTimeout(configuration.host, Int32(configuration.port), tv) else {
            throw RedisError(.unavailable, "cannot allocate a redis context")
        }
        if context.pointee.err != 0 {
            let message = String(cString: withUnsafePointer(to: context.pointee.errstr) { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) })
            redisFree(context)
            throw RedisError(.unavailable, "cannot connect to redis at \(configuration.host):\(configuration.port): \(message)")
        }
        redisSetTimeout(context, tv)
        self.context = context
        for command in configuration.handshake {
            if case .error(let message) = try self.command(command) {
                throw RedisError(.server, "\(command[0]) refused: \(message)")
            }
        }
    }

    deinit { redisFree(context) }

    /// Sends one command and waits for its reply; server errors come back as `.error`.
    @discardableResult
    public func command(_ args: [String]) throws(RedisError) -> RedisValue {
        let raw = withArgv(args) { argc, argv, lens in redisCommandArgv(context, argc, argv, lens) }
        guard let raw else {
            throw RedisError(.unavailable, "redis connection failed (error \(context.pointee.err))")
        }
        defer { freeReplyObject(raw) }
        return RedisValue(UnsafePointer(raw.assumingMemoryBound(to: redisReply.self)))
    }

    /// Sends every command before reading any reply: one round trip for the lot.
    public func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisValue] {
        for args in commands {
            let status = withArgv(args) { argc, argv, lens in redisAppendCommandArgv(context, argc, argv, lens) }
            guard status == REDIS_OK else { throw RedisError(.unavailable, "cannot queue a redis command") }
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw RedisError(.unavailable, "redis connection failed (error \(context.pointee.err))")
            }
            replies.append(RedisValue(UnsafePointer(raw.assumingMemoryBound(to: redisReply.self))))
            freeReplyObject(raw)
        }
        return replies
    }
}
