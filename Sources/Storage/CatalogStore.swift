import CartDomain
import Postgres

/// What a catalog import changed.
public struct CatalogImportSummary: Sendable, Equatable {
    public var inserted: Int
    public var updated: Int
    public var unchanged: Int

    public init(inserted: Int, updated: Int, unchanged: Int) {
        self.inserted = inserted
        self.updated = updated
        self.unchanged = unchanged
    }
}

/// One `books` row, deleted or not: what the hubs' incremental reload and the
/// catalog walker read.
public struct CatalogRecord: Sendable, Equatable {
    public var book: Book
    public var deleted: Bool

    public init(book: Book, deleted: Bool) {
        self.book = book
        self.deleted = deleted
    }
}

/// `CatalogStore.insert` of an id a live book already has (the REST layer answers 409 `CONFLICT`).
public struct CatalogConflict: Error, Sendable, Equatable, CustomStringConvertible {
    public var bookId: String

    public init(bookId: String) {
        self.bookId = bookId
    }

    public var description: String { "book \"\(bookId)\" already exists" }
}

/// A stock change that would leave a book fewer units than its unpaid orders hold: their
/// payments could not take the units out (the REST layer answers 409 `CONFLICT`).
public struct StockBelowReserved: Error, Sendable, Equatable, CustomStringConvertible {
    public let bookId: String
    public let stock: Int64
    public let reserved: Int64

    public var description: String {
        "book \"\(bookId)\": unpaid orders hold \(reserved) unit(s), so its stock cannot go below \(reserved) (asked: \(stock))"
    }
}

/// The `books` table and the catalog sync cursor.
///
/// Every write takes the next `book_revision_seq` value for each book it really
/// changes, under a transaction-scoped advisory lock that all catalog writers share:
/// revisions therefore commit in order, and the walker (`changes(after:)`) can keep a
/// plain high-water mark. Stock is always written as a difference against the stored
/// value read under `FOR UPDATE`, never by overwriting it, and never below what
/// PAYMENT_PENDING orders hold (`StockBelowReserved`). After a write commits, the
/// caller publishes `CartKeys.catalogChanged(_:)` so hubs reload the book.
public enum CatalogStore {
    /// Rows per statement of an import: a batch binds as a few array parameters.
    static let batchSize = 500
    /// "catalog!" in ASCII: the advisory lock of catalog writers.
    static let writeLockKey: Int64 = 0x6361_7461_6C6F_6721
    static let columns = "id, title, author, price_cents, stock, revision, deleted_at is not null"
    static let nextRevision = "nextval('book_revision_seq')"

    /// Every live book, ordered by id byte-wise (`collate "C"`, independent of the database locale).
    public static func loadAll(_ c: PostgresConnection) throws -> [Book] {
        try c.query("select \(columns) from books where deleted_at is null order by id collate \"C\"").rows.map { try record($0).book }
    }

    /// One book, deleted or not; nil when the id was never stored.
    public static func load(_ c: PostgresConnection, id: String) throws -> CatalogRecord? {
        try c.query("select \(columns) from books where id = $1", [id]).rows.first.map(record)
    }

    /// Books changed after `revision` (deleted ones included), oldest change first.
    public static func changes(_ c: PostgresConnection, after revision: Int64, limit: Int) throws -> [CatalogRecord] {
        try c.query("select \(columns) from books where revision > $1::bigint order by revision limit $2::int", [String(revision), String(limit)])
            .rows.map(record)
    }

    /// Adds a book. A live book with the same id is a `CatalogConflict`; a soft-deleted
    /// one is revived with these fields.
    public static func insert(_ c: PostgresConnection, _ book: Book) throws -> Book {
        try validate(book)
        return try c.transaction { c in
            try lockWrites(c)
            guard let stored = try c.query("select \(columns) from books where id = $1 for update", [book.id]).rows.first.map(record) else {
                let inserted = try record(c.query(
                    "insert into books (id, title, author, price_cents, stock, revision) values ($1, $2, $3, $4::bigint, $5::bigint, \(nextRevision)) returning \(columns)",
                    [book.id, book.title, book.author, String(book.priceCents), String(book.stock)]).rows[0]).book
                try recordAdjustments(c, [(book.id, book.stock)])
                return inserted
            }
            guard stored.deleted else { throw CatalogConflict(bookId: book.id) }
            let delta = book.stock - stored.book.stock
            try checkReserved(c, [(book, delta)])
            return try rewrite(c, book, stockDelta: delta)
        }
    }

