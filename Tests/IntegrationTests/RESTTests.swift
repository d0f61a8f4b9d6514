import Foundation
import JSON
import Testing

@Suite("REST cart API")
struct RESTTests {
    @Test("every REST cart call reaches the user's sockets on two instances, as via rest")
    func restReachesSockets() throws {
        let catalog = try TestCatalog(stocks: [10, 10])
        let a = try HubProcess()
        let b = try HubProcess()
        let user = TestEnvironment.uniquePrefix("rest")
        let token = Tokens.make(user: user)
        let devices = [try CartSocket(a, user: user), try CartSocket(b, user: user)]
        let rest = REST(b)

        let steps: [(String, String, JSONValue?)] = [
            ("POST", "/api/cart/items", ["bookId": .string(catalog[0].id), "quantity": 2]),
            ("POST", "/api/cart/items", ["bookId": .string(catalog[1].id), "quantity": 1]),
            ("PATCH", "/api/cart/items/\(catalog[0].id)", ["quantity": 5]),
            ("DELETE", "/api/cart/items/\(catalog[1].id)", nil),
            ("DELETE", "/api/cart", nil),
        ]
        for (n, (method, path, body)) in steps.enumerated() {
            let key = "key-\(n)"
            let answer = try rest.call(method, path, token: token, json: body, headers: [("Idempotency-Key", key)])
            #expect(answer.status == 200, "\(method) \(path): \(answer)")
            #expect(answer.json["version"] == .int(Int64(n + 1)))
            for device in devices {
                let event = try device.event()
                #expect(event.cartVersion == Int64(n + 1))
                #expect(event["origin"]?["via"] == "rest")
                #expect(event["origin"]?["requestId"] == .string(key))
                #expect(event["origin"]?["connectionId"] == .null)
            }
        }
        let cart = try rest.call("GET", "/api/cart", token: token)
        #expect(cart.status == 200 && cart.json["version"] == 5 && cart.json["items"] == [])
        let total = try rest.call("GET", "/api/cart/total", token: token)
        #expect(total.json == ["userId": .string(user), "epoch": cart.json["epoch"]!, "version": 5, "totalCents": 0, "itemCount": 0])
    }

    @Test("a repeated Idempotency-Key is applied once and answers the same cart")
    func idempotencyKey() throws {
        let catalog = try TestCatalog(stocks: [10])
        let hub = try HubProcess()
        let token = Tokens.make(user: TestEnvironment.uniquePrefix("idem"))
        let rest = REST(hub)
        let add: JSONValue = ["bookId": .string(catalog[0].id), "quantity": 3]
        let first = try rest.call("POST", "/api/cart/items", token: token, json: add, headers: [("Idempotency-Key", "same")])
        let again = try rest.call("POST", "/api/cart/items", token: token, json: add, headers: [("Idempotency-Key", "same")])
        #expect(first.status == 200 && again.status == 200)
        #expect(again.json["version"] == 1 && again.json["items"]?.arrayValue?.first?["quantity"] == 3, "\(again)")
        // Without a key every call is its own command.
        _ = try rest.call("POST", "/api/cart/items", token: token, json: add)
        #expect(try rest.call("GET", "/api/cart", token: token).json["items"]?.arrayValue?.first?["quantity"] == 6)
        let long = String(repeating: "k", count: 65)
        #expect(try rest.call("POST", "/api/cart/items", token: token, json: add, headers: [("Idempotency-Key", long)]).errorCode == "BAD_REQUEST")
    }

