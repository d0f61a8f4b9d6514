import Auth
import CartDomain
import JSON

/// The catalog over REST. Reads are public and come from this hub's cache, the same
/// books the cart prices with.
extension Hub {
    func listBooks(_ call: APICall) {
        guard let query = call.query(allowed: ["query", "limit", "cursor"]) else { return }
        let text = query["query"] ?? ""
        guard text.count <= CatalogPage.maxQueryLength else {
            return call.fail(.badRequest, "query may be at most \(CatalogPage.maxQueryLength) characters")
        }
        var limit = CatalogPage.defaultLimit
        if let raw = query["limit"] {
            guard let n = Int(raw), (1...CatalogPage.maxLimit).contains(n) else {
                return call.fail(.badRequest, "limit must be an integer from 1 to \(CatalogPage.maxLimit)")
            }
            limit = n
        }
        var after: String?
        if let cursor = query["cursor"] {
            guard let bytes = Base64URL.decode(cursor), let id = String(validating: bytes, as: UTF8.self), Identifier.isValidBookId(id) else {
                return call.fail(.badRequest, "cursor is not one this API handed out")
            }
            after = id
        }
        guard catalog.isLoaded else { return call.fail(.unavailable, "the catalog is not loaded yet; retry shortly") }
        let page = catalog.page(query: text, after: after, limit: limit)
        var out = #"{"items":["#
        for (i, book) in page.books.enumerated() {
            if i > 0 { out += "," }
            out += Self.json(book)
        }
        out += #"],"nextCursor":"#
        out += page.lastId.map { JSONString.quoted(Base64URL.encode(Array($0.utf8))) } ?? "null"
        out += "}"
        call.respond(200, json: out)
    }

    func getBook(_ call: APICall) {
        let id = call.parameters["id"] ?? ""
        guard Identifier.isValidBookId(id) else { return call.fail(.badRequest, "a book id is 1-64 characters of A-Z a-z 0-9 _ . -") }
        guard let book = catalog.book(id) else { return call.fail(.bookNotFound, "no book with id \(id)") }
        call.respond(200, json: Self.json(book))
    }

    static func json(_ book: Book) -> String {
        let value: JSONValue = [
            "id": .string(book.id), "title": .string(book.title), "author": .string(book.author),
            "priceCents": .int(book.priceCents), "stock": .int(book.stock),
        ]
        return value.encoded
    }
}
