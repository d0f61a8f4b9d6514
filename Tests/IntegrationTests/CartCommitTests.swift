import CartDomain
import Foundation
import JSON
import Persistence
import Redis
import Testing
import WebSocketClient

/// Changes a hub computes itself (CartChange) and lua/commit.lua commits must be the
/// changes the rest of lua/cart.lua makes: the same cart, outcome, event and job, byte for byte.
@Suite("Changes computed by the hub")
struct CartCommitTests {
    /// One side of the comparison: its own Redis database, the same user and keys.
    private struct Side {
        let redis: BlockingRedisConnection

        init(database: Int) throws {
            redis = try TestEnvironment.redis()
            _ = try redis.command(["SELECT", String(database)])
            _ = try redis.command(["FLUSHDB"])
            // Generation 1, loaded (see lua/cart.lua): carts start in epoch 1.
            for shard in 0..<64 { _ = try redis.command(["HSET", CartKeys.generationMarker(shard: shard), "g", "1", "loaded", "1"]) }
        }

        func eval(_ source: String, _ keys: [String], _ args: [String]) throws -> RedisValue {
            try redis.command(["EVAL", source, String(keys.count)] + keys + args)
        }

        /// Everything a change writes for this user, as comparable text.
        func written(_ keys: CartKeys, books: [Book]) throws -> [String] {
            var out: [String] = []
            for key in [keys.meta, keys.lines, keys.meta + ":requests"] {
                let fields = try redis.command(["HGETALL", key]).arrayValue ?? []
                let pairs = stride(from: 0, to: fields.count - 1, by: 2).map { "\(fields[$0].stringValue ?? "")=\(fields[$0 + 1].stringValue ?? "")" }
                out.append(key + " " + pairs.sorted().joined(separator: " | "))
            }
            for book in books {
                let member = try redis.command(["SISMEMBER", CartKeys.bookIndex(shard: keys.shard, bookId: book.id), keys.userId]).intValue
                out.append("index \(book.id) \(member ?? -1)")
            }
            let last = try redis.command(["XREVRANGE", keys.outbox, "+", "-", "COUNT", "1"]).arrayValue?.first?.arrayValue
            out.append("job " + (last?.last?.arrayValue ?? []).map { $0.stringValue ?? "" }.joined(separator: " "))
            return out
        }
    }

    /// A small deterministic generator, so that a failure replays.
    private struct Generator {
        var state: UInt64
        mutating func below(_ n: Int) -> Int {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Int(state % UInt64(n))
        }
    }

