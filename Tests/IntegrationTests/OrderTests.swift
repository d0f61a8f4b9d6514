import CartDomain
import Foundation
import JSON
import Mail
import Persistence
import Postgres
import Redis
import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Orders (issue #5): atomic reservations, expiry, payments, cancellation, no oversell.
/// Each test has its own Redis and Postgres, real hubs and workers; one at a time.
@Suite("Orders", .serialized)
struct OrderTests {
    @Test("200 concurrent order.create over two hubs on a book with stock 10: exactly 10 orders; pay, cancel, expire: Redis and Postgres agree")
    func noOversell() throws {
        let world = try OrderWorld(stocks: [10], hubs: 2, ttl: 20)
        let book = world.catalog[0]
        let sockets = try (0..<200).map { i in try world.shopper("rush", book, hub: i % 2) }
        let pending = try sockets.map { socket in (socket, try socket.send("order.create", ["idempotencyKey": .string("k-\(socket.user)")])) }
        var orders: [(CartSocket, String)] = []
        var refused = 0
        for (socket, id) in pending {
            let reply = try socket.reply(id, timeout: 30)
            if reply.isOK, let order = reply.orderId {
                #expect(reply.order?["status"]?.stringValue == "PAYMENT_PENDING")
                orders.append((socket, order))
            } else {
                #expect(reply.errorCode == "INSUFFICIENT_STOCK", "\(reply.encoded)")
                #expect(reply["error"]?["details"]?["available"]?.intValue == 0)
                refused += 1
            }
        }
        #expect(orders.count == 10)
        #expect(refused == 190)
        #expect(try world.available(book) == 0, "never negative, all reserved")
        #expect(try world.reservations() == 10)
        #expect(try world.postgres().query("select count(*) from orders where status = 'PAYMENT_PENDING'").rows[0][0] == "10")

        // Pay four (on either hub), cancel three, let three expire.
        for (i, (_, id)) in orders.prefix(4).enumerated() {
            let answer = try world.pay(id, hub: i % 2)
            #expect(answer.status == 200, "\(answer)")
            #expect(answer.json.order?["status"]?.stringValue == "CONFIRMED")
        }
        for (socket, id) in orders[4..<7] {
            let reply = try socket.call("order.cancel", ["orderId": .string(id)])
            #expect(reply.order?["status"]?.stringValue == "CANCELLED", "\(reply.encoded)")
        }
        for (socket, id) in orders[7...] {
            _ = try socket.orderUpdate("EXPIRED", id: id, timeout: 60)
        }
        _ = try eventually(within: 10, "every reservation settled") { try world.reservations() == 0 ? true : nil }
        #expect(try world.available(book) == 6)
        #expect(try world.postgresStock(book) == 6)
        let statuses = try world.postgres().query("select status, count(*) from orders group by status order by status").rows
        #expect(statuses.map { "\($0[0]!)=\($0[1]!)" } == ["CANCELLED=3", "CONFIRMED=4", "EXPIRED=3"])
        let verify = try world.verifyStock(repair: false)
        #expect(verify.status == 0, "\(verify.output)")
    }

    @Test("expiry with two workers releases once; a webhook racing the expiry ends in exactly one of CONFIRMED or EXPIRED")
    func expiryAndRace() throws {
        let world = try OrderWorld(stocks: [20], workers: 2, ttl: 2)
        let book = world.catalog[0]
        // Five orders of 2 expire: the stock comes back exactly once.
        let watchers = try (0..<5).map { _ in try world.shopper("exp", book, 2) }
        let ids = try watchers.map { try #require(try world.checkout($0).orderId) }
        #expect(try world.available(book) == 10)
        for (socket, id) in zip(watchers, ids) { _ = try socket.orderUpdate("EXPIRED", id: id) }
        _ = try eventually(within: 10, "the stock back") { try world.reservations() == 0 ? true : nil }
        #expect(try world.available(book) == 20)
        #expect(try world.postgresStock(book) == 20)

        // Races: payments sent around each order's due time.
        let racers = try (0..<6).map { _ in try world.shopper("race", book, 1) }
        let created = Date()
        let raced = try racers.map { try #require(try world.checkout($0).orderId) }
        var confirmed = 0
        for (i, id) in raced.enumerated() {
            let due = created.addingTimeInterval(2 + Double(i) * 0.08 - 0.2)
            if due > Date() { usleep(UInt32(due.timeIntervalSinceNow * 1_000_000)) }
            let answer = try world.pay(id)
            let final = try eventually(within: 15, "order \(id) settled") { () -> Order? in
                let order = try world.order(id)
                return order?.status == .paymentPending ? nil : order
            }
            switch final.status {
            case .confirmed:
                #expect(answer.status == 200, "\(answer)")
                confirmed += 1
            case .expired:
                #expect(answer.status == 409 && answer.errorCode == "LATE_PAYMENT", "\(answer)")
            default:
                Issue.record("order \(id) ended \(final.status)")
            }
        }
        _ = try eventually(within: 15, "every reservation settled") { try world.reservations() == 0 ? true : nil }
        #expect(try world.available(book) == 20 - Int64(confirmed))
        #expect(try world.postgresStock(book) == 20 - Int64(confirmed))
        #expect(try world.verifyStock(repair: false).status == 0)
    }

    @Test("webhook: bad signature 401, duplicate harmless, cart keeps lines added after checkout, failed cancels, late success refused and recorded")
    func webhook() throws {
        let world = try OrderWorld(stocks: [10, 10])
        let (a, b) = (world.catalog[0], world.catalog[1])
        let socket = try world.shopper("pay", a, 3)
        let id = try #require(try world.checkout(socket).orderId)
        #expect(try socket.call("cart.add", ["bookId": .string(b.id), "quantity": 1]).isOK)

        #expect(try world.pay(id, signature: "sha256=" + String(repeating: "0", count: 64)).status == 401)
        #expect(try world.pay(id, signature: "").errorCode == "BAD_SIGNATURE")
        #expect(try world.order(id)?.status == .paymentPending)

        let first = try world.pay(id, ref: "ch_1")
        #expect(first.status == 200, "\(first)")
        let again = try world.pay(id, ref: "ch_1")
        #expect(again.status == 200)
        #expect(again.json.order == first.json.order)
        #expect(try world.postgresStock(a) == 7, "stock lowered once")
        #expect(try world.available(a) == 7)
        #expect(try world.reservations() == 0)
        let cart = try socket.next(timeout: 10) { $0["type"]?.stringValue == "cart.updated" && $0["origin"]?["via"]?.stringValue == "order" }
        #expect(cart["cart"]?["items"]?.arrayValue?.map { $0["bookId"]?.stringValue } == [b.id], "the ordered line left, the later one stayed")
        #expect(try socket.drain(for: 0.5).filter { $0["origin"]?["via"]?.stringValue == "order" }.isEmpty, "the duplicate changed nothing")

        // failed → CANCELLED, released; a late success then is refused and recorded once.
        let other = try world.shopper("fail", a, 2)
        let failed = try #require(try world.checkout(other).orderId)
        #expect(try world.available(a) == 5)
        #expect(try world.pay(failed, "failed", ref: "ch_2").json.order?["status"]?.stringValue == "CANCELLED")
        #expect(try world.available(a) == 7)
        for _ in 0..<2 {
            let late = try world.pay(failed, ref: "ch_3")
            #expect(late.status == 409 && late.errorCode == "LATE_PAYMENT", "\(late)")
        }
        #expect(try OrderStore.latePayments(world.postgres()).map(\.orderId) == [failed])
        #expect(try world.postgresStock(a) == 7 && world.available(a) == 7)
        #expect(try world.pay("o-nonesuch").status == 404)
    }

    @Test("idempotent create retried after a dropped socket yields one order; REST with the same key too; cancel releases; others' orders are 404")
    func createCancelReads() throws {
        let world = try OrderWorld(stocks: [5])
        let book = world.catalog[0]
        let first = try world.shopper("idem", book, 2)
        let user = first.user
        try first.send("order.create", ["idempotencyKey": "checkout-1"])
        try first.ws.close()
        let second = try CartSocket(world.hubs[0], user: user)
        let id = try #require(try world.checkout(second, key: "checkout-1").orderId)
        let rest = try REST(world.hubs[0]).call("POST", "/api/orders", token: Tokens.make(user: user), headers: [("Idempotency-Key", "checkout-1")])
        #expect(rest.status == 201 && rest.json.orderId == id, "\(rest)")
        #expect(try world.postgres().query("select count(*) from orders where user_id = $1", [user]).rows[0][0] == "1")
        #expect(try world.available(book) == 3)
        #expect(try REST(world.hubs[0]).call("POST", "/api/orders", token: Tokens.make(user: user)).status == 400, "the key is required")

        // Reads: own only.
        let api = REST(world.hubs[0])
        #expect(try api.call("GET", "/api/orders/\(id)", token: Tokens.make(user: user)).json.orderId == id)
        #expect(try api.call("GET", "/api/orders", token: Tokens.make(user: user)).json["orders"]?.arrayValue?.count == 1)
        #expect(try second.call("order.list").json(at: ["data", "orders"])?.arrayValue?.count == 1)
        #expect(try second.call("order.get", ["orderId": .string(id)]).orderId == id)
        let stranger = Tokens.make(user: "stranger-\(UUID().uuidString.prefix(6))")
        #expect(try api.call("GET", "/api/orders/\(id)", token: stranger).errorCode == "ORDER_NOT_FOUND")
        #expect(try api.call("POST", "/api/orders/\(id)/cancel", token: stranger).status == 404)
        #expect(try api.call("GET", "/api/orders", token: stranger).json["orders"]?.arrayValue?.count == 0)

        // Cancel releases, once; then the order cannot be paid or cancelled into anything else.
        let cancelled = try api.call("POST", "/api/orders/\(id)/cancel", token: Tokens.make(user: user))
        #expect(cancelled.json.order?["status"]?.stringValue == "CANCELLED", "\(cancelled)")
        #expect(try world.available(book) == 5)
        #expect(try api.call("POST", "/api/orders/\(id)/cancel", token: Tokens.make(user: user)).status == 200, "a repeated cancel is harmless")
        #expect(try world.available(book) == 5)

        // An empty cart cannot be ordered; a deleted book or new price stops the checkout and updates the cart.
        #expect(try second.call("cart.clear").isOK)
        #expect(try world.checkout(second).errorCode == "CART_EMPTY")
        #expect(try second.call("cart.add", ["bookId": .string(book.id), "quantity": 1]).isOK)
        _ = try CatalogStore.update(world.postgres(), id: book.id, patch: BookPatch(priceCents: book.priceCents + 100))
        try world.redis().command(CartKeys.catalogChanged(book.id))
        let changed = try eventually(within: 10, "the checkout to see the new price") { () -> JSONValue? in
            let reply = try world.checkout(second)
            return reply.errorCode == "CART_CHANGED" ? reply : nil
        }
        #expect(changed["error"]?["details"]?["changes"]?.arrayValue?.first?["unitPriceCents"]?.intValue == book.priceCents + 100)
        let repriced = try world.checkout(second)
        #expect(repriced.order?["totalCents"]?.intValue == book.priceCents + 100, "\(repriced.encoded)")
    }

    @Test("admin: list by status, legal transitions, illegal ones 409, customers 403")
    func admin() throws {
        let world = try OrderWorld(stocks: [10])
        let book = world.catalog[0]
        let api = REST(world.hubs[0])
        let admin = Tokens.make(user: "admin-\(UUID().uuidString.prefix(6))", role: "admin")
        let socket = try world.shopper("adm", book, 1)
        let paid = try #require(try world.checkout(socket).orderId)
        #expect(try socket.call("cart.add", ["bookId": .string(book.id), "quantity": 1]).isOK)
        let open = try #require(try world.checkout(socket).orderId)
        #expect(try world.pay(paid).status == 200)

        func patch(_ id: String, _ status: String) throws -> REST.Answer {
            try api.call("PATCH", "/api/admin/orders/\(id)", token: admin, json: ["status": .string(status)])
        }
        #expect(try api.call("GET", "/api/admin/orders?status=CONFIRMED", token: admin).json["orders"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == [paid])
        #expect(try api.call("GET", "/api/admin/orders?limit=1", token: admin).json["nextCursor"]?.stringValue != nil)
        #expect(try api.call("GET", "/api/admin/orders", token: Tokens.make(user: socket.user)).status == 403)
        #expect(try patch(paid, "DELIVERED").errorCode == "ILLEGAL_TRANSITION")
        #expect(try patch(paid, "PAYMENT_PENDING").status == 409)
        #expect(try patch(open, "SHIPPED").status == 409)
        #expect(try patch(open, "CONFIRMED").status == 409, "only a payment confirms")
        #expect(try patch(paid, "SHIPPED").json.order?["status"]?.stringValue == "SHIPPED")
        #expect(try patch(paid, "DELIVERED").json.order?["status"]?.stringValue == "DELIVERED")
        #expect(try patch(paid, "CANCELLED").status == 409)
        #expect(try patch(open, "CANCELLED").json.order?["status"]?.stringValue == "CANCELLED")
        #expect(try world.available(book) == 9)
        #expect(try patch(open, "CONFIRMED").status == 409)
        #expect(try patch("o-nonesuch", "SHIPPED").status == 404)
    }

    @Test("order.updated reaches another device from each cause: socket, REST, webhook, expiry, admin")
    func eventsFromEveryCause() throws {
        let world = try OrderWorld(stocks: [50], hubs: 2, ttl: 6)
        let book = world.catalog[0]
        let device = try world.shopper("evt", book, 1)
        let user = device.user
        let watcher = try CartSocket(world.hubs[1], user: user)
        let api = REST(world.hubs[0])
        let admin = Tokens.make(user: "admin-\(UUID().uuidString.prefix(6))", role: "admin")
        func order() throws -> String {
            #expect(try device.call("cart.add", ["bookId": .string(book.id), "quantity": 1]).isOK)
            let id = try #require(try world.checkout(device).orderId)
            _ = try watcher.orderUpdate("PAYMENT_PENDING", id: id)
            return id
        }
        let bySocket = try order()
        #expect(try device.call("order.cancel", ["orderId": .string(bySocket)]).isOK)
        _ = try watcher.orderUpdate("CANCELLED", id: bySocket)

        let byREST = try order()
        #expect(try api.call("POST", "/api/orders/\(byREST)/cancel", token: Tokens.make(user: user)).status == 200)
        _ = try watcher.orderUpdate("CANCELLED", id: byREST)

        let byWebhook = try order()
        #expect(try world.pay(byWebhook, hub: 1).status == 200)
        _ = try watcher.orderUpdate("CONFIRMED", id: byWebhook)

        #expect(try api.call("PATCH", "/api/admin/orders/\(byWebhook)", token: admin, json: ["status": "SHIPPED"]).status == 200)
        let shipped = try watcher.orderUpdate("SHIPPED", id: byWebhook)
        #expect(shipped["order"]?["paymentRef"]?.stringValue == "pay-\(byWebhook)")
        let line = try #require(shipped["order"]?["items"]?.arrayValue?.first)
        #expect(line["unitPriceCents"]?.intValue == book.priceCents)
        #expect(line["lineTotalCents"]?.intValue == book.priceCents * (line["quantity"]?.intValue ?? 0))

        let byExpiry = try order()
        _ = try watcher.orderUpdate("EXPIRED", id: byExpiry, timeout: 30)
    }

    @Test("a hub SIGKILLed between the reservation and the order write: recovery releases the reservation")
    func crashAfterReserve() throws {
        var world = try OrderWorld(stocks: [4], ttl: 3)
        let book = world.catalog[0]
        let crashing = try HubProcess(environment: world.environment.merging(["CARTHUB_TEST_CRASH_AFTER_RESERVE": "1"]) { $1 })
        world.hubs.append(crashing)
        let socket = try world.shopper("crash", book, 3, hub: 1)
        try socket.send("order.create", ["idempotencyKey": "k"])
        #expect(crashing.waitForExit(timeout: 10) != nil, "the hub exits after reserving")
        #expect(try world.available(book) == 1, "the reservation was made")
        #expect(try world.reservations() == 1)
        _ = try eventually(within: 20, "the orphan reservation released") { try world.reservations() == 0 ? true : nil }
        #expect(try world.available(book) == 4)
        #expect(try world.postgres().query("select count(*) from orders").rows[0][0] == "0")
    }

    @Test("a status change committed without its follow-ups (its hub died): the worker gives the stock back, publishes order.updated and queues the mail; a hub's own change leaves nothing to redo")
    func followUpsRedone() throws {
        let world = try OrderWorld(stocks: [10])
        let book = world.catalog[0]
        let socket = try world.shopper("followup", book, 2)
        _ = try UserStore.create(world.postgres(), id: socket.user, email: "\(socket.user)@example.com", name: "Grace", passwordHash: "unused", role: "customer")
        let followUps = { (id: String) in try world.postgres().query("select status from order_followups where order_id = $1", [id]).rows.compactMap { $0[0] } }

        // A cancel on the socket: the hub does its follow-ups and drops the record (the
        // worker would only touch it after 30 s).
        let first = try #require(try world.checkout(socket).orderId)
        #expect(try socket.call("order.cancel", ["orderId": .string(first)]).isOK)
        _ = try eventually(within: 10, "the hub's follow-up record of \(first) gone (have \(try followUps(first)))") { try followUps(first).isEmpty ? true : nil }

        // The same change committed as a hub would, which then dies before any Redis step
        // (the cart still holds its 2 copies: only a payment takes them out).
        let order = try #require(try world.checkout(socket).orderId)
        #expect(try world.available(book) == 8)
        let change = try OrderStore.transition(world.postgres(), id: order, from: .paymentPending, to: .cancelled)
        guard case .changed = change else { Issue.record("\(change)"); return }
        #expect(try followUps(order) == ["CANCELLED"])
        #expect(try world.available(book) == 8, "nothing released yet")
        // Older than the grace period, as after a crash long ago.
        try world.postgres().query("update order_followups set created_at = now() - interval '1 hour' where order_id = $1", [order])

        _ = try socket.orderUpdate("CANCELLED", id: order, timeout: 30)
        _ = try eventually(within: 10, "the reservation of \(order) released") { try world.available(book) == 10 ? true : nil }
        #expect(try world.reservations() == 0)
        // The mail is queued after the event is published.
        let messageId = OrderMail.messageId(orderId: order, status: .cancelled)
        let queued = { (try world.redis().command(["XRANGE", MailKeys.stream, "-", "+"]).arrayValue ?? []).flatMap { ($0.arrayValue?.last?.arrayValue ?? []).compactMap(\.stringValue) } }
        _ = try eventually(within: 10, "a job for \(messageId) on \(MailKeys.stream) (have \(try queued()))") { try queued().contains(messageId) ? true : nil }
        _ = try eventually(within: 10, "the follow-up record of \(order) gone") { try followUps(order).isEmpty ? true : nil }
    }

    @Test("drift injected into Redis stock is found and repaired by carthub stock verify; admin stock changes move the counters by the difference")
    func driftRepair() throws {
        let world = try OrderWorld(stocks: [10, 10])
        let (a, b) = (world.catalog[0], world.catalog[1])
        let socket = try world.shopper("drift", a, 2)
        _ = try #require(try world.checkout(socket).orderId)
        #expect(try world.verifyStock(repair: false).status == 0)

        try world.redis().command(["HINCRBY", StockKeys.available, a.id, "-3"])
        let found = try world.verifyStock(repair: false)
        #expect(found.status == 1 && found.output.contains("\(a.id): postgres 10") && found.output.contains("drift +3"), "\(found.output)")
        let repaired = try world.verifyStock(repair: true)
        #expect(repaired.status == 0 && repaired.output.contains("repaired"), "\(repaired.output)")
        #expect(try world.available(a) == 8)
        #expect(try world.verifyStock(repair: false).status == 0)

        // An admin raises b's stock while nothing is reserved: available follows by the difference.
        _ = try CatalogStore.update(world.postgres(), id: b.id, patch: BookPatch(stock: 15))
        _ = try eventually(within: 10, "the adjustment applied") { try world.available(b) == 15 ? true : nil }
        _ = try CatalogStore.update(world.postgres(), id: a.id, patch: BookPatch(stock: 4))
        _ = try eventually(within: 10, "the adjustment applied") { try world.available(a) == 2 ? true : nil }
        #expect(try world.verifyStock(repair: false).status == 0)
    }

    @Test("an admin cannot cut a book's stock below what unpaid orders hold (409 CONFLICT, nothing changed), down to it can, and the payment still confirms")
    func stockCutBelowReserved() throws {
        let world = try OrderWorld(stocks: [4])
        let book = world.catalog[0]
        let socket = try world.shopper("cut", book, 3)
        let order = try #require(try world.checkout(socket).orderId)
        let api = REST(world.hubs[0])
        let admin = Tokens.make(user: "admin-\(UUID().uuidString.prefix(6))", role: "admin")

        let refused = try api.call("PATCH", "/api/books/\(book.id)", token: admin, json: ["stock": 2])
        #expect(refused.status == 409 && refused.errorCode == "CONFLICT", "\(refused.response.bodyText)")
        let details = refused.json["error"]?["details"]
        #expect(details?["bookId"]?.stringValue == book.id && details?["reserved"]?.intValue == 3, "\(refused.response.bodyText)")
        #expect(try world.postgresStock(book) == 4)
        // A change that does not lower the stock is not held back.
        #expect(try api.call("PATCH", "/api/books/\(book.id)", token: admin, json: ["priceCents": .int(book.priceCents + 100)]).status == 200)

        let lowered = try api.call("PATCH", "/api/books/\(book.id)", token: admin, json: ["stock": 3])
        #expect(lowered.status == 200, "\(lowered.response.bodyText)")
        _ = try eventually(within: 10, "the adjustment applied") { try world.available(book) == 0 ? true : nil }
        #expect(try world.pay(order).status == 200)
        #expect(try world.order(order)?.status == .confirmed)
        #expect(try world.postgresStock(book) == 0)
        // The reservation is committed after the webhook's answer.
        _ = try eventually(within: 10, "the reservation committed") { try world.reservations() == 0 ? true : nil }
        #expect(try world.verifyStock(repair: false).status == 0)
    }

    @Test("Redis flushed with orders pending: stock and reservations are rebuilt and expiry still fires")
    func flushAll() throws {
        let world = try OrderWorld(stocks: [10], ttl: 8)
        let book = world.catalog[0]
        let socket = try world.shopper("flush", book, 3)
        let id = try #require(try world.checkout(socket).orderId)
        #expect(try world.available(book) == 7)
        try world.redis().command(["FLUSHALL"])
        try world.waitForStock()
        #expect(try world.available(book) == 7)
        #expect(try world.redis().command(["HGET", StockKeys.reservation(orderId: id), book.id]).intValue == 3)
        #expect(try world.redis().command(["ZSCORE", StockKeys.delayed, "expire:\(id)"]).stringValue != nil)
        _ = try eventually(within: 30, "the order expired") { try world.order(id)?.status == .expired ? true : nil }
        _ = try eventually(within: 10, "the stock back") { try world.available(book) == 10 ? true : nil }
        #expect(try world.reservations() == 0)
    }

    @Test("demo payments (CARTHUB_DEMO_PAYMENTS=1): GET /api/config says so; the owner pays through the webhook's path (CSRF as for cookie changes); off, 404; without a webhook secret the hub refuses to start")
    func demoPayments() throws {
        var world = try OrderWorld(stocks: [10], extra: ["CARTHUB_DEMO_PAYMENTS": "1"])
        world.hubs.append(try HubProcess(environment: world.environment.merging(["CARTHUB_DEMO_PAYMENTS": "0"]) { $1 }))
        let (on, off) = (REST(world.hubs[0]), REST(world.hubs[1]))
        #expect(try on.call("GET", "/api/config").json["demoPayments"] == .bool(true))
        #expect(try off.call("GET", "/api/config").json["demoPayments"] == .bool(false))

        let book = world.catalog[0]
        let device = try world.shopper("demo", book, 2)
        let watcher = try CartSocket(world.hubs[1], user: device.user)
        let id = try #require(try world.checkout(device).orderId)
        _ = try watcher.orderUpdate("PAYMENT_PENDING", id: id)
        let token = Tokens.make(user: device.user)
        let cookie = ("Cookie", "accessToken=\(token)")

        let disabled = try off.call("POST", "/api/demo/pay/\(id)", token: token)
        #expect(disabled.status == 404 && disabled.errorCode == "NOT_FOUND", "\(disabled)")
        #expect(try on.call("POST", "/api/demo/pay/\(id)").status == 401)
        let stranger = try on.call("POST", "/api/demo/pay/\(id)", token: Tokens.make(user: TestEnvironment.uniquePrefix("demo-other")))
        #expect(stranger.status == 404 && stranger.errorCode == "ORDER_NOT_FOUND", "\(stranger)")
        let noOrigin = try on.call("POST", "/api/demo/pay/\(id)", headers: [cookie])
        #expect(noOrigin.status == 403 && noOrigin.errorCode == "FORBIDDEN", "\(noOrigin)")
        #expect(try world.order(id)?.status == .paymentPending)

        let paid = try on.call("POST", "/api/demo/pay/\(id)", headers: [cookie, ("Origin", world.hubs[0].origin)])
        #expect(paid.status == 200 && paid.json.order?["status"]?.stringValue == "CONFIRMED", "\(paid)")
        #expect(paid.json.order?["paymentRef"]?.stringValue == "demo-\(id)")
        let confirmed = try watcher.orderUpdate("CONFIRMED", id: id)
        #expect(confirmed["order"]?["paymentRef"]?.stringValue == "demo-\(id)")
        // The webhook's effects: the ordered lines leave the cart, the stock is sold.
        _ = try watcher.next(timeout: 10) { $0["type"]?.stringValue == "cart.updated" && $0["cart"]?["items"]?.arrayValue?.isEmpty == true }
        _ = try eventually(within: 10, "the books' stock lowered") { try world.postgresStock(book) == 8 ? true : nil }
        let again = try on.call("POST", "/api/demo/pay/\(id)", token: token)
        #expect(again.status == 200 && again.json.order?["status"]?.stringValue == "CONFIRMED", "\(again)")

        #expect(try device.call("cart.add", ["bookId": .string(book.id), "quantity": 1]).isOK)
        let cancelled = try #require(try world.checkout(device).orderId)
        #expect(try device.call("order.cancel", ["orderId": .string(cancelled)]).isOK)
        let late = try on.call("POST", "/api/demo/pay/\(cancelled)", token: token)
        #expect(late.status == 409 && late.errorCode == "LATE_PAYMENT", "\(late)")
        #expect(try on.call("POST", "/api/demo/pay/bad%20id", token: token).status == 400)

        // The flag without a key to sign with stops `carthub serve` at start.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.binary)
        process.arguments = ["serve"]
        var environment = try HubProcess.environment(world.stack.environment)
        environment["CARTHUB_DEMO_PAYMENTS"] = "1"
        environment["PAYMENT_WEBHOOK_SECRET"] = nil
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0 && text.contains("CARTHUB_DEMO_PAYMENTS=1 needs PAYMENT_WEBHOOK_SECRET"), "\(text)")
    }
}

extension JSONValue {
    func json(at path: [String]) -> JSONValue? {
        var value: JSONValue? = self
        for key in path { value = value?[key] }
        return value
    }
}
