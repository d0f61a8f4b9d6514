import CartDomain
import JSON
import Persistence
import Redis
import Testing

@Suite("Rooms across instances")
struct FanOutTests {
    @Test("every device of a user sees each change once, in version order, on both instances; others see nothing")
    func versionsInOrderAcrossInstances() throws {
        let catalog = try TestCatalog(stocks: [1000, 1000, 1000])
        let a = try HubProcess()
        let b = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let other = TestEnvironment.uniquePrefix("v")
        let devices = [try CartSocket(a, user: user), try CartSocket(a, user: user), try CartSocket(b, user: user)]
        let bystanders = [try CartSocket(a, user: other), try CartSocket(b, user: other)]
        #expect(devices.allSatisfy { $0.cart["version"] == 0 && $0.hello["userId"]?.stringValue == user })

        // A scripted run where every command succeeds: 5 steps, repeated, from rotating devices.
        let steps: [(String, [String: JSONValue])] = [
            ("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1]),
            ("cart.add", ["bookId": .string(catalog[1].id), "quantity": 2]),
            ("cart.setQuantity", ["bookId": .string(catalog[0].id), "quantity": 3]),
            ("cart.remove", ["bookId": .string(catalog[1].id)]),
            ("cart.clear", [:]),
        ]
        let scripted = 60
        for i in 0..<scripted {
            let (type, fields) = steps[i % steps.count]
            let reply = try devices[i % devices.count].call(type, fields)
            #expect(reply.isOK, "\(type) failed: \(reply.encoded)")
            #expect(reply.cartVersion == Int64(i + 1))
        }
        // Then all three devices fire at once without waiting.
        var pending: [(CartSocket, String)] = []
        for _ in 0..<20 {
            for device in devices {
                pending.append((device, try device.send("cart.add", ["bookId": .string(catalog[2].id), "quantity": 1])))
            }
        }
        for (device, id) in pending { #expect(try device.reply(id).isOK) }
        let total = scripted + pending.count

        for (n, device) in devices.enumerated() {
            var versions: [Int64] = []
            for _ in 0..<total { versions.append(try device.event().cartVersion ?? -1) }
            #expect(versions == Array(1...Int64(total)), "device \(n) saw \(versions)")
            let extra = try device.drain(for: 0.5).filter { $0["type"]?.stringValue == "cart.updated" }
            #expect(extra.isEmpty, "device \(n) got extra events")
        }
        for device in bystanders {
            #expect(try device.drain(for: 0.3).allSatisfy { $0["type"]?.stringValue != "cart.updated" })
        }
        let final = try devices[2].call("cart.get")
        #expect(final.cartVersion == Int64(total))
        #expect(final["data"]?["cart"]?["items"]?.arrayValue?.first?["quantity"] == 60)
    }

    @Test("the event names the command that caused it")
    func eventOrigin() throws {
        let catalog = try TestCatalog(stocks: [5])
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let phone = try CartSocket(hub, user: user)
        let laptop = try CartSocket(hub, user: user)
        let id = try phone.send("cart.add", ["bookId": .string(catalog[0].id), "quantity": 2])
        let event = try laptop.event()
        #expect(event["origin"]?["requestId"]?.stringValue == id)
        #expect(event["origin"]?["connectionId"] == phone.hello["connectionId"])
        #expect(event["origin"]?["via"] == "ws")
        let line = try #require(event["cart"]?["items"]?.arrayValue?.first)
        #expect(line["bookId"]?.stringValue == catalog[0].id)
        #expect(line["title"]?.stringValue == catalog[0].title)
        #expect(line["unitPriceCents"]?.intValue == catalog[0].priceCents)
        #expect(line["lineTotalCents"]?.intValue == 2 * catalog[0].priceCents)
        #expect(event["cart"]?["totalCents"]?.intValue == 2 * catalog[0].priceCents)
        #expect(event["cart"]?["itemCount"] == 2)
    }
}

@Suite("Concurrent commands")
struct ConcurrencyTests {
    @Test("50 parallel adds from five sockets on two instances: exact quantity and version")
    func parallelAdds() throws {
        let catalog = try TestCatalog(stocks: [1000])
        let a = try HubProcess()
        let b = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let sockets = try (0..<5).map { try CartSocket($0 % 2 == 0 ? a : b, user: user) }
        var pending: [(CartSocket, String)] = []
        for _ in 0..<10 {
            for s in sockets { pending.append((s, try s.send("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1]))) }
        }
        for (s, id) in pending { #expect(try s.reply(id).isOK) }
        let cart = try sockets[0].call("cart.get")["data"]?["cart"]
        #expect(cart?["version"] == 50)
        #expect(cart?["items"]?.arrayValue?.first?["quantity"] == 50)
    }

    @Test("parallel adds never exceed stock")
    func stockBound() throws {
        let catalog = try TestCatalog(stocks: [7])
        let a = try HubProcess()
        let b = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let sockets = try (0..<4).map { try CartSocket($0 % 2 == 0 ? a : b, user: user) }
        var pending: [(CartSocket, String)] = []
        for _ in 0..<5 {
            for s in sockets { pending.append((s, try s.send("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1]))) }
        }
        var ok = 0
        for (s, id) in pending {
            let reply = try s.reply(id)
            if reply.isOK { ok += 1 } else { #expect(reply.errorCode == "INSUFFICIENT_STOCK", "\(reply.encoded)") }
        }
        #expect(ok == 7)
        let cart = try sockets[0].call("cart.get")["data"]?["cart"]
        #expect(cart?["items"]?.arrayValue?.first?["quantity"] == 7)
        #expect(cart?["version"] == 7)
    }
}

@Suite("Reading a cart")
struct CartReadTests {
    /// The cart as the script itself answers `get`.
    private static func scriptGet(_ user: String) throws -> JSONValue {
        let source = try LuaSource.read("cart.lua", directory: TestEnvironment.luaDirectory, withCartLibrary: true)
        let call = CartScriptCall(command: .get, userId: user, requestId: "", connectionId: nil, via: "ws",
                                  nowMs: 1_000, limits: CartLimits(), rememberedRequests: 32, book: nil, shards: 64)
        let reply = try TestEnvironment.redis().command(["EVAL", source] + call.evalArguments)
        let parts = try #require(reply.arrayValue, "\(reply)")
        #expect(parts.first?.stringValue == "ok", "the script's get answered \(reply)")
        return try JSONValue.parse(try #require(parts[1].stringValue))
    }

    @Test("cart.get, served from the meta hash without the script, answers what the script answers; a cart of a former layout and no cart at all fall back to it")
    func getMatchesTheScript() throws {
        let catalog = try TestCatalog("read", stocks: [1000, 1000, 1000])
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let socket = try CartSocket(hub, user: user)
        #expect(try socket.call("cart.get")["data"]?["cart"] == (try Self.scriptGet(user)), "no cart yet")

        for (i, book) in catalog.books.enumerated() {
            #expect(try socket.call("cart.add", ["bookId": .string(book.id), "quantity": .int(Int64(i + 1))]).isOK)
        }
        #expect(try socket.call("cart.remove", ["bookId": .string(catalog[1].id)]).isOK)
        let served = try socket.call("cart.get")["data"]?["cart"]
        #expect(served == (try Self.scriptGet(user)))
        #expect(served?["version"]?.intValue == 4 && served?["items"]?.arrayValue?.count == 2, "\(served?.encoded ?? "")")

        // Items written at another version than the cart's (a former layout): the script answers.
        let meta = CartKeys(userId: user, shards: 64).meta
        try TestEnvironment.redis().command(["HSET", meta, "iv", "0"])
        #expect(try socket.call("cart.get")["data"]?["cart"] == served)
    }

    @Test("cart.get of a cart in Redis does not run the cart script (INFO commandstats of a private Redis)")
    func getSkipsTheScript() throws {
        let catalog = try TestCatalog("readfast", stocks: [1000])
        let redis = try PrivateRedis()
        defer { redis.kill() }
        let hub = try HubProcess(environment: redis.hubEnvironment)
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        #expect(try socket.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 2]).isOK)
        let connection = try BlockingRedisConnection(redis.configuration)
        try connection.command(["CONFIG", "RESETSTAT"])
        for _ in 0..<10 { #expect(try socket.call("cart.get").cartVersion == 1) }
        let stats = try #require(connection.command(["INFO", "commandstats"]).stringValue)
        func calls(_ command: String) -> Int {
            guard let line = stats.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_\(command):") }),
                  let field = line.split(separator: ",").first, let value = field.split(separator: "=").last else { return 0 }
            return Int(value) ?? 0
        }
        // The hub's own background commands may run a script now and then, never one per read.
        #expect(calls("evalsha") + calls("eval") < 10, "\(stats)")
        #expect(calls("hmget") >= 10, "\(stats)")
    }
}
