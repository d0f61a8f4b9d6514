/// One page of the catalog: books in id order (byte-wise), optionally only those
/// whose title or author contains the query, case-insensitively.
public struct CatalogPage: Sendable, Equatable {
    public var books: [Book]
    /// The id to continue after, or nil on the last page.
    public var lastId: String?

    public static let maxLimit = 100
    public static let defaultLimit = 20
    public static let maxQueryLength = 100

    /// `sorted` must be ordered by id byte-wise.
    public init(sorted: [Book], query: String, after: String?, limit: Int) {
        var low = 0
        if let after {
            // First index whose id sorts after the cursor.
            var high = sorted.count
            while low < high {
                let mid = (low + high) / 2
                if after.utf8.lexicographicallyPrecedes(sorted[mid].id.utf8) { high = mid } else { low = mid + 1 }
            }
        }
        let needle = query.lowercased()
        var page: [Book] = []
        var index = low
        while index < sorted.count, page.count < limit {
            let book = sorted[index]
            if needle.isEmpty || book.title.lowercased().contains(needle) || book.author.lowercased().contains(needle) {
                page.append(book)
            }
            index += 1
        }
        books = page
        // A full page may be the last one; the next request then simply comes back empty.
        lastId = page.count == limit && index < sorted.count ? page.last?.id : nil
    }
}
