import CartDomain
import Foundation
import JSON
import Persistence
import Postgres
import Redis
import Storage
import Testing

/// Live catalog changes (issue #4, item 5): a change committed in Postgres reaches every
/// cart that holds the book in Redis, in Postgres (through the outbox) and on the users'
/// sockets, walked by `carthub worker` from the shards' book indexes. Each test has its
/// own Redis and Postgres (the walker's lease and cursor are per deployment); they run
/// one at a time to keep the machine's two cores for the processes under test.
@Suite("Live catalog changes", .serialized)
struct CatalogChangeTests {
    /// Hubs, a worker and the private services of one test.
    struct World {
        let stack: PersistenceTests.Stack
        let catalog: TestCatalog
        let hubs: [HubProcess]
        let worker: WorkerProcess

        init(stocks: [Int64], hubs count: Int = 1) throws {
            stack = try PersistenceTests.Stack()
            catalog = try TestCatalog("cat", stocks: stocks, database: stack.postgres.connect())
            let environment = stack.environment
            hubs = try (0..<count).map { _ in try HubProcess(environment: environment) }
            worker = try WorkerProcess(environment: environment)
        }

        /// Changes a book the way the admin API does: commit, then tell the hubs.
        @discardableResult
        func update(_ id: String, _ patch: BookPatch, notify: Bool = true) throws -> Book {
            let book = try #require(try CatalogStore.update(stack.postgres.connect(), id: id, patch: patch))
            if notify { try stack.redisConnection().command(CartKeys.catalogChanged(id)) }
            return book
        }

        func delete(_ id: String) throws {
            #expect(try CatalogStore.delete(stack.postgres.connect(), id: id))
            try stack.redisConnection().command(CartKeys.catalogChanged(id))
        }

        /// A new user with a socket on the first hub and `quantity` of `book` in the cart (version 1).
        func holder(_ label: String, _ book: Book, _ quantity: Int64) throws -> (user: String, socket: CartSocket) {
            let user = TestEnvironment.uniquePrefix(label)
            let socket = try CartSocket(hubs[0], user: user)
            #expect(try CatalogChangeTests.add(socket, book, quantity).isOK)
            return (user, socket)
        }

        /// The line of `bookId` in the user's cart as Redis holds it, decoded.
        func redisLine(_ user: String, _ bookId: String) throws -> JSONValue? {
            let keys = CartKeys(userId: user, shards: 64)
            return try stack.redisConnection().command(["HGET", keys.lines, bookId]).stringValue.map { try JSONValue.parse($0) }
        }

        /// The line as Postgres holds it.
        func postgresLine(_ user: String, _ bookId: String) throws -> CartLineState? {
            try CartStore.load(stack.postgres.connect(), userId: user)?.lines[bookId]
        }
    }

    static func add(_ socket: CartSocket, _ book: Book, _ quantity: Int64) throws -> JSONValue {
        try socket.call("cart.add", ["bookId": .string(book.id), "quantity": .int(quantity)])
    }

    /// The next `cart.updated` the catalog walk caused.
    static func catalogEvent(_ socket: CartSocket, timeout: Double = 15) throws -> JSONValue {
        try socket.next(timeout: timeout) { $0["type"]?.stringValue == "cart.updated" && $0["origin"]?["via"]?.stringValue == "catalog" }
    }

    static func line(_ cart: JSONValue?, _ bookId: String) -> JSONValue? {
        cart?["items"]?.arrayValue?.first { $0["bookId"]?.stringValue == bookId }
    }

