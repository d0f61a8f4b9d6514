import JSON

/// A cart command as the hub executes it, whatever transport carried it.
public enum CartCommand: Sendable, Equatable {
    case get
    case add(bookId: String, quantity: Int64)
    case setQuantity(bookId: String, quantity: Int64)
    case remove(bookId: String)
    case clear
    /// Not a client command: a paid order's quantities leave the cart (the hub's
    /// payment webhook), as pairs in book order.
    case deduct([OrderItem])

    /// The protocol's `type` for this command; also the metrics label.
    public var type: String {
        switch self {
        case .get: "cart.get"
        case .add: "cart.add"
        case .setQuantity: "cart.setQuantity"
        case .remove: "cart.remove"
        case .clear: "cart.clear"
        case .deduct: "cart.deduct"
        }
    }

    /// The book this command touches, if any.
    public var bookId: String? {
        switch self {
        case .add(let id, _), .setQuantity(let id, _), .remove(let id): id
        case .get, .clear, .deduct: nil
        }
    }
}

/// What a socket frame asks for: a cart command or an order command.
public enum ClientCommand: Sendable, Equatable {
    case cart(CartCommand)
    case order(OrderCommand)

    public var type: String {
        switch self {
        case .cart(let command): command.type
        case .order(let command): command.type
        }
    }
}

/// One client frame: a command and the id its reply carries.
public struct ClientRequest: Sendable, Equatable {
    public var requestId: String
    public var command: ClientCommand

    public init(requestId: String, command: ClientCommand) {
        self.requestId = requestId
        self.command = command
    }
}

/// A frame that could not become a request; `requestId` is echoed when it was readable.
public struct RejectedFrame: Error, Equatable, Sendable {
    public var requestId: String?
    public var error: CartError
}

public enum CommandParser {
    /// Parses and validates one text frame. Every failure names the field at fault.
    public static func parse(_ frame: [UInt8], limits: CartLimits) -> Result<ClientRequest, RejectedFrame> {
        let value: JSONValue
        do {
            value = try JSONValue.parse(frame)
        } catch {
            return .failure(RejectedFrame(requestId: nil, error: CartError(.badRequest, "invalid JSON: \(error.message)")))
        }
        guard let object = value.objectValue else {
            return .failure(RejectedFrame(requestId: nil, error: CartError(.badRequest, "a message must be a JSON object")))
        }
        guard let requestId = object["requestId"]?.stringValue, isValidRequestId(requestId) else {
            let problem = object["requestId"] == nil ? "requestId is required" : "requestId must be a string of 1-\(CartLimits.maxRequestIdLength) characters"
            return .failure(RejectedFrame(requestId: nil, error: CartError(.badRequest, problem)))
        }
        let parsed: Result<ClientCommand, CartError> = object["type"]?.stringValue?.hasPrefix("order.") == true
            ? OrderCommand.parse(object).map(ClientCommand.order)
            : command(object, limits: limits).map(ClientCommand.cart)
        switch parsed {
        case .success(let command): return .success(ClientRequest(requestId: requestId, command: command))
        case .failure(let error): return .failure(RejectedFrame(requestId: requestId, error: error))
        }
    }

    /// Validates a command given as JSON fields (the socket's frame or a REST body).
    public static func command(_ object: [String: JSONValue], limits: CartLimits) -> Result<CartCommand, CartError> {
        guard let type = object["type"] else { return .failure(CartError(.badRequest, "type is required")) }
        guard let name = type.stringValue else { return .failure(CartError(.badRequest, "type must be a string")) }
        do {
            switch name {
            case "cart.get": return .success(.get)
            case "cart.clear": return .success(.clear)
            case "cart.remove": return .success(.remove(bookId: try bookId(object)))
            case "cart.add":
                let id = try bookId(object)
                return .success(.add(bookId: id, quantity: try quantity(object, minimum: 1, limits: limits)))
            case "cart.setQuantity":
                let id = try bookId(object)
                return .success(.setQuantity(bookId: id, quantity: try quantity(object, minimum: 0, limits: limits)))
            default:
                return .failure(CartError(.badRequest, "unknown type \(JSONString.quoted(String(name.prefix(64))))"))
            }
        } catch {
            return .failure(error)
        }
    }

    public static func isValidRequestId(_ id: String) -> Bool {
        let count = id.unicodeScalars.count
        return count >= 1 && count <= CartLimits.maxRequestIdLength
    }

    static func bookId(_ object: [String: JSONValue]) throws(CartError) -> String {
        guard let field = object["bookId"] else { throw CartError(.badRequest, "bookId is required") }
        guard let id = field.stringValue, Identifier.isValidBookId(id) else {
            throw CartError(.badRequest, "bookId must be a string of 1-64 characters of A-Z a-z 0-9 _ . -")
        }
        return id
    }

    static func quantity(_ object: [String: JSONValue], minimum: Int64, limits: CartLimits) throws(CartError) -> Int64 {
        guard let field = object["quantity"] else { throw CartError(.badRequest, "quantity is required") }
        guard let quantity = field.intValue, quantity >= minimum else {
            throw CartError(.badRequest, "quantity must be an integer from \(minimum) to \(limits.maxQuantity)")
        }
        guard quantity <= limits.maxQuantity else {
            throw CartError(.quantityLimit, "quantity may be at most \(limits.maxQuantity) per line")
        }
        return quantity
    }
}
