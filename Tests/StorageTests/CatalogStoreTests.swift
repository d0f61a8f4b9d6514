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
            #expect(try CatalogStore.loadAll(c).unrevised == [book("a"), book("b"), book("c")])

            let stampOfA = try c.query("select updated_at from books where id = 'a'")[0, "updated_at"]
            let changedB = Book(id: "b", title: "New title — “Ünïcødé”", author: "", priceCents: 0, stock: 0)
            let summary = try CatalogStore.upsert(c, [book("a"), changedB, book("d")])
            #expect(summary == CatalogImportSummary(inserted: 1, updated: 1, unchanged: 1))
            #expect(try CatalogStore.loadAll(c).unrevised == [book("a"), changedB, book("c"), book("d")])
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
            #expect(try CatalogStore.loadAll(c).unrevised == restocked)
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
        #expect(try CatalogStore.loadAll(c).filter { $0.id.hasPrefix(prefix) }.unrevised == mine)
        #expect(try CatalogStore.upsert(c, mine) == CatalogImportSummary(inserted: 0, updated: 0, unchanged: 2))
    }
}

extension [Book] {
    /// The books with revision 0, to compare with books built in a test.
    var unrevised: [Book] { map { var book = $0; book.revision = 0; return book } }
}

@Suite struct CatalogRevisionTests {
    private func book(_ id: String, price: Int64 = 1_000, stock: Int64 = 3) -> Book {
        Book(id: id, title: "Title of \(id)", author: "Author \(id)", priceCents: price, stock: stock)
    }

    private func revision(_ c: PostgresConnection, _ id: String) throws -> Int64 {
        try #require(try CatalogStore.load(c, id: id)).book.revision
    }

    @Test func everyRealChangeTakesANewRevisionAndTheWalkerSeesItOnce() throws {
        try withScratchSchema { c, _ throws in
            let start = try CatalogStore.syncCursor(c)
            _ = try CatalogStore.upsert(c, [book("a"), book("b")])
            let a = try revision(c, "a")
            #expect(a > start)
            // Unchanged: same revision. Changed: a higher one.
            _ = try CatalogStore.upsert(c, [book("a"), book("b", price: 5)])
            #expect(try revision(c, "a") == a)
            let b = try revision(c, "b")
            #expect(b > a)
            #expect(try CatalogStore.update(c, id: "a", patch: BookPatch(title: "Title of a")) == CatalogStore.load(c, id: "a")?.book)
            #expect(try revision(c, "a") == a, "a patch that changes nothing keeps the revision")
            let patched = try #require(try CatalogStore.update(c, id: "a", patch: BookPatch(priceCents: 7)))
            #expect(patched.priceCents == 7 && patched.revision > b)

            let changes = try CatalogStore.changes(c, after: start, limit: 10)
            #expect(changes.map(\.book.id) == ["b", "a"], "oldest change first, each book once")
            #expect(try CatalogStore.changes(c, after: patched.revision, limit: 10).isEmpty)
            #expect(try CatalogStore.changes(c, after: start, limit: 1).map(\.book.id) == ["b"])

            try CatalogStore.advanceSyncCursor(c, to: b)
            try CatalogStore.advanceSyncCursor(c, to: start)
            #expect(try CatalogStore.syncCursor(c) == b, "the cursor never goes back")
        }
    }

    @Test func insertConflictsWithALiveBookAndRevivesADeletedOne() throws {
        try withScratchSchema { c, _ throws in
            let inserted = try CatalogStore.insert(c, book("x", stock: 4))
            #expect(inserted.revision > 0 && inserted.stock == 4)
            #expect(throws: CatalogConflict(bookId: "x")) { try CatalogStore.insert(c, book("x")) }
            #expect(throws: StorageError.self) { try CatalogStore.insert(c, book("y", price: -1)) }

            #expect(try CatalogStore.delete(c, id: "x"))
            #expect(try !CatalogStore.delete(c, id: "x"))
            #expect(try !CatalogStore.delete(c, id: "never"))
            let deleted = try #require(try CatalogStore.load(c, id: "x"))
            #expect(deleted.deleted && deleted.book.revision > inserted.revision)
            #expect(try CatalogStore.loadAll(c).isEmpty)
            #expect(try CatalogStore.update(c, id: "x", patch: BookPatch(priceCents: 1)) == nil)
            #expect(try CatalogStore.changes(c, after: inserted.revision, limit: 10) == [deleted])

            let revived = try CatalogStore.insert(c, book("x", price: 9, stock: 1))
            #expect(revived.priceCents == 9 && revived.stock == 1 && revived.revision > deleted.book.revision)
            #expect(try CatalogStore.loadAll(c) == [revived])
            // An import revives a deleted book too, and counts it as inserted.
            #expect(try CatalogStore.delete(c, id: "x"))
            #expect(try CatalogStore.upsert(c, [book("x")]) == CatalogImportSummary(inserted: 1, updated: 0, unchanged: 0))
            #expect(try CatalogStore.load(c, id: "x")?.deleted == false)
        }
    }

    @Test func stockChangesByTheDifferenceUnderTheRowLock() throws {
        try withScratchSchema { c, _ throws in
            _ = try CatalogStore.insert(c, book("s", stock: 10))
            #expect(try CatalogStore.update(c, id: "s", patch: BookPatch(stock: 4))?.stock == 4)
            #expect(throws: StorageError.self) { try CatalogStore.update(c, id: "s", patch: BookPatch(stock: -1)) }
            #expect(try CatalogStore.load(c, id: "s")?.book.stock == 4, "a refused patch writes nothing")
            #expect(try CatalogStore.upsert(c, [book("s", stock: 9)]) == CatalogImportSummary(inserted: 0, updated: 1, unchanged: 0))
            #expect(try CatalogStore.load(c, id: "s")?.book.stock == 9)
        }
    }
}
