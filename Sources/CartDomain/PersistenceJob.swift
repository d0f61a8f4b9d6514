/// Where a cart stands in its history; compared as (epoch, version).
public struct CartVersion: Sendable, Equatable, Comparable {
    public var epoch: Int64
    public var version: Int64

    public init(epoch: Int64, version: Int64) {
        self.epoch = epoch
        self.version = version
    }

    public static func < (a: CartVersion, b: CartVersion) -> Bool {
        (a.epoch, a.version) < (b.epoch, b.version)
    }
}

/// One line as Postgres keeps it.
public struct CartLineState: Sendable, Equatable {
    public var quantity: Int64
    public var unitPriceCents: Int64
    public var title: String

    public init(quantity: Int64, unitPriceCents: Int64, title: String) {
        self.quantity = quantity
        self.unitPriceCents = unitPriceCents
        self.title = title
    }
}

/// A persistence job from a shard's outbox stream, as the cart script wrote it:
/// the change and the cart's resulting (epoch, version, total).
public struct PersistenceJob: Sendable, Equatable {
    public enum Change: Sendable, Equatable {
        case put(bookId: String, line: CartLineState)
        case remove(bookId: String)
        case clear
        /// Several lines at one version (an order's quantities left the cart): the lines
        /// that remain, and the books whose lines went.
        case several(puts: [String: CartLineState], removes: [String])
    }

    public var entryId: String
    public var userId: String
    public var version: CartVersion
    public var totalCents: Int64
    public var updatedAtMs: Int64
    public var change: Change

    public init(entryId: String, userId: String, version: CartVersion, totalCents: Int64, updatedAtMs: Int64, change: Change) {
        self.entryId = entryId
        self.userId = userId
        self.version = version
        self.totalCents = totalCents
        self.updatedAtMs = updatedAtMs
        self.change = change
    }

    /// Reads a stream entry's fields (`u op b q p t e v tot at`); nil when any is
    /// missing or malformed, which makes the entry a poison entry.
    public init?(entryId: String, fields: [String: String]) {
        guard let user = fields["u"], Identifier.isValidUserId(user),
              let epoch = fields["e"].flatMap({ Int64($0) }), let version = fields["v"].flatMap({ Int64($0) }),
              let total = fields["tot"].flatMap({ Int64($0) }), let at = fields["at"].flatMap({ Int64($0) }),
              epoch >= 1, version >= 1, total >= 0
        else { return nil }
        let change: Change
        switch fields["op"] {
        case "clear":
            change = .clear
        case "remove":
            guard let book = fields["b"], Identifier.isValidBookId(book) else { return nil }
            change = .remove(bookId: book)
        case "several":
            guard let k = fields["k"].flatMap({ Int($0) }), (0...10_000).contains(k) else { return nil }
            var puts: [String: CartLineState] = [:]
            for i in stride(from: 1, through: k, by: 1) {
                guard let book = fields["b\(i)"], Identifier.isValidBookId(book),
                      let quantity = fields["q\(i)"].flatMap({ Int64($0) }), quantity > 0,
                      let price = fields["p\(i)"].flatMap({ Int64($0) }), price >= 0,
                      let title = fields["t\(i)"]
                else { return nil }
                puts[book] = CartLineState(quantity: quantity, unitPriceCents: price, title: title)
            }
            let removes = (fields["rm"] ?? "").split(separator: ",").map(String.init)
            guard removes.allSatisfy(Identifier.isValidBookId) else { return nil }
            change = .several(puts: puts, removes: removes)
        case "put":
            guard let book = fields["b"], Identifier.isValidBookId(book),
                  let quantity = fields["q"].flatMap({ Int64($0) }), quantity > 0,
                  let price = fields["p"].flatMap({ Int64($0) }), price >= 0,
                  let title = fields["t"]
            else { return nil }
            change = .put(bookId: book, line: CartLineState(quantity: quantity, unitPriceCents: price, title: title))
        default:
            return nil
        }
        self.init(entryId: entryId, userId: user, version: CartVersion(epoch: epoch, version: version), totalCents: total, updatedAtMs: at, change: change)
    }
}