    @Test("400 random adds, quantity changes, removals and clears: what the hub computes and the script commits equals what the script makes alone, and the hub computes nothing exactly where the script refuses")
    func sameAsTheScript() throws {
        let source = try LuaSource.read("cart.lua", directory: TestEnvironment.luaDirectory)
        let script = try Side(database: 8)
        let hub = try Side(database: 9)
        let user = TestEnvironment.uniquePrefix("u")
        let keys = CartKeys(userId: user, shards: 64)
        // Titles cjson escapes (slash, quote, backslash, DEL, a tab), non-ASCII ones, ids that
        // sort around each other; small stocks, so that lines get their `available` mark.
        let titles = [#"A/B "quoted" \ back"#, "Ünïcödé ✓ 😀", "tab\there", "del\u{7F}", "plain", "x", "Le Petit Prince", "},\"quantity\":9"]
        let books = titles.enumerated().map { i, title in
            Book(id: ["b-2", "b-10", "b1", "a", "b_1", "B", "b.1", "z9"][i], title: title, author: "", priceCents: Int64(99 + i * 1250),
                 stock: Int64([3, 50, 1, 8, 0, 20, 5, 9][i]), revision: Int64(i))
        }
        let limits = CartLimits(maxQuantity: 9, maxLines: 5)
        var random = Generator(state: 0x9E37_79B9_7F4A_7C15)
        var committed = 0, recomputed = 0

        for step in 0..<400 {
            let book = books[random.below(books.count)]
            let quantity = Int64(1 + random.below(4))
            let command: CartCommand = switch random.below(20) {
            case 0..<9: .add(bookId: book.id, quantity: quantity)
            case 9..<14: .setQuantity(bookId: book.id, quantity: quantity)
            case 14..<19: .remove(bookId: book.id)
            default: .clear
            }
            let requestId = "r\(step)"
            let nowMs = 1_800_000_000_000 + Int64(step) * 1_001
            let call = CartScriptCall(command: command, userId: user, requestId: requestId, connectionId: step % 3 == 0 ? nil : "c-\(step % 3)",
                                      via: "ws", nowMs: nowMs, limits: limits, rememberedRequests: 32,
                                      book: command.bookId == nil ? nil : book, shards: 64)
            let expected = try script.eval(source, call.keys, call.args)
            let expectedParts = try #require(expected.arrayValue, "step \(step): \(expected)")

            let values = try hub.redis.command(["HMGET", keys.meta] + CartRead.fields).arrayValue?.map(\.stringValue) ?? []
            let change = CartRead.state(values: values).flatMap {
                CartChange(command: command, from: $0, userId: user, requestId: requestId, connectionId: step % 3 == 0 ? nil : "c-\(step % 3)",
                           via: "ws", nowMs: nowMs, limits: limits, book: command.bookId == nil ? nil : book)
            }
            let answer = try hub.eval(source, call.keys, call.args + (change?.args ?? []))
            if let change {
                committed += 1
                #expect(expectedParts.first?.stringValue == "ok", "step \(step) \(command): the hub computed a change the script refuses: \(expected)")
                #expect(answer.arrayValue?.first?.stringValue == "committed", "step \(step): \(answer)")
                // The script answers with the event it published; the hub published the one it built.
                #expect(change.args[9] == expectedParts[1].stringValue, "step \(step) \(command): events differ")
                #expect(change.cart == CartScriptCall.cart(fromReply: expectedParts[1].stringValue ?? ""))
            } else {
                recomputed += 1
                if values.first ?? nil != nil, command != .clear {
                    #expect(expectedParts.first?.stringValue == "err", "step \(step) \(command): the hub computed nothing for a change the script makes: \(expected)")
                }
                #expect(answer == expected, "step \(step)")
            }
            let mine = try hub.written(keys, books: books), theirs = try script.written(keys, books: books)
            #expect(mine == theirs, "step \(step) \(command)")
            if mine != theirs { break }
        }
        #expect(committed > 120 && recomputed > 100, "committed \(committed), left to the script \(recomputed)")
        _ = try script.redis.command(["FLUSHDB"])
        _ = try hub.redis.command(["FLUSHDB"])
    }

    /// The hub's `carthub_cart_commits_total` for `result`.
    private static func commits(_ hub: HubProcess, _ result: String) throws -> Int {
        let metrics = try HTTPClient.request("GET", hub.httpBase + "/metrics").bodyText
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("carthub_cart_commits_total{result=\"\(result)\"}") }
        return try #require(line.flatMap { Int($0.split(separator: " ").last ?? "") }, "no \(result) count in /metrics")
    }

    @Test("a socket's changes are computed by its hub and committed; a cart changed where the hub could not see it is decided by the script, one version up")
    func hubCommits() throws {
        let catalog = try TestCatalog("commit", stocks: [1000, 1000])
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let socket = try CartSocket(hub, user: user)
        for version in 1...6 {
            let reply = try socket.call("cart.add", ["bookId": .string(catalog[version % 2].id), "quantity": 1])
            #expect(reply.cartVersion == Int64(version), "\(reply.encoded)")
        }
        // The first add made the cart (the script's); the hub computed the others from the events it saw.
        #expect(try Self.commits(hub, "committed") >= 4)
        let recomputedBefore = try Self.commits(hub, "recomputed")

        // Another writer changes the cart and its event goes elsewhere, so the room's cart is old.
        var call = CartScriptCall(command: .setQuantity(bookId: catalog[0].id, quantity: 7), userId: user, requestId: "elsewhere", connectionId: nil,
                                  via: "ws", nowMs: 1_000, limits: CartLimits(), rememberedRequests: 32, book: catalog[0], shards: 64)
        call.args[7] = "room:nobody"
        let source = try LuaSource.read("cart.lua", directory: TestEnvironment.luaDirectory)
        let other = try TestEnvironment.redis().command(["EVAL", source] + call.evalArguments)
        #expect(other.arrayValue?.first?.stringValue == "ok", "\(other)")

        let reply = try socket.call("cart.setQuantity", ["bookId": .string(catalog[1].id), "quantity": 5])
        let cart = reply["data"]?["cart"]
        #expect(cart?["version"] == 8, "\(reply.encoded)")
        let quantities = (cart?["items"]?.arrayValue ?? []).map { $0["quantity"]?.intValue ?? 0 }
        #expect(quantities == [7, 5], "\(reply.encoded)")
        #expect(try Self.commits(hub, "recomputed") == recomputedBefore + 1)
        // The room learned the cart from that answer: the next change is the hub's again.
        let committed = try Self.commits(hub, "committed")
        #expect(try socket.call("cart.remove", ["bookId": .string(catalog[0].id)]).cartVersion == 9)
        #expect(try Self.commits(hub, "committed") == committed + 1)
    }
}
