import Redis

/// `lua/consumers.lua`: a stream's reader deletes the group's consumers that hold nothing
/// and were idle long enough, which stopped workers would otherwise leave behind forever.
public struct ConsumerScript: Sendable {
    let source: String

    public init(directory: String) throws {
        source = try LuaSource.read("consumers.lua", directory: directory)
    }

    /// Deletes every consumer of `group` on `stream` but `consumer` that has no pending
    /// entry and has been idle for `idleMs`; returns how many.
    @discardableResult
    public func deleteIdle(_ redis: BlockingRedisConnection, stream: String, group: String, keeping consumer: String, idleMs: Int = 0) throws -> Int64 {
        let reply = try redis.command(["EVAL", source, "1", stream, group, consumer, String(idleMs)])
        if case .error(let message) = reply { throw PersistenceError("cannot tidy the consumers of \(stream): \(message)") }
        return reply.intValue ?? 0
    }
}
