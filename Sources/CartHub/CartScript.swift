import CartDomain
import Foundation
import Persistence
import Redis

/// A Redis script run by SHA: `lua/cart.lua` (after `lua/cartlib.lua`) by default, or
/// another one such as `lua/stock.lua`. The SHA is learned with SCRIPT LOAD on every
/// (re)connect; a NOSCRIPT reply (e.g. after SCRIPT FLUSH) falls back to EVAL with
/// the source, which also caches it again.
final class CartScript {
    let source: String
    private var sha: String?

    init(directory: String, name: String = "cart.lua", withCartLibrary: Bool = true) throws {
        source = try LuaSource.read(name, directory: directory, withCartLibrary: withCartLibrary)
    }

    func load(on redis: RedisConnection) {
        redis.send(["SCRIPT", "LOAD", source]) { [weak self] result in
            if case .success(.string(let sha)) = result { self?.sha = sha }
        }
    }

    func run(on redis: RedisConnection, keys: [String], args: [String], _ completion: @escaping (Result<RedisValue, RedisError>) -> Void) {
        guard let sha else {
            redis.send(["EVAL", source, String(keys.count)] + keys + args, completion)
            return
        }
        redis.send(["EVALSHA", sha, String(keys.count)] + keys + args) { [weak self] result in
            guard let self, case .success(.error(let message)) = result, message.hasPrefix("NOSCRIPT") else {
                completion(result)
                return
            }
            self.sha = nil
            self.load(on: redis)
            redis.send(["EVAL", source, String(keys.count)] + keys + args, completion)
        }
    }
}

struct HubError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
