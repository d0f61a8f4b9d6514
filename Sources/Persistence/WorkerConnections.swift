import Postgres
import Redis

/// The Redis and Postgres connections of one worker thread: opened on first use, and
/// dropped by `reset()` after a failure so that the next use reconnects.
public final class WorkerConnections {
    private let configuration: WorkerConfiguration
    private var redisConnection: BlockingRedisConnection?
    private var postgresConnection: PostgresConnection?

    public init(configuration: WorkerConfiguration) {
        self.configuration = configuration
    }

    public func redis() throws -> BlockingRedisConnection {
        if let redisConnection { return redisConnection }
        let fresh = try BlockingRedisConnection(configuration.redis)
        redisConnection = fresh
        return fresh
    }

    public func postgres() throws -> PostgresConnection {
        if let postgresConnection, postgresConnection.isOpen { return postgresConnection }
        let fresh = try PostgresConnection(url: configuration.databaseURL)
        postgresConnection = fresh
        return fresh
    }

    public func reset() {
        redisConnection = nil
        postgresConnection = nil
    }
}
