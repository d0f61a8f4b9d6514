/// Stable error codes of the client protocol (web-client-protocol.md lists each).
public enum ErrorCode: String, Sendable, CaseIterable {
    case badRequest = "BAD_REQUEST"
    case unauthorized = "UNAUTHORIZED"
    case forbidden = "FORBIDDEN"
    case bookNotFound = "BOOK_NOT_FOUND"
    case insufficientStock = "INSUFFICIENT_STOCK"
    case quantityLimit = "QUANTITY_LIMIT"
    case cartLimit = "CART_LIMIT"
    case notInCart = "NOT_IN_CART"
    case rateLimited = "RATE_LIMITED"
    case unavailable = "UNAVAILABLE"
    case shuttingDown = "SHUTTING_DOWN"
    case `internal` = "INTERNAL"
}

public struct CartError: Error, Equatable, Sendable {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}
