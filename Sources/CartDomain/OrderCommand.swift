import JSON

/// An order command over the socket (web-client-protocol.md §12).
public enum OrderCommand: Sendable, Equatable {
    /// Checks out the cart; the same key returns the same order.
    case create(idempotencyKey: String)
    case cancel(orderId: String)
    case get(orderId: String)
    case list(limit: Int, cursor: String?)

    public var type: String {
        switch self {
        case .create: "order.create"
        case .cancel: "order.cancel"
        case .get: "order.get"
        case .list: "order.list"
        }
    }

    /// Validates `order.*` fields (a socket frame); every failure names the field at fault.
    public static func parse(_ object: [String: JSONValue]) -> Result<OrderCommand, CartError> {
        do throws(CartError) {
            switch object["type"]?.stringValue {
            case "order.create":
                guard let key = object["idempotencyKey"]?.stringValue, isValidKey(key) else {
                    throw CartError(.badRequest, "idempotencyKey must be a string of 1-\(CartLimits.maxRequestIdLength) characters")
                }
                return .success(.create(idempotencyKey: key))
            case "order.cancel": return .success(.cancel(orderId: try orderId(object)))
            case "order.get": return .success(.get(orderId: try orderId(object)))
            case "order.list":
                let limit = try self.limit(object["limit"]?.intValue.map(String.init) ?? (object["limit"] == nil ? nil : "x"))
                var cursor: String?
                if let value = object["cursor"], value != .null {
                    guard let text = value.stringValue, OrderPage.parseCursor(text) != nil else { throw CartError(.badRequest, "cursor must be a nextCursor of an earlier page") }
                    cursor = text
                }
                return .success(.list(limit: limit, cursor: cursor))
            default:
                throw CartError(.badRequest, "unknown type \(JSONString.quoted(String((object["type"]?.stringValue ?? "").prefix(64))))")
            }
        } catch {
            return .failure(error)
        }
    }

    /// An idempotency key: 1-64 characters, like a requestId.
    public static func isValidKey(_ key: String) -> Bool { CommandParser.isValidRequestId(key) }

    /// A page size from its text (nil: the default), 1...OrderPage.maxLimit.
    public static func limit(_ text: String?) throws(CartError) -> Int {
        guard let text else { return OrderPage.defaultLimit }
        guard let n = Int(text), (1...OrderPage.maxLimit).contains(n) else {
            throw CartError(.badRequest, "limit must be an integer from 1 to \(OrderPage.maxLimit)")
        }
        return n
    }

    static func orderId(_ object: [String: JSONValue]) throws(CartError) -> String {
        guard let id = object["orderId"]?.stringValue, Order.isValidId(id) else {
            throw CartError(.badRequest, "orderId must be a string of 1-64 characters of A-Z a-z 0-9 _ . -")
        }
        return id
    }
}
