/// A catalog entry as the hub caches it. Money is integer cents.
public struct Book: Sendable, Equatable {
    public var id: String
    public var title: String
    public var author: String
    public var priceCents: Int64
    public var stock: Int64
    /// Postgres's `books.revision`: rises on every real change of the book (0 = not
    /// stored yet). The cart script refuses a write priced from an older revision than
    /// the catalog walk already took into the cart's shard.
    public var revision: Int64

    public init(id: String, title: String, author: String, priceCents: Int64, stock: Int64, revision: Int64 = 0) {
        self.id = id
        self.title = title
        self.author = author
        self.priceCents = priceCents
        self.stock = stock
        self.revision = revision
    }

    public static let maxTitleLength = 300
    public static let maxAuthorLength = 200
    /// Keeps every cart total far below the 2^53 range Lua numbers hold exactly.
    public static let maxPriceCents: Int64 = 10_000_000
    public static let maxStock: Int64 = 1_000_000_000

    /// Why this book may not enter the catalog, or nil when it may.
    public var validationProblem: String? {
        if !Identifier.isValidBookId(id) { return "id must be 1-64 characters of A-Z a-z 0-9 _ . -" }
        if title.isEmpty || title.count > Self.maxTitleLength { return "title must be 1-\(Self.maxTitleLength) characters" }
        if author.count > Self.maxAuthorLength { return "author must be at most \(Self.maxAuthorLength) characters" }
        if priceCents < 0 || priceCents > Self.maxPriceCents { return "priceCents must be an integer from 0 to \(Self.maxPriceCents)" }
        if stock < 0 || stock > Self.maxStock { return "stock must be an integer from 0 to \(Self.maxStock)" }
        return nil
    }
}

/// A change of some fields of one book (the admin API's PATCH). Nil fields stay.
public struct BookPatch: Sendable, Equatable {
    public var title: String?
    public var author: String?
    public var priceCents: Int64?
    /// The stock the caller wants; stored as a difference against the stored stock
    /// (see `CatalogStore.update`), never as an overwrite.
    public var stock: Int64?

    public init(title: String? = nil, author: String? = nil, priceCents: Int64? = nil, stock: Int64? = nil) {
        self.title = title
        self.author = author
        self.priceCents = priceCents
        self.stock = stock
    }

    /// `book` with the patch applied, and the stock difference to add to the stored
    /// stock; `changed` is false when every given field equals the stored one.
    public func applied(to book: Book) -> (book: Book, stockDelta: Int64, changed: Bool) {
        var patched = book
        if let title { patched.title = title }
        if let author { patched.author = author }
        if let priceCents { patched.priceCents = priceCents }
        if let stock { patched.stock = stock }
        return (patched, patched.stock - book.stock, patched != book)
    }
}

extension BookPatch {
    public var isEmpty: Bool { title == nil && author == nil && priceCents == nil && stock == nil }

    /// Why this patch may not be applied to any book, or nil: the book rules, checked
    /// on the fields it gives.
    public var validationProblem: String? {
        if isEmpty { return "give at least one of title, author, priceCents, stock" }
        let probe = Book(id: "probe", title: title ?? "probe", author: author ?? "", priceCents: priceCents ?? 0, stock: stock ?? 0)
        return probe.validationProblem
    }
}
