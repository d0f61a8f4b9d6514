import CartDomain
import Foundation
import JSON
import Testing

/// The admin catalog API end to end: REST change → Postgres → this hub's reads at
/// once, other hubs by pub/sub, and every holding cart by the worker's walk.
@Suite("Admin catalog API", .serialized)
struct AdminCatalogTests {
    @Test("PATCH price, PATCH stock and DELETE by an admin reach a holding cart's sockets; POST adds a book others can buy")
    func adminChangesReachCarts() throws {
        let world = try CatalogChangeTests.World(stocks: [10, 10], hubs: 2)
        let book = world.catalog[0]
        let (_, socket) = try world.holder("adm", book, 3)
        let admin = REST(world.hubs[1])
        let token = Tokens.make(user: "admin-\(UUID().uuidString.prefix(6))", role: "admin")

        let priced = try admin.call("PATCH", "/api/books/\(book.id)", token: token, json: ["priceCents": 1234])
        #expect(priced.status == 200 && priced.json["priceCents"] == 1234, "\(priced)")
        #expect(try admin.call("GET", "/api/books/\(book.id)").json["priceCents"] == 1234, "the hub that made the change reads it at once")
        let repriced = try CatalogChangeTests.catalogEvent(socket)
        #expect(CatalogChangeTests.line(repriced["cart"], book.id)?["unitPriceCents"] == 1234)
        #expect(repriced["cart"]?["totalCents"] == .int(3 * 1234))
        #expect(repriced["origin"]?["reason"] == "BOOK_CHANGED" && repriced["origin"]?["bookId"] == .string(book.id))

        #expect(try admin.call("PATCH", "/api/books/\(book.id)", token: token, json: ["stock": 2]).json["stock"] == 2)
        let short = try CatalogChangeTests.catalogEvent(socket)
        #expect(CatalogChangeTests.line(short["cart"], book.id)?["available"] == 2, "\(short.encoded)")
        #expect(short["origin"]?["reason"] == "STOCK_CHANGED")

        #expect(try admin.call("DELETE", "/api/books/\(book.id)", token: token).status == 204)
        let removed = try CatalogChangeTests.catalogEvent(socket)
        #expect(CatalogChangeTests.line(removed["cart"], book.id) == nil && removed["origin"]?["reason"] == "BOOK_DELETED")
        #expect(try admin.call("GET", "/api/books/\(book.id)").errorCode == "BOOK_NOT_FOUND")
        #expect(try admin.call("DELETE", "/api/books/\(book.id)", token: token).errorCode == "BOOK_NOT_FOUND")

        let fresh = "\(world.catalog.prefix)-new"
        let created = try admin.call("POST", "/api/books", token: token, json: ["id": .string(fresh), "title": "New arrival", "priceCents": 999, "stock": 4])
        #expect(created.status == 201 && created.header("location") == "/api/books/\(fresh)", "\(created)")
        #expect(try admin.call("POST", "/api/books", token: token, json: ["id": .string(fresh), "title": "Again", "priceCents": 1, "stock": 1]).errorCode == "CONFLICT")
        // The other hub learns of the new book through pub/sub.
        let bought = try eventually(within: 10, "the new book is on sale on the other hub") { () -> JSONValue? in
            let reply = try socket.call("cart.add", ["bookId": .string(fresh), "quantity": 4])
            return reply.isOK ? reply : nil
        }
        #expect(CatalogChangeTests.line(bought["data"]?["cart"], fresh)?["unitPriceCents"] == 999)
    }

    @Test("admin calls: 401 without a token, 403 for customers, 400 for bad bodies, 404 for unknown books")
    func refusals() throws {
        let catalog = try TestCatalog("adm", stocks: [5])
        let hub = try HubProcess()
        let rest = REST(hub)
        let admin = Tokens.make(user: "admin-\(UUID().uuidString.prefix(6))", role: "admin")
        let customer = Tokens.make(user: TestEnvironment.uniquePrefix("cust"))
        let path = "/api/books/\(catalog[0].id)"
        #expect(try rest.call("PATCH", path, json: ["priceCents": 1]).status == 401)
        #expect(try rest.call("PATCH", path, token: customer, json: ["priceCents": 1]).errorCode == "FORBIDDEN")
        #expect(try rest.call("DELETE", path, token: customer).status == 403)
        #expect(try rest.call("POST", "/api/books", token: customer, json: ["id": "x-1", "title": "t", "priceCents": 1, "stock": 1]).status == 403)
        let bad: [JSONValue] = [
            [:], ["priceCents": "12"], ["priceCents": -1], ["priceCents": 10_000_001], ["stock": 1.5], ["title": ""],
            ["title": .string(String(repeating: "t", count: 301))], ["author": 7], ["stock": -3],
        ]
        for body in bad {
            let answer = try rest.call("PATCH", path, token: admin, json: body)
            #expect(answer.status == 400 && answer.errorCode == "BAD_REQUEST", "\(body.encoded): \(answer)")
        }
        #expect(try rest.call("PATCH", path, token: admin, body: Array(#"{"stock":1}"#.utf8), headers: [("Content-Type", "text/plain")]).status == 415)
        #expect(try rest.call("PATCH", "/api/books/\(catalog.prefix)-none", token: admin, json: ["stock": 1]).errorCode == "BOOK_NOT_FOUND")
        #expect(try rest.call("POST", "/api/books", token: admin, json: ["id": "bad id", "title": "t", "priceCents": 1, "stock": 1]).errorCode == "BAD_REQUEST")
        #expect(try rest.call("POST", "/api/books", token: admin, json: ["title": "t", "priceCents": 1, "stock": 1]).errorCode == "BAD_REQUEST")
        #expect(try rest.call("GET", path).json["stock"] == 5, "nothing changed")
    }
}
