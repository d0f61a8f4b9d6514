/// A catalog entry as the hub caches it. Money is integer cents.
public struct Book: Sendable, Equatable {
    public var id: String
    public var title: String
    public var author: String
    public var priceCents: Int64
    public var stock: Int64

    public init(id: String, title: String, author: String, priceCents: Int64, stock: Int64) {
        self.id = id
        self.title = title
        self.author = author
        self.priceCents = priceCents
        self.stock = stock
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