    /// Changes some fields of a live book; nil when there is none with this id. The
    /// stock is applied as `stock + (wanted - stored)`; the revision rises only when a
    /// field really changes.
    public static func update(_ c: PostgresConnection, id: String, patch: BookPatch) throws -> Book? {
        try c.transaction { c in
            try lockWrites(c)
            guard let stored = try c.query("select \(columns) from books where id = $1 and deleted_at is null for update", [id]).rows.first.map(record) else {
                return nil
            }
            let (patched, delta, changed) = patch.applied(to: stored.book)
            try validate(patched)
            try checkReserved(c, [(patched, delta)])
            return changed ? try rewrite(c, patched, stockDelta: delta) : stored.book
        }
    }

    /// Soft-deletes a live book; false when there is none with this id.
    public static func delete(_ c: PostgresConnection, id: String) throws -> Bool {
        try c.transaction { c in
            try lockWrites(c)
            return try c.query(
                "update books set deleted_at = now(), updated_at = now(), revision = \(nextRevision) where id = $1 and deleted_at is null", [id]
            ).affectedRows == 1
        }
    }

    /// `carthub catalog import`: inserts new books, revives deleted ones and updates
    /// changed ones in one transaction (all or nothing), stock as a difference. Rows
    /// whose fields are all equal are left alone (no revision, same `updated_at`).
    public static func upsert(_ c: PostgresConnection, _ books: [Book]) throws -> CatalogImportSummary {
        var seen = Set<String>()
        for book in books {
            try validate(book)
            guard seen.insert(book.id).inserted else { throw StorageError("book \"\(book.id)\" appears twice") }
        }
        guard !books.isEmpty else { return CatalogImportSummary(inserted: 0, updated: 0, unchanged: 0) }
        // Id order makes concurrent writers lock rows in the same order.
        let sorted = books.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
        return try c.transaction { c in
            try lockWrites(c)
            var summary = CatalogImportSummary(inserted: 0, updated: 0, unchanged: 0)
            for start in stride(from: 0, to: sorted.count, by: batchSize) {
                let batch = sorted[start..<min(start + batchSize, sorted.count)]
                let rows = try c.query("select \(columns) from books where id = any($1::text[]) order by id collate \"C\" for update",
                                       [PostgresArray.literal(batch.map(\.id))]).rows
                let stored = Dictionary(try rows.map(record).map { ($0.book.id, $0) }, uniquingKeysWith: { a, _ in a })
                var inserts: [Book] = []
                var rewrites: [(book: Book, delta: Int64)] = []
                for book in batch {
                    guard let old = stored[book.id] else {
                        inserts.append(book)
                        continue
                    }
                    var same = book
                    same.revision = old.book.revision
                    if !old.deleted && same == old.book {
                        summary.unchanged += 1
                        continue
                    }
                    if old.deleted { summary.inserted += 1 } else { summary.updated += 1 }
                    rewrites.append((book, book.stock - old.book.stock))
                }
                summary.inserted += inserts.count
                try checkReserved(c, rewrites)
                try recordAdjustments(c, inserts.map { ($0.id, $0.stock) } + rewrites.map { ($0.book.id, $0.delta) })
                if !inserts.isEmpty {
                    try c.query("""
                        insert into books (id, title, author, price_cents, stock)
                        select * from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
                        """,
                        [PostgresArray.literal(inserts.map(\.id)), PostgresArray.literal(inserts.map(\.title)), PostgresArray.literal(inserts.map(\.author)),
                         PostgresArray.literal(inserts.map(\.priceCents)), PostgresArray.literal(inserts.map(\.stock))])
                }
                if !rewrites.isEmpty {
                    try c.query("""
                        update books b set title = u.title, author = u.author, price_cents = u.price_cents,
                            stock = b.stock + u.delta, deleted_at = null, revision = \(nextRevision), updated_at = now()
                        from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) as u(id, title, author, price_cents, delta)
                        where b.id = u.id
                        """,
                        [PostgresArray.literal(rewrites.map(\.book.id)), PostgresArray.literal(rewrites.map(\.book.title)),
                         PostgresArray.literal(rewrites.map(\.book.author)), PostgresArray.literal(rewrites.map(\.book.priceCents)),
                         PostgresArray.literal(rewrites.map(\.delta))])
                }
            }
            return summary
        }
    }

