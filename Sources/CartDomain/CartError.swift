/// Stable error codes of the client protocol (web-client-protocol.md lists each).
public enum ErrorCode: String, Sendable, CaseIterable {
    case badRequest = "BAD_REQUEST"
    case notFound = "NOT_FOUND"
    case methodNotAllowed = "METHOD_NOT_ALLOWED"
    case payloadTooLarge = "PAYLOAD_TOO_LARGE"
    case unsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
    case conflict = "CONFLICT"
    case emailTaken = "EMAIL_TAKEN"
    case weakPassword = "WEAK_PASSWORD"
    case invalidCredentials = "INVALID_CREDENTIALS"
    case unauthorized = "UNAUTHORIZED"
    case forbidden = "FORBIDDEN"
    case bookNotFound = "BOOK_NOT_FOUND"
    case insufficientStock = "INSUFFICIENT_STOCK"
    case quantityLimit = "QUANTITY_LIMIT"
    case cartLimit = "CART_LIMIT"
    case notInCart = "NOT_IN_CART"
    case orderNotFound = "ORDER_NOT_FOUND"
    case cartEmpty = "CART_EMPTY"
    case cartChanged = "CART_CHANGED"
    case illegalTransition = "ILLEGAL_TRANSITION"
    case latePayment = "LATE_PAYMENT"
    case badSignature = "BAD_SIGNATURE"
    case rateLimited = "RATE_LIMITED"
    case unavailable = "UNAVAILABLE"
    case shuttingDown = "SHUTTING_DOWN"
    case `internal` = "INTERNAL"
}

extension ErrorCode {
    /// The HTTP status a REST response carries for this code.
    public var httpStatus: Int {
        switch self {
        case .badRequest, .weakPassword: 400
        case .unauthorized, .invalidCredentials, .badSignature: 401
        case .forbidden: 403
        case .notFound, .bookNotFound, .notInCart, .orderNotFound: 404
        case .methodNotAllowed: 405
        case .conflict, .emailTaken, .insufficientStock, .quantityLimit, .cartLimit, .cartEmpty, .cartChanged, .illegalTransition, .latePayment: 409
        case .payloadTooLarge: 413
        case .unsupportedMediaType: 415
        case .rateLimited: 429
        case .internal: 500
        case .unavailable, .shuttingDown: 503
        }
    }
}

public struct CartError: Error, Equatable, Sendable {
    public var code: ErrorCode
    public var message: String
    /// A JSON value with machine-readable details (e.g. what CART_CHANGED changed), sent
    /// as the error's `details` member; nil for most errors.
    public var details: String?

    public init(_ code: ErrorCode, _ message: String, details: String? = nil) {
        self.code = code
        self.message = message
        self.details = details
    }
}
