import CartDomain
import Postgres
import Storage
import Testing

@Suite struct CatalogStoreTests {
    private func book(_ id: String, price: Int64 = 1_000, stock: Int64 = 3) -> Book {
        Book(id: id, title: "Title of \(id)", author: "Author \(id)", priceCents: price, stock: stock)
    }

    @Test func upsertCountsInsertedUpdatedUnchangedAndKeepsUpdatedAt() throws {
        try withScratchSchema { c, _ throws in
            let first = [book("b"), book("a"), book("c")]
            #expect(try CatalogStore.upsert(c, first) == CatalogImportSummary(inserted: 3, updated: 0, unchanged: 0))
            #expect(try CatalogStore.loadAll(c) == [book("a"), book("b"), book("c")])

            let stampOfA = try c.query("select updated_at from books where id = 'a'")[0, "updated_at"]
            let changedB = Book(id: "b", title: "New title — “Ünïcødé”", author: "", priceCents: 0, stock: 0)
            let summary = try CatalogStore.upsert(c, [book("a"), changedB, book("d")])
            #expect(summary == CatalogImportSummary(inserted: 1, updated: 1, unchanged: 1))
            #expect(try CatalogStore.loadAll(c) == [book("a"), changedB, book("c"), book("d")])
            #expect(try c.query("select updated_at from books where id = 'a'")[0, "updated_at"] == stampOfA)
            let bumped = try c.query("select updated_at > created_at as bumped from books where id = 'b'")
            #expect(bumped[0, "bumped"] == "t")
        }
    }

    @Test func upsertSpansBatches() throws {
        try withScratchSchema { c, _ throws in
            let books = (0..<1_201).map { book(String(format: "bk-%05d", $0)) }
            #expect(try CatalogStore.upsert(c, books) == CatalogImportSummary(inserted: 1_201, updated: 0, unchanged: 0))
            #expect(try CatalogStore.upsert(c, books) == CatalogImportSummary(inserted: 0, updated: 0, unchanged: 1_201))
            let restocked = books.map { book($0.id, stock: 9) }
            #expect(try CatalogStore.upsert(c, restocked) == CatalogImportSummary(inserted: 0, updated: 1_201, unchanged: 0))
            #expect(try CatalogStore.loadAll(c) == restocked)
        }
    }

    @Test func loadAllOrdersByteWise() throws {
        try withScratchSchema { c, _ throws in
            _ = try CatalogStore.upsert(c, ["b", "B", "a", "_x", "A-1", "9"].map { book($0) })
            #expect(try CatalogStore.loadAll(c).map(\.id) == ["9", "A-1", "B", "_x", "a", "b"])
        }
    }

    @Test func upsertRejectsDuplicatesAndInvalidBooksWithoutWriting() throws {
        try withScratchSchema { c, _ throws in
            #expect(throws: StorageError.self) { try CatalogStore.upsert(c, [book("x"), book("x")]) }
            #expect(throws: StorageError.self) { try CatalogStore.upsert(c, [book("ok"), book("neg", price: -1)]) }
            #expect(try CatalogStore.loadAll(c).isEmpty)
            #expect(try CatalogStore.upsert(c, []) == CatalogImportSummary(inserted: 0, updated: 0, unchanged: 0))
        }
    }

    @Test func sharedSchemaUpsertTouchesOnlyItsOwnRows() throws {
        // The production table in the shared test database: unique ids, cleaned up after.
        let c = try connect()
        _ = try Migrator(connection: c).migrate()
        let prefix = "st-\(uniqueSuffix())-"
        defer { _ = try? c.query("delete from books where id like $1", [prefix + "%"]) }
        let mine = [book(prefix + "1"), book(prefix + "2")]
        #expect(try CatalogStore.upsert(c, mine) == CatalogImportSummary(inserted: 2, updated: 0, unchanged: 0))
        #expect(try CatalogStore.loadAll(c).filter { $0.id.hasPrefix(prefix) } == mine)
        #expect(try CatalogStore.upsert(c, mine) == CatalogImportSummary(inserted: 0, updated: 0, unchanged: 2))
    }
}
