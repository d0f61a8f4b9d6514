import CartDomain

/// `--script-changes N`: the cart script alone, as hubs call it for a change they computed
/// (lua/commit.lua's path): N quantity changes of one line of a cart that scripts/bench.sh
/// built, each computed from the cart the one before left (CartChange), pipelined 20 at a
/// time. The caller reads Redis's INFO commandstats around it; this only drives and checks.
enum ScriptChanges {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// `tag` replaces the keys' shard tag, so that no persistence worker reads the outbox.
    static func run(redis: RedisProbe, sha: String, userId: String, tag: String, book: Book, changes: Int) throws {
        let shardKeys = CartKeys(userId: userId, shards: 64)
        let keys = shardKeys.scriptKeys.map { $0.replacing("{s:\(shardKeys.shard)}", with: tag) }
        guard case .array(let values) = try redis.command(["HMGET", keys[0]] + CartRead.fields),
              var cart = CartRead.state(values: values.map(\.text)) else {
            throw Failure(description: "no cart at \(keys[0]) to change (scripts/bench.sh builds it)")
        }
        let nowMs = wallClockSeconds() * 1000
        var sent = 0
        while sent < changes {
            var batch: [[String]] = []
            for i in sent..<min(sent + 20, changes) {
                let command = CartCommand.setQuantity(bookId: book.id, quantity: 3 + Int64(i % 2))
                var call = CartScriptCall(command: command, userId: userId, requestId: "change-\(nowMs)-\(i)", connectionId: "bench1-1", via: "ws",
                                          nowMs: nowMs, limits: CartLimits(), rememberedRequests: 32, book: book, shards: 64)
                guard let change = CartChange(command: command, from: cart, userId: userId, requestId: "change-\(nowMs)-\(i)",
                                              connectionId: "bench1-1", via: "ws", nowMs: nowMs, limits: CartLimits(), book: book) else {
                    throw Failure(description: "the cart at \(keys[0]) does not hold \(book.id)")
                }
                call.args += change.args
                cart = change.state
                batch.append(["EVALSHA", sha, String(keys.count)] + keys + call.args)
            }
            for reply in try redis.pipeline(batch) {
                guard case .array(let parts) = reply, parts.first?.text == "committed" else {
                    throw Failure(description: "the script did not commit the change: \(reply)")
                }
            }
            sent += batch.count
        }
    }
}