    @Test("a price change reaches every holding cart: Redis, Postgres through the queue, sockets on two hubs; others see nothing")
    func priceChange() throws {
        let world = try World(stocks: [100, 100], hubs: 2)
        let (book, other) = (world.catalog[0], world.catalog[1])
        let alice = TestEnvironment.uniquePrefix("alice")
        let bob = TestEnvironment.uniquePrefix("bob")
        let carol = TestEnvironment.uniquePrefix("carol")
        let phone = try CartSocket(world.hubs[0], user: alice)
        let laptop = try CartSocket(world.hubs[1], user: alice)
        let bobSocket = try CartSocket(world.hubs[1], user: bob)
        let carolSocket = try CartSocket(world.hubs[0], user: carol)
        #expect(try Self.add(phone, book, 2).isOK)
        #expect(try Self.add(phone, other, 1).isOK)
        #expect(try Self.add(bobSocket, book, 1).isOK)
        #expect(try Self.add(carolSocket, other, 3).isOK)
        try world.stack.waitForConvergence([alice, bob, carol])

        let price = book.priceCents + 1_000
        let changed = try world.update(book.id, BookPatch(priceCents: price))
        #expect(changed.revision > 0)

        for socket in [phone, laptop] {
            let event = try Self.catalogEvent(socket)
            #expect(event["origin"]?["reason"]?.stringValue == "BOOK_CHANGED")
            #expect(event["origin"]?["bookId"]?.stringValue == book.id)
            #expect(event["origin"]?["requestId"] == .null && event["origin"]?["connectionId"] == .null)
            #expect(event.cartVersion == 3, "one change, one version: \(event.encoded)")
            let line = Self.line(event["cart"], book.id)
            #expect(line?["unitPriceCents"]?.intValue == price)
            #expect(line?["lineTotalCents"]?.intValue == 2 * price)
            #expect(line?["available"] == nil)
            #expect(event["cart"]?["totalCents"]?.intValue == 2 * price + other.priceCents)
            #expect(event["cart"]?["itemCount"]?.intValue == 3)
        }
        let bobEvent = try Self.catalogEvent(bobSocket)
        #expect(bobEvent.cartVersion == 2 && Self.line(bobEvent["cart"], book.id)?["unitPriceCents"]?.intValue == price)
        #expect(try world.redisLine(alice, book.id)?["unitPriceCents"]?.intValue == price)
        #expect(try world.redisLine(bob, book.id)?["lineTotalCents"]?.intValue == price)

        // Postgres follows through the outbox, without full syncs.
        _ = try eventually(within: 10, "the new price in Postgres") {
            try world.postgresLine(alice, book.id)?.unitPriceCents == price && world.postgresLine(bob, book.id)?.unitPriceCents == price ? true : nil
        }
        try world.stack.waitForConvergence([alice, bob, carol])
        #expect(try world.stack.metric("full_syncs") == 0)
        #expect(try world.stack.metric("catalog_carts_changed") == 2)

        // Nobody else heard of it, and each device heard of it once.
        #expect(try carolSocket.drain(for: 0.5).allSatisfy { $0["origin"]?["via"]?.stringValue != "catalog" })
        for socket in [phone, laptop, bobSocket] {
            #expect(try socket.drain(for: 0.3).allSatisfy { $0["origin"]?["via"]?.stringValue != "catalog" })
        }
        // New lines take the new price on either hub.
        let added = try Self.add(carolSocket, book, 1)
        #expect(Self.line(added["data"]?["cart"], book.id)?["unitPriceCents"]?.intValue == price)
        let more = try Self.add(laptop, book, 1)
        #expect(Self.line(more["data"]?["cart"], book.id)?["lineTotalCents"]?.intValue == 3 * price)
        #expect(more.cartVersion == 4)
    }

    @Test("a title change rewrites the line and says BOOK_CHANGED; a second walk of the same revision changes nothing")
    func titleChange() throws {
        let world = try World(stocks: [100])
        let book = world.catalog[0]
        let (user, socket) = try world.holder("title", book, 1)
        let title = "Renamed “\(book.id)” \\ \"quoted\""
        try world.update(book.id, BookPatch(title: title))
        let event = try Self.catalogEvent(socket)
        #expect(event["origin"]?["reason"]?.stringValue == "BOOK_CHANGED")
        #expect(Self.line(event["cart"], book.id)?["title"]?.stringValue == title)
        #expect(Self.line(event["cart"], book.id)?["unitPriceCents"]?.intValue == book.priceCents)
        #expect(event.cartVersion == 2)
        _ = try eventually(within: 10, "the new title in Postgres") { try world.postgresLine(user, book.id)?.title == title ? true : nil }

        // A crash before the cursor moved walks the book again: nothing changes twice.
        world.worker.signal(SIGTERM)
        #expect(world.worker.waitForExit(timeout: 10) != nil, "the worker should stop on SIGTERM")
        try world.stack.postgres.connect().query("update catalog_sync set revision = 0")
        let next = try WorkerProcess(environment: world.stack.environment)
        _ = try eventually(within: 10, "the cursor to pass the book again") {
            try CatalogStore.syncCursor(world.stack.postgres.connect()) > 0 ? true : nil
        }
        _ = next
        #expect(try socket.drain(for: 0.5).allSatisfy { $0["origin"]?["via"]?.stringValue != "catalog" })
        #expect(try socket.call("cart.get").cartVersion == 2)
    }

