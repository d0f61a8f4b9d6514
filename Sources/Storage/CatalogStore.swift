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

/// The `books` table.
public enum CatalogStore {
    /// Rows per INSERT: 5 parameters each keeps a statement at 2,500 parameters, far under
    /// the protocol's 65,535 while still saving most round trips.
    static let batchSize = 500

    /// Every book, ordered by id byte-wise (`collate "C"`, independent of the database locale).
    public static func loadAll(_ c: PostgresConnection) throws -> [Book] {
        let result = try c.query("select id, title, author, price_cents, stock from books order by id collate \"C\"")
        return try result.rows.map { row in
            guard let id = row[0], let title = row[1], let author = row[2],
                let price = row[3].flatMap({ Int64($0) }), let stock = row[4].flatMap({ Int64($0) })
            else { throw StorageError("unreadable books row \(row)") }
            return Book(id: id, title: title, author: author, priceCents: price, stock: stock)
        }
    }

    /// Inserts new books and updates changed ones in one transaction (all or nothing).
    /// Rows whose fields are all equal are left alone, so their `updated_at` keeps
    /// saying when the book last really changed.
    public static func upsert(_ c: PostgresConnection, _ books: [Book]) throws -> CatalogImportSummary {
        var seen = Set<String>()
        for book in books {
            // The database only checks signs; the domain limits protect cart arithmetic.
            if let problem = book.validationProblem { throw StorageError("book \"\(book.id)\": \(problem)") }
            // A repeated id would hit ON CONFLICT twice in one statement, which Postgres rejects.
            guard seen.insert(book.id).inserted else { throw StorageError("book \"\(book.id)\" appears twice") }
        }
        guard !books.isEmpty else { return CatalogImportSummary(inserted: 0, updated: 0, unchanged: 0) }
        // Id order makes concurrent imports lock rows in the same order, so they cannot deadlock.
        let sorted = books.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
        return try c.transaction { c in
            var summary = CatalogImportSummary(inserted: 0, updated: 0, unchanged: 0)
            for start in stride(from: 0, to: sorted.count, by: batchSize) {
                let batch = sorted[start..<min(start + batchSize, sorted.count)]
                let params = batch.flatMap { [$0.id, $0.title, $0.author, String($0.priceCents), String($0.stock)] }
                let result = try c.query(upsertSQL(rowCount: batch.count), params)
                // RETURNING yields inserted and updated rows only; unchanged ones are skipped.
                let inserted = result.rows.count { $0.first == "t" }
                summary.inserted += inserted
                summary.updated += result.count - inserted
                summary.unchanged += batch.count - result.count
            }
            return summary
        }
    }

    /// The upsert for `rowCount` books. Only placeholders are generated here; values
    /// always travel as parameters.
    static func upsertSQL(rowCount: Int) -> String {
        let tuples = (0..<rowCount).map { row in
            let p = row * 5
            return "($\(p + 1), $\(p + 2), $\(p + 3), $\(p + 4)::bigint, $\(p + 5)::bigint)"
        }
        // xmax is 0 on a freshly inserted row version and non-zero on one written by the
        // DO UPDATE branch: the usual way to tell the two apart in RETURNING.
        return """
            insert into books (id, title, author, price_cents, stock)
            values \(tuples.joined(separator: ", "))
            on conflict (id) do update set
                title = excluded.title, author = excluded.author,
                price_cents = excluded.price_cents, stock = excluded.stock, updated_at = now()
            where (books.title, books.author, books.price_cents, books.stock)
                is distinct from (excluded.title, excluded.author, excluded.price_cents, excluded.stock)
            returning (xmax = 0) as inserted
            """
    }
}