    @Test("bad requests get the documented status and code and change nothing")
    func badRequests() throws {
        let catalog = try TestCatalog(stocks: [2])
        let hub = try HubProcess()
        let token = Tokens.make(user: TestEnvironment.uniquePrefix("bad"))
        let rest = REST(hub)
        let book = JSONValue.string(catalog[0].id)
        let cases: [(String, String, JSONValue, [UInt8]?, [(String, String)], Int, String)] = [
            ("POST", "/api/cart/items", ["bookId": book, "quantity": "2"], nil, [], 400, "BAD_REQUEST"),
            ("POST", "/api/cart/items", ["bookId": book, "quantity": 1.5], nil, [], 400, "BAD_REQUEST"),
            ("POST", "/api/cart/items", ["bookId": 7, "quantity": 1], nil, [], 400, "BAD_REQUEST"),
            ("POST", "/api/cart/items", ["quantity": 1], nil, [], 400, "BAD_REQUEST"),
            ("POST", "/api/cart/items", ["bookId": book, "quantity": 0], nil, [], 400, "BAD_REQUEST"),
            ("POST", "/api/cart/items", ["bookId": book, "quantity": 100], nil, [], 409, "QUANTITY_LIMIT"),
            ("POST", "/api/cart/items", ["bookId": book, "quantity": 3], nil, [], 409, "INSUFFICIENT_STOCK"),
            ("POST", "/api/cart/items", ["bookId": .string("no-such-book-\(UUID().uuidString.prefix(6))"), "quantity": 1], nil, [], 404, "BOOK_NOT_FOUND"),
            ("POST", "/api/cart/items", [book], nil, [], 400, "BAD_REQUEST"),
            ("POST", "/api/cart/items", .null, Array(#"{"bookId":"#.utf8), [("Content-Type", "application/json")], 400, "BAD_REQUEST"),
            ("POST", "/api/cart/items", .null, Array(#"{"bookId":"x","quantity":1}"#.utf8), [("Content-Type", "text/plain")], 415, "UNSUPPORTED_MEDIA_TYPE"),
            ("POST", "/api/cart/items", .null, Array(#"{"bookId":"x","quantity":1}"#.utf8), [], 415, "UNSUPPORTED_MEDIA_TYPE"),
            ("POST", "/api/cart/items", .null, nil, [("Content-Type", "application/json")], 400, "BAD_REQUEST"),
            ("POST", "/api/cart/items", .null, Array(repeating: UInt8(ascii: " "), count: 70_000), [("Content-Type", "application/json")], 413, "PAYLOAD_TOO_LARGE"),
            ("PATCH", "/api/cart/items/\(catalog[0].id)", ["quantity": 1], nil, [], 404, "NOT_IN_CART"),
            ("PATCH", "/api/cart/items/bad%20id", ["quantity": 1], nil, [], 400, "BAD_REQUEST"),
            ("DELETE", "/api/cart/items/\(catalog[0].id)", .null, nil, [], 404, "NOT_IN_CART"),
            ("PUT", "/api/cart", ["x": 1], nil, [], 405, "METHOD_NOT_ALLOWED"),
            ("GET", "/api/nothing-here", .null, nil, [], 404, "NOT_FOUND"),
        ]
        for (method, path, json, body, headers, status, code) in cases {
            let answer = try rest.call(method, path, token: token, json: json == .null ? nil : json, body: body, headers: headers)
            #expect(answer.status == status && answer.errorCode == code, "\(method) \(path) \(json.encoded) → \(answer)")
            #expect(answer.header("content-type") == "application/json")
        }
        #expect(try rest.call("PUT", "/api/cart", token: token).header("allow") == "GET, DELETE, HEAD, OPTIONS")
        let cart = try rest.call("GET", "/api/cart", token: token)
        #expect(cart.json["version"] == 0 && cart.json["items"] == [], "nothing changed: \(cart)")
        // HEAD answers like GET, without a body.
        let head = try rest.call("HEAD", "/api/cart", token: token)
        #expect(head.status == 200 && head.response.body.isEmpty)
    }

    @Test("no token, a bad token or a bad Authorization scheme is 401")
    func unauthenticated() throws {
        let hub = try HubProcess()
        let rest = REST(hub)
        #expect(try rest.call("GET", "/api/cart").status == 401)
        #expect(try rest.call("GET", "/api/cart", token: "not.a.token").errorCode == "UNAUTHORIZED")
        #expect(try rest.call("GET", "/api/cart", headers: [("Authorization", "Basic dTpw")]).status == 401)
        #expect(try rest.call("GET", "/api/cart", token: Tokens.make(user: "expired", ttl: -5)).status == 401)
        #expect(try rest.call("DELETE", "/api/cart").status == 401)
    }

    @Test("cookie-authenticated changes need an allowed Origin or Referer; Bearer changes do not")
    func csrf() throws {
        let catalog = try TestCatalog(stocks: [50])
        let hub = try HubProcess()
        let rest = REST(hub)
        let token = Tokens.make(user: TestEnvironment.uniquePrefix("csrf"))
        let cookie = ("Cookie", "accessToken=\(token)")
        let add: JSONValue = ["bookId": .string(catalog[0].id), "quantity": 1]
        let refused: [[(String, String)]] = [
            [cookie],
            [cookie, ("Origin", "http://evil.example")],
            [cookie, ("Referer", "http://evil.example/page")],
            [cookie, ("Origin", "null")],
        ]
        for headers in refused {
            let answer = try rest.call("POST", "/api/cart/items", json: add, headers: headers)
            #expect(answer.status == 403 && answer.errorCode == "FORBIDDEN", "\(headers): \(answer)")
        }
        #expect(try rest.call("DELETE", "/api/cart", headers: [cookie, ("Origin", "http://evil.example")]).status == 403)
        #expect(try rest.call("GET", "/api/cart", token: nil, headers: [cookie]).json["version"] == 0, "nothing was applied")

        #expect(try rest.call("POST", "/api/cart/items", json: add, headers: [cookie, ("Origin", hub.origin)]).status == 200)
        #expect(try rest.call("POST", "/api/cart/items", json: add, headers: [cookie, ("Referer", hub.origin + "/shop?x=1")]).status == 200)
        #expect(try rest.call("POST", "/api/cart/items", token: token, json: add, headers: [("Origin", "http://evil.example")]).status == 200)
        // Reads are not changes: a cookie GET needs no Origin.
        #expect(try rest.call("GET", "/api/cart", headers: [cookie]).json["items"]?.arrayValue?.first?["quantity"] == 3)
    }

    @Test("CORS answers allowed origins only")
    func cors() throws {
        let hub = try HubProcess()
        let rest = REST(hub)
        let preflight = try rest.call("OPTIONS", "/api/cart/items", headers: [("Origin", hub.origin), ("Access-Control-Request-Method", "POST")])
        #expect(preflight.status == 204)
        #expect(preflight.header("access-control-allow-origin") == hub.origin)
        #expect(preflight.header("access-control-allow-credentials") == "true")
        #expect(preflight.header("access-control-allow-methods")?.contains("POST") == true)
        let foreign = try rest.call("OPTIONS", "/api/cart/items", headers: [("Origin", "http://evil.example")])
        #expect(foreign.status == 403 && foreign.header("access-control-allow-origin") == nil)
        let token = Tokens.make(user: TestEnvironment.uniquePrefix("cors"))
        #expect(try rest.call("GET", "/api/cart", token: token, headers: [("Origin", hub.origin)]).header("access-control-allow-origin") == hub.origin)
        #expect(try rest.call("GET", "/api/cart", token: token, headers: [("Origin", "http://evil.example")]).header("access-control-allow-origin") == nil)
    }

    @Test("REST calls share a per-user rate limit: 429 RATE_LIMITED with Retry-After")
    func rateLimit() throws {
        let hub = try HubProcess(environment: ["CARTHUB_RATE_LIMIT": "1", "CARTHUB_RATE_BURST": "3"])
        let rest = REST(hub)
        let token = Tokens.make(user: TestEnvironment.uniquePrefix("rl"))
        let statuses = try (0..<6).map { _ in try rest.call("GET", "/api/cart", token: token) }
        #expect(statuses.prefix(3).allSatisfy { $0.status == 200 })
        let limited = statuses.dropFirst(3).filter { $0.status == 429 }
        #expect(!limited.isEmpty && limited.allSatisfy { $0.errorCode == "RATE_LIMITED" && $0.header("retry-after") != nil })
        // Another user is not held back.
        #expect(try rest.call("GET", "/api/cart", token: Tokens.make(user: TestEnvironment.uniquePrefix("rl"))).status == 200)
    }
}

@Suite("REST catalog")
struct CatalogAPITests {
    @Test("books page by cursor through a search, and single books are found by id")
    func paging() throws {
        let catalog = try TestCatalog(stocks: [1, 2, 3, 4, 5])
        let hub = try HubProcess()
        let rest = REST(hub)
        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let query = "query=\(catalog.prefix.uppercased())&limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
            let page = try rest.call("GET", "/api/books?\(query)")
            #expect(page.status == 200, "\(page)")
            seen += page.json["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            cursor = page.json["nextCursor"]?.stringValue
            pages += 1
        } while cursor != nil && pages < 10
        #expect(seen == catalog.books.map(\.id))
        let one = try rest.call("GET", "/api/books/\(catalog[2].id)")
        #expect(one.json == ["id": .string(catalog[2].id), "title": .string(catalog[2].title), "author": "Tester", "priceCents": .int(catalog[2].priceCents), "stock": 3])
        #expect(try rest.call("GET", "/api/books/\(catalog.prefix)-nope").errorCode == "BOOK_NOT_FOUND")
        for bad in ["limit=0", "limit=101", "limit=x", "cursor=" + String(repeating: "A", count: 200), "color=red", "limit=1&limit=2", "cursor=!!!", "query=" + String(repeating: "q", count: 101)] {
            #expect(try rest.call("GET", "/api/books?\(bad)").errorCode == "BAD_REQUEST", "\(bad)")
        }
    }
}