    @Test("a deleted book leaves every cart with BOOK_DELETED; adding it again is BOOK_NOT_FOUND; removing it is NOT_IN_CART")
    func deletion() throws {
        let world = try World(stocks: [100, 100])
        let (book, other) = (world.catalog[0], world.catalog[1])
        let (user, socket) = try world.holder("del", book, 2)
        #expect(try Self.add(socket, other, 1).isOK)
        try world.delete(book.id)

        let event = try Self.catalogEvent(socket)
        #expect(event["origin"]?["reason"]?.stringValue == "BOOK_DELETED")
        #expect(event["origin"]?["bookId"]?.stringValue == book.id)
        #expect(event.cartVersion == 3)
        #expect(Self.line(event["cart"], book.id) == nil)
        #expect(event["cart"]?["totalCents"]?.intValue == other.priceCents)
        #expect(event["cart"]?["itemCount"]?.intValue == 1)
        #expect(try world.redisLine(user, book.id) == nil)
        let index = CartKeys.bookIndex(shard: CartKeys.shard(of: user, shards: 64), bookId: book.id)
        #expect(try world.stack.redisConnection().command(["SISMEMBER", index, user]) == .integer(0))

        _ = try eventually(within: 10, "the line gone from Postgres") {
            let stored = try CartStore.load(world.stack.postgres.connect(), userId: user)
            return stored?.version.version == 3 && stored?.lines[book.id] == nil ? true : nil
        }
        let again = try Self.add(socket, book, 1)
        #expect(again.errorCode == "BOOK_NOT_FOUND", "\(again.encoded)")
        #expect(try socket.call("cart.remove", ["bookId": .string(book.id)]).errorCode == "NOT_IN_CART")
        #expect(try socket.call("cart.get").cartVersion == 3)
    }

    @Test("stock below a line's quantity marks it available: n; raising it stays refused; restocking clears the mark")
    func stockCut() throws {
        let world = try World(stocks: [10])
        let book = world.catalog[0]
        let (user, socket) = try world.holder("stock", book, 5)

        try world.update(book.id, BookPatch(stock: 3))
        let cut = try Self.catalogEvent(socket)
        #expect(cut["origin"]?["reason"]?.stringValue == "STOCK_CHANGED")
        #expect(cut.cartVersion == 2)
        let marked = Self.line(cut["cart"], book.id)
        #expect(marked?["quantity"]?.intValue == 5 && marked?["available"]?.intValue == 3)
        #expect(marked?["unitPriceCents"]?.intValue == book.priceCents)

        #expect(try socket.call("cart.setQuantity", ["bookId": .string(book.id), "quantity": 6]).errorCode == "INSUFFICIENT_STOCK")
        #expect(try Self.add(socket, book, 1).errorCode == "INSUFFICIENT_STOCK")
        let lowered = try socket.call("cart.setQuantity", ["bookId": .string(book.id), "quantity": 4])
        #expect(lowered.isOK && lowered.cartVersion == 3)
        #expect(Self.line(lowered["data"]?["cart"], book.id)?["available"]?.intValue == 3, "still above stock: \(lowered.encoded)")
        let fits = try socket.call("cart.setQuantity", ["bookId": .string(book.id), "quantity": 3])
        #expect(Self.line(fits["data"]?["cart"], book.id)?["available"] == nil)
        #expect(try socket.call("cart.setQuantity", ["bookId": .string(book.id), "quantity": 5]).errorCode == "INSUFFICIENT_STOCK")
        _ = try socket.call("cart.setQuantity", ["bookId": .string(book.id), "quantity": 3])
        // Back under stock by a cut to 2, then restocked: marked, then cleared.
        try world.update(book.id, BookPatch(stock: 2))
        #expect(Self.line(try Self.catalogEvent(socket)["cart"], book.id)?["available"]?.intValue == 2)
        try world.update(book.id, BookPatch(stock: 10))
        let restocked = try Self.catalogEvent(socket)
        #expect(restocked["origin"]?["reason"]?.stringValue == "STOCK_CHANGED")
        #expect(Self.line(restocked["cart"], book.id)?["available"] == nil)
        #expect(Self.line(restocked["cart"], book.id)?["quantity"]?.intValue == 3)
        #expect(try Self.add(socket, book, 7).isOK)
        try world.stack.waitForConvergence([user])
        #expect(try world.stack.metric("full_syncs") == 0, "every catalog change was one job in order")
    }

