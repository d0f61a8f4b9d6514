import Diagnostics
import CartDomain
import JSON
import Storage

/// Admin changes to the catalog. Postgres takes the change (stock as a difference,
/// a new revision); this hub reloads the book before answering, so its next read
/// shows it; other hubs hear `catalog:changed`; the worker walks the carts that hold it.
extension Hub {
    func createBook(_ call: APICall) {
        guard authenticateAdmin(call) != nil, let body = call.jsonObject() else { return }
        let book: Book
        do throws(CartError) {
            guard let id = try Self.field(body, "id", \.stringValue, "a string"), let title = try Self.field(body, "title", \.stringValue, "a string"),
                let price = try Self.field(body, "priceCents", \.intValue, "an integer"), let stock = try Self.field(body, "stock", \.intValue, "an integer")
            else { throw CartError(.badRequest, "id, title, priceCents and stock are required") }
            book = Book(id: id, title: title, author: try Self.field(body, "author", \.stringValue, "a string") ?? "", priceCents: price, stock: stock)
        } catch {
            return call.fail(error)
        }
        if let problem = book.validationProblem { return call.fail(.badRequest, problem) }
        database.run({ c in try CatalogStore.insert(c, book) }) { [unowned self] result in
            switch result {
            case .success(let stored):
                published(stored.id) { call.respond(201, json: Self.json(stored), headers: [("location", "/api/books/\(stored.id)")]) }
            case .failure(let error):
                catalogFailed(call, error)
            }
        }
    }

    func updateBook(_ call: APICall) {
        guard authenticateAdmin(call) != nil, let body = call.jsonObject() else { return }
        let id = call.parameters["id"] ?? ""
        guard Identifier.isValidBookId(id) else { return call.fail(.badRequest, "a book id is 1-64 characters of A-Z a-z 0-9 _ . -") }
        let patch: BookPatch
        do throws(CartError) {
            patch = BookPatch(
                title: try Self.field(body, "title", \.stringValue, "a string"), author: try Self.field(body, "author", \.stringValue, "a string"),
                priceCents: try Self.field(body, "priceCents", \.intValue, "an integer"), stock: try Self.field(body, "stock", \.intValue, "an integer"))
        } catch {
            return call.fail(error)
        }
        if let problem = patch.validationProblem { return call.fail(.badRequest, problem) }
        database.run({ c in try CatalogStore.update(c, id: id, patch: patch) }) { [unowned self] result in
            switch result {
            case .success(let stored?): published(id) { call.respond(200, json: Self.json(stored)) }
            case .success(nil): call.fail(.bookNotFound, "no book with id \(id)")
            case .failure(let error): catalogFailed(call, error)
            }
        }
    }

    func deleteBook(_ call: APICall) {
        guard authenticateAdmin(call) != nil else { return }
        let id = call.parameters["id"] ?? ""
        guard Identifier.isValidBookId(id) else { return call.fail(.badRequest, "a book id is 1-64 characters of A-Z a-z 0-9 _ . -") }
        database.run({ c in try CatalogStore.delete(c, id: id) }) { [unowned self] result in
            switch result {
            case .success(true): published(id) { call.respond(204) }
            case .success(false): call.fail(.bookNotFound, "no book with id \(id)")
            case .failure(let error): catalogUnavailable(call, error)
            }
        }
    }

    /// Reloads the book here (so this hub's next read has it), tells the other hubs, then answers.
    private func published(_ id: String, _ answer: @escaping () -> Void) {
        catalog.refresh(id) { [unowned self] in
            redis.send(CartKeys.catalogChanged(id)) { _ in }
            answer()
        }
    }

    /// 409 for an id a live book has or a stock cut below what unpaid orders hold;
    /// otherwise the store is unavailable.
    private func catalogFailed(_ call: APICall, _ error: Error) {
        switch error {
        case let conflict as CatalogConflict:
            call.fail(.conflict, conflict.description)
        case let below as StockBelowReserved:
            call.fail(CartError(.conflict, below.description, details: #"{"bookId":\#(JSONString.quoted(below.bookId)),"reserved":\#(below.reserved)}"#))
        default:
            catalogUnavailable(call, error)
        }
    }

    private func catalogUnavailable(_ call: APICall, _ error: Error) {
        Log.warning("\(call.head.method) \(call.head.path): \(error)")
        call.fail(.unavailable, "the catalog store is unavailable; retry shortly", headers: [("retry-after", "1")])
    }

    /// An optional member of the expected JSON type; a member of another type is 400.
    private static func field<T>(_ body: [String: JSONValue], _ name: String, _ read: (JSONValue) -> T?, _ kind: String) throws(CartError) -> T? {
        guard let value = body[name] else { return nil }
        guard let typed = read(value) else { throw CartError(.badRequest, "\(name) must be \(kind), not \(value.typeName)") }
        return typed
    }
}
