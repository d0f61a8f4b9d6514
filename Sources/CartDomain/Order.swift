import JSON

/// Where an order stands. PAYMENT_PENDING → CONFIRMED | CANCELLED | EXPIRED;
/// CONFIRMED → SHIPPED → DELIVERED. Nothing else (web-client-protocol.md §12).
public enum OrderStatus: String, Sendable, CaseIterable {
    case paymentPending = "PAYMENT_PENDING"
    case confirmed = "CONFIRMED"
    case cancelled = "CANCELLED"
    case expired = "EXPIRED"
    case shipped = "SHIPPED"
    case delivered = "DELIVERED"

    /// The statuses this one may move to.
    public var successors: Set<OrderStatus> {
        switch self {
        case .paymentPending: [.confirmed, .cancelled, .expired]
        case .confirmed: [.shipped]
        case .shipped: [.delivered]
        case .cancelled, .expired, .delivered: []
        }
    }

    public func canMove(to next: OrderStatus) -> Bool { successors.contains(next) }
}

/// One line of an order: the book, its title and price as ordered.
public struct OrderItem: Sendable, Equatable {
    public var bookId: String
    public var title: String
    public var unitPriceCents: Int64
    public var quantity: Int64

    public init(bookId: String, title: String, unitPriceCents: Int64, quantity: Int64) {
        self.bookId = bookId
        self.title = title
        self.unitPriceCents = unitPriceCents
        self.quantity = quantity
    }

    public var lineTotalCents: Int64 { unitPriceCents * quantity }
}

/// An order as every reply and `order.updated` event carries it (ORDER).
public struct Order: Sendable, Equatable {
    public var id: String
    public var userId: String
    public var status: OrderStatus
    public var items: [OrderItem]
    public var totalCents: Int64
    public var createdAtMs: Int64
    public var updatedAtMs: Int64
    public var expiresAtMs: Int64
    public var paymentRef: String?

    public init(id: String, userId: String, status: OrderStatus, items: [OrderItem], totalCents: Int64, createdAtMs: Int64, updatedAtMs: Int64,
                expiresAtMs: Int64, paymentRef: String?) {
        self.id = id
        self.userId = userId
        self.status = status
        self.items = items
        self.totalCents = totalCents
        self.createdAtMs = createdAtMs
        self.updatedAtMs = updatedAtMs
        self.expiresAtMs = expiresAtMs
        self.paymentRef = paymentRef
    }

    /// `o-` and 13 base36 digits of randomness (64 bits).
    public static func newId() -> String {
        let digits = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        return "o-" + String(repeating: "0", count: max(0, 13 - digits.count)) + digits
    }

    /// Order ids in URLs and messages: the shape of ids (`Identifier.isValidBookId`).
    public static func isValidId(_ id: String) -> Bool { Identifier.isValidBookId(id) }

    /// ORDER: `{"id","userId","status","items":[…],"totalCents","createdAt","updatedAt","expiresAt","paymentRef"}`.
    public var json: String {
        var out = #"{"id":"#
        JSONString.appendQuoted(id, to: &out)
        out += #","userId":"#
        JSONString.appendQuoted(userId, to: &out)
        out += #","status":""# + status.rawValue + #"","items":["#
        for (i, item) in items.enumerated() {
            if i > 0 { out += "," }
            out += #"{"bookId":"#
            JSONString.appendQuoted(item.bookId, to: &out)
            out += #","title":"#
            JSONString.appendQuoted(item.title, to: &out)
            out += #","unitPriceCents":\#(item.unitPriceCents),"quantity":\#(item.quantity),"lineTotalCents":\#(item.lineTotalCents)}"#
        }
        out += #"],"totalCents":\#(totalCents),"createdAt":""# + Timestamp.iso8601(milliseconds: createdAtMs)
        out += #"","updatedAt":""# + Timestamp.iso8601(milliseconds: updatedAtMs)
        out += #"","expiresAt":""# + Timestamp.iso8601(milliseconds: expiresAtMs) + #"","paymentRef":"#
        if let paymentRef { JSONString.appendQuoted(paymentRef, to: &out) } else { out += "null" }
        out += "}"
        return out
    }

    /// `{"type":"order.updated","order":ORDER}`, published on the user's room.
    public var updatedEvent: String { #"{"type":"order.updated","order":"# + json + "}" }
}

/// A page of orders, newest first, and the cursor of the next page (nil: the last page).
public struct OrderPage: Sendable, Equatable {
    public var orders: [Order]
    public var nextCursor: String?

    public init(orders: [Order], nextCursor: String?) {
        self.orders = orders
        self.nextCursor = nextCursor
    }

    /// `{"orders":[ORDER…],"nextCursor":…}`.
    public var json: String {
        var out = #"{"orders":["# + orders.map(\.json).joined(separator: ",") + #"],"nextCursor":"#
        if let nextCursor { JSONString.appendQuoted(nextCursor, to: &out) } else { out += "null" }
        return out + "}"
    }

    public static let maxLimit = 100
    public static let defaultLimit = 20

    /// A cursor names the last order of a page: `<created µs>.<order id>`.
    public static func cursor(createdAtMicros: Int64, id: String) -> String { "\(createdAtMicros).\(id)" }

    public static func parseCursor(_ cursor: String) -> (createdAtMicros: Int64, id: String)? {
        guard let dot = cursor.firstIndex(of: "."), let micros = Int64(cursor[..<dot]) else { return nil }
        let id = String(cursor[cursor.index(after: dot)...])
        return Order.isValidId(id) ? (micros, id) : nil
    }
}