    @Test("a hub with a stale catalog cannot write the old price: the script says stale, the hub reloads the book and retries")
    func staleCache() throws {
        let world = try World(stocks: [100, 100])
        let book = world.catalog[0]
        let (holder, holderSocket) = try world.holder("holder", book, 1)

        // The change is committed but the hubs are not told: only the walk can stop the old price.
        let price = book.priceCents * 3
        let changed = try world.update(book.id, BookPatch(priceCents: price), notify: false)
        #expect(Self.line(try Self.catalogEvent(holderSocket)["cart"], book.id)?["unitPriceCents"]?.intValue == price)

        // The script itself refuses a write priced from an older revision, before any write.
        let newcomer = TestEnvironment.uniquePrefix("newcomer")
        let redis = try world.stack.redisConnection()
        let source = try LuaSource.read("cart.lua", directory: TestEnvironment.luaDirectory, withCartLibrary: true)
        var old = book
        old.revision = changed.revision - 1
        let call = CartScriptCall(command: .add(bookId: book.id, quantity: 1), userId: newcomer, requestId: "r-stale", connectionId: nil, via: "ws",
                                  nowMs: 1_000, limits: CartLimits(), rememberedRequests: 32, book: old, shards: 64)
        let reply = try redis.command(["EVAL", source] + call.evalArguments)
        #expect(reply.arrayValue?.first?.stringValue == "stale", "\(reply)")
        #expect(try redis.command(["EXISTS", CartKeys(userId: newcomer, shards: 64).meta]) == .integer(0), "nothing written")

        // Through a hub whose cache still holds the old price: the reply carries the new one.
        let socket = try CartSocket(world.hubs[0], user: newcomer)
        let added = try Self.add(socket, book, 2)
        #expect(added.isOK && added.cartVersion == 1, "\(added.encoded)")
        #expect(Self.line(added["data"]?["cart"], book.id)?["unitPriceCents"]?.intValue == price)
        #expect(Self.line(added["data"]?["cart"], book.id)?["lineTotalCents"]?.intValue == 2 * price)
        // The same request id again is a retry, not a second add.
        #expect(try socket.call("cart.add", ["bookId": .string(book.id), "quantity": 2], requestId: "again-1").isOK)
        #expect(try socket.call("cart.add", ["bookId": .string(book.id), "quantity": 2], requestId: "again-1").cartVersion == 2)
    }

    @Test("carthub catalog import changes stock by the difference through the same walk; unchanged books keep their revision")
    func importPath() throws {
        let world = try World(stocks: [10, 10])
        let (book, other) = (world.catalog[0], world.catalog[1])
        let (user, socket) = try world.holder("import", book, 5)
        let database = try world.stack.postgres.connect()
        let untouched = try #require(try CatalogStore.load(database, id: other.id)).book.revision

        let file = NSTemporaryDirectory() + "catalog-\(UUID().uuidString.prefix(8)).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let entries: [JSONValue] = [book, other].map { b in
            .object(["id": .string(b.id), "title": .string(b.title), "author": .string(b.author), "priceCents": .int(b.priceCents),
                     "stock": .int(b.id == book.id ? 2 : b.stock)])
        }
        try JSONValue.array(entries).encoded.write(toFile: file, atomically: true, encoding: .utf8)
        let run = try runCarthub(["catalog", "import", file], environment: world.stack.environment)
        #expect(run.status == 0 && run.output.contains("1 updated, 1 unchanged"), "\(run.output)")

