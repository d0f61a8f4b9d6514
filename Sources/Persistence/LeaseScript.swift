import Foundation
import Redis

/// `lua/lease.lua`: renew or release a lease only while holding it.
public struct LeaseScript: Sendable {
    let source: String

    public init(directory: String) throws {
        let path = directory + "/lease.lua"
        guard let source = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw PersistenceError("cannot read the lease script at \(path)")
        }
        self.source = source
    }

    /// `SET NX PX`: true when the lease is now ours.
    public func acquire(_ redis: BlockingRedisConnection, key: String, holder: String, ttlMs: Int) throws -> Bool {
        try redis.command(["SET", key, holder, "NX", "PX", String(ttlMs)]) == .status("OK")
    }

    public func renewCommand(key: String, holder: String, ttlMs: Int) -> [String] {
        ["EVAL", source, "1", key, "renew", holder, String(ttlMs)]
    }

    public func releaseCommand(key: String, holder: String) -> [String] {
        ["EVAL", source, "1", key, "release", holder, "0"]
    }

    @discardableResult
    public func release(_ redis: BlockingRedisConnection, key: String, holder: String) throws -> Bool {
        try redis.command(releaseCommand(key: key, holder: holder)) == .integer(1)
    }
}

public struct PersistenceError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
