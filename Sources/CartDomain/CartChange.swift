import JSON

/// An add, quantity change or removal that a hub computes itself from the cart its user's
/// room last showed, byte for byte as lua/cart.lua would make it, sent along with the
/// command for lua/commit.lua to commit if the cart is still exactly that one. Lua building
/// the cart's JSON was most of what a change cost Redis; Swift builds it for a fraction of
/// that, and off Redis's thread.
///
/// `init` gives nil whenever lua/cart.lua must decide: any refusal (limits, stock, a book
/// not in the cart, with the outcome it remembers), clearing and every other command.
public struct CartChange: Sendable {
    /// The cart after the change.
    public let state: CartState
    /// Its snapshot JSON: the reply's cart.
    public let cart: String
    /// ARGV 18.. of lua/cart.lua (see lua/commit.lua), after the command's own.
    public let args: [String]

    public init?(command: CartCommand, from old: CartState, userId: String, requestId: String, connectionId: String?, via: String,
                 nowMs: Int64, limits: CartLimits, book: Book?) {
        let bookId: String, newQuantity: Int64
        var items = Array(old.items.utf8)
        let line = LineAt(items, bookId: command.bookId ?? "")
        switch command {
        case .add(let id, let quantity):
            bookId = id
            newQuantity = line.quantity + quantity
            guard newQuantity <= limits.maxQuantity else { return nil }
            if line.start == nil, Self.lineCount(items) >= limits.maxLines { return nil }
        case .setQuantity(let id, let quantity):
            bookId = id
            newQuantity = quantity
            guard line.start != nil else { return nil }
        case .remove(let id):
            bookId = id
            newQuantity = 0
            guard line.start != nil else { return nil }
        case .get, .clear, .deduct:
            return nil
        }
        let stock = book?.stock ?? 0
        guard !bookId.isEmpty, newQuantity <= line.quantity || newQuantity <= stock else { return nil }

        var total = old.totalCents - line.lineTotal, count = old.itemCount - line.quantity
        let lineJSON: String, indexChange: String
        var job = ["u", userId]
        if newQuantity == 0 {
            guard let start = line.start else { return nil }
            if let next = line.next {
                items.removeSubrange(start...next)
            } else {
                items.removeSubrange(max(start - 1, 0)..<items.count)
            }
            lineJSON = ""
            indexChange = "-"
            job += ["op", "remove", "b", bookId]
        } else {
            guard let book else { return nil }
            lineJSON = Self.line(bookId: bookId, title: book.title, priceCents: book.priceCents, quantity: newQuantity, stock: stock)
            let bytes = Array(lineJSON.utf8)
            if let start = line.start {
                items.replaceSubrange(start..<(line.next ?? items.count), with: bytes)
                indexChange = ""
            } else if let before = Self.firstLine(after: bookId, in: items) {
                items.insert(contentsOf: bytes + [UInt8(ascii: ",")], at: before)
                indexChange = "+"
            } else {
                items += items.isEmpty ? bytes : [UInt8(ascii: ",")] + bytes
                indexChange = "+"
            }
            total += newQuantity * book.priceCents
            count += newQuantity
            job += ["op", "put", "b", bookId, "q", String(newQuantity), "p", String(book.priceCents), "t", book.title]
        }
        var updatedAt = ""
        JSONString.appendQuoted(Timestamp.iso8601(milliseconds: nowMs), to: &updatedAt, escaping: .redisLua)
        let state = CartState(epoch: old.epoch, version: old.version + 1, totalCents: total, itemCount: count, updatedAt: updatedAt,
                              items: String(decoding: items, as: UTF8.self))
        job += ["e", state.epoch, "v", String(state.version), "tot", String(total), "at", String(nowMs)]

        self.state = state
        cart = state.snapshot(userId: userId)
        var event = #"{"type":"cart.updated","cart":"# + cart + #","origin":{"requestId":"#
        JSONString.appendQuoted(requestId, to: &event, escaping: .redisLua)
        event += #","connectionId":"#
        if let connectionId {
            JSONString.appendQuoted(connectionId, to: &event, escaping: .redisLua)
        } else {
            event += "null"
        }
        event += #","via":"#
        JSONString.appendQuoted(via, to: &event, escaping: .redisLua)
        event += "}}"

        args = [
            old.epoch, String(old.version), String(state.version), lineJSON, indexChange,
            String(total), String(count), updatedAt, state.items, event,
        ] + job
    }