        let event = try Self.catalogEvent(socket)
        #expect(event["origin"]?["reason"]?.stringValue == "STOCK_CHANGED")
        #expect(Self.line(event["cart"], book.id)?["available"]?.intValue == 2)
        #expect(try CatalogStore.load(database, id: book.id)?.book.stock == 2)
        #expect(try CatalogStore.load(database, id: other.id)?.book.revision == untouched)
        #expect(try Self.add(socket, book, 1).errorCode == "INSUFFICIENT_STOCK")
    }

    @Test("a walk over 3,000 holding carts in every shard finishes while the hub keeps answering, with no SCAN or KEYS")
    func bigWalk() throws {
        let world = try World(stocks: [1_000_000, 100])
        let book = try #require(try CatalogStore.load(world.stack.postgres.connect(), id: world.catalog[0].id)).book
        let redis = try world.stack.redisConnection()
        let source = try LuaSource.read("cart.lua", directory: TestEnvironment.luaDirectory, withCartLibrary: true)
        let sha = try #require(try redis.command(["SCRIPT", "LOAD", source]).stringValue)
        let prefix = TestEnvironment.uniquePrefix("bulk")
        let users = (0..<3_000).map { "\(prefix)-\($0)" }
        #expect(Set(users.map { CartKeys.shard(of: $0, shards: 64) }).count == 64)
        for chunk in stride(from: 0, to: users.count, by: 500).map({ users[$0..<min($0 + 500, users.count)] }) {
            let replies = try redis.pipeline(chunk.map { user in
                ["EVALSHA", sha] + CartScriptCall(command: .add(bookId: book.id, quantity: 2), userId: user, requestId: "seed", connectionId: nil, via: "ws",
                                                  nowMs: 1_000, limits: CartLimits(), rememberedRequests: 32, book: book, shards: 64).evalArguments
            })
            #expect(replies.allSatisfy { $0.arrayValue?.first?.stringValue == "ok" }, "\(replies.first { $0.arrayValue?.first?.stringValue != "ok" } ?? .null)")
        }
        let watcher = try CartSocket(world.hubs[0], user: users[1_234])
        let bystander = try CartSocket(world.hubs[0], user: TestEnvironment.uniquePrefix("busy"))
        try world.stack.postgres.connect().query("select 1")
        _ = try eventually(within: 30, "the seeding jobs in Postgres") {
            try world.stack.postgres.connect().query("select count(*) from cart_items where user_id like $1", [prefix + "-%"]).rows.first?.first == "3000" ? true : nil
        }

        // A fresh worker runs the day's missed reconciliation first (it SSCANs the cart
        // indexes, in bounded batches): let it finish, then count only what the walk uses.
        _ = try eventually(within: 60, "the start-up reconciliation") {
            try world.stack.postgres.connect().query("select 1 from schedule_runs where schedule = 'reconcile' and status <> 'running'").rows.first
        }
        try redis.command(["CONFIG", "RESETSTAT"])
        let price = book.priceCents + 1
        try world.update(book.id, BookPatch(priceCents: price))
        // The bystander keeps working during the walk; every command is answered.
        var answered = 0
        let started = Date()
        var done = false
        while !done {
            let reply = try bystander.call(answered % 2 == 0 ? "cart.add" : "cart.remove", ["bookId": .string(world.catalog[1].id), "quantity": 1])
            #expect(reply.isOK, "\(reply.encoded)")
            answered += 1
            let lines = try redis.pipeline(users.map { ["HGET", CartKeys(userId: $0, shards: 64).lines, book.id] })
            done = lines.allSatisfy { $0.stringValue?.contains("\"unitPriceCents\":\(price),") == true }
            if !done && Date().timeIntervalSince(started) > 60 {
                Issue.record("the walk did not reach 3,000 carts within 60 s\n\(world.worker.log)")
                return
            }
        }
        let event = try Self.catalogEvent(watcher)
        #expect(event.cartVersion == 2 && Self.line(event["cart"], book.id)?["lineTotalCents"]?.intValue == 2 * price)
        _ = try eventually(within: 60, "3,000 new prices in Postgres") {
            try world.stack.postgres.connect().query("select count(*) from cart_items where user_id like $1 and unit_price_cents = $2",
                                                    [prefix + "-%", String(price)]).rows.first?.first == "3000" ? true : nil
        }
        // The worker flushes its counters after the batch it counted, so they may trail Postgres a moment.
        _ = try eventually(within: 10, "the walk's counter at 3,000") { try world.stack.metric("catalog_carts_changed") == 3_000 ? true : nil }
        #expect(try world.stack.metric("full_syncs") == 0)

        let stats = try #require(try redis.command(["INFO", "commandstats"]).stringValue)
        for command in ["cmdstat_scan:", "cmdstat_keys:", "cmdstat_sscan:", "cmdstat_hscan:"] {
            #expect(!stats.contains(command), "\(command) was used:\n\(stats)")
        }
        print("bigWalk: \(answered) bystander commands answered during the walk, \(seconds(since: started)) s\n\(stats)")
    }
}