    /// The highest revision already walked into Redis.
    public static func syncCursor(_ c: PostgresConnection) throws -> Int64 {
        guard let value = try c.query("select revision from catalog_sync").rows.first?.first.flatMap({ $0 }).flatMap({ Int64($0) }) else {
            throw StorageError("catalog_sync has no cursor row")
        }
        return value
    }

    /// Moves the cursor forward (never back).
    public static func advanceSyncCursor(_ c: PostgresConnection, to revision: Int64) throws {
        try c.query("update catalog_sync set revision = greatest(revision, $1::bigint)", [String(revision)])
    }

    // MARK: Helpers

    private static func lockWrites(_ c: PostgresConnection) throws {
        try c.query("select pg_advisory_xact_lock($1::bigint)", [String(writeLockKey)])
    }

    /// Throws `StockBelowReserved` for the first book whose stock goes down below the units
    /// of its PAYMENT_PENDING orders. The book rows are locked already, so a payment
    /// (which lowers the stock in its own transaction) waits for this one.
    private static func checkReserved(_ c: PostgresConnection, _ changes: [(book: Book, delta: Int64)]) throws {
        let lowered = changes.filter { $0.delta < 0 }
        guard !lowered.isEmpty else { return }
        var reserved: [String: Int64] = [:]
        for row in try c.query("""
            select i.book_id, sum(i.quantity) from order_items i join orders o on o.id = i.order_id
            where o.status = 'PAYMENT_PENDING' and i.book_id = any($1::text[]) group by i.book_id
            """, [PostgresArray.literal(lowered.map(\.book.id))]).rows {
            if let id = row[0], let units = row[1].flatMap({ Int64($0) }) { reserved[id] = units }
        }
        for (book, _) in lowered where book.stock < reserved[book.id, default: 0] {
            throw StockBelowReserved(bookId: book.id, stock: book.stock, reserved: reserved[book.id, default: 0])
        }
    }

    private static func validate(_ book: Book) throws {
        // The database only checks signs; the domain limits protect cart arithmetic.
        if let problem = book.validationProblem { throw StorageError("book \"\(book.id)\": \(problem)") }
    }

    /// Records stock changes for the Redis available counters (`stock_adjustments`);
    /// zero deltas are left out. Called under the catalog write lock, in the transaction
    /// that changes `books.stock`, so adjustment ids commit in order.
    static func recordAdjustments(_ c: PostgresConnection, _ changes: [(bookId: String, delta: Int64)]) throws {
        let real = changes.filter { $0.delta != 0 }
        guard !real.isEmpty else { return }
        try c.query("insert into stock_adjustments (book_id, delta) select * from unnest($1::text[], $2::bigint[])",
                    [PostgresArray.literal(real.map(\.bookId)), PostgresArray.literal(real.map(\.delta))])
    }

    /// Writes every field of a stored (live or deleted) book, live afterwards, at a new revision.
    private static func rewrite(_ c: PostgresConnection, _ book: Book, stockDelta: Int64) throws -> Book {
        try recordAdjustments(c, [(book.id, stockDelta)])
        return try record(c.query("""
            update books set title = $2, author = $3, price_cents = $4::bigint, stock = stock + $5::bigint,
                deleted_at = null, revision = \(nextRevision), updated_at = now()
            where id = $1 returning \(columns)
            """, [book.id, book.title, book.author, String(book.priceCents), String(stockDelta)]).rows[0]).book
    }

    private static func record(_ row: [String?]) throws -> CatalogRecord {
        guard row.count == 7, let id = row[0], let title = row[1], let author = row[2],
              let price = row[3].flatMap({ Int64($0) }), let stock = row[4].flatMap({ Int64($0) }),
              let revision = row[5].flatMap({ Int64($0) }), let deleted = row[6]
        else { throw StorageError("unreadable books row \(row)") }
        return CatalogRecord(book: Book(id: id, title: title, author: author, priceCents: price, stock: stock, revision: revision), deleted: deleted == "t")
    }
}