    /// A line's JSON as `encodeLine` in lua/cartlib.lua writes it: `available` (the stock)
    /// only when the line holds more than the stock.
    static func line(bookId: String, title: String, priceCents: Int64, quantity: Int64, stock: Int64) -> String {
        var json = #"{"bookId":"#
        JSONString.appendQuoted(bookId, to: &json, escaping: .redisLua)
        json += #","title":"#
        JSONString.appendQuoted(title, to: &json, escaping: .redisLua)
        json += #","unitPriceCents":"# + String(priceCents) + #","quantity":"# + String(quantity)
        json += #","lineTotalCents":"# + String(quantity * priceCents)
        if quantity > stock { json += #","available":"# + String(stock) }
        return json + "}"
    }

    private static let lineStart = Array(#"{"bookId":""#.utf8)

    /// How many lines items holds. A title's quotes are escaped, so only a line starts so.
    static func lineCount(_ items: [UInt8]) -> Int {
        var count = 0, from = items.startIndex
        while let found = items[from...].firstRange(of: lineStart) {
            count += 1
            from = found.upperBound
        }
        return count
    }

    /// Where the first line whose bookId sorts after `bookId` (bytewise, as Lua compares)
    /// starts: a new line goes in front of it.
    static func firstLine(after bookId: String, in items: [UInt8]) -> Int? {
        var from = items.startIndex
        while let found = items[from...].firstRange(of: lineStart) {
            let idEnd = items[found.upperBound...].firstIndex(of: UInt8(ascii: "\"")) ?? items.endIndex
            if items[found.upperBound..<idEnd].lexicographicallyPrecedes(bookId.utf8) == false, !items[found.upperBound..<idEnd].elementsEqual(bookId.utf8) {
                return found.lowerBound
            }
            from = found.upperBound
        }
        return nil
    }
}

/// A book's line in a cart's items JSON, found as lua/cart.lua finds it.
struct LineAt {
    /// Where it starts, and where the comma before the next line is (nil: the last line).
    var start: Int?
    var next: Int?
    var quantity: Int64 = 0
    var lineTotal: Int64 = 0

    init(_ items: [UInt8], bookId: String) {
        guard !bookId.isEmpty else { return }
        var head = #"{"bookId":"#
        JSONString.appendQuoted(bookId, to: &head, escaping: .redisLua)
        guard let found = items.firstRange(of: Array((head + ",").utf8)) else { return }
        start = found.lowerBound
        next = items[found.lowerBound...].firstRange(of: Array(#",{"bookId":"#.utf8))?.lowerBound
        // `,"quantity":` cannot occur inside the title, whose quotes are escaped.
        guard let q = items[found.lowerBound...].firstRange(of: Array(#","quantity":"#.utf8)) else { return }
        var at = q.upperBound
        quantity = Self.number(items, &at)
        let totalMarker = Array(#","lineTotalCents":"#.utf8)
        if items[at...].starts(with: totalMarker) {
            at += totalMarker.count
            lineTotal = Self.number(items, &at)
        }
    }

    private static func number(_ items: [UInt8], _ at: inout Int) -> Int64 {
        var value: Int64 = 0
        while at < items.count, items[at] >= UInt8(ascii: "0"), items[at] <= UInt8(ascii: "9") {
            value = value &* 10 &+ Int64(items[at] - UInt8(ascii: "0"))
            at += 1
        }
        return value
    }
}
