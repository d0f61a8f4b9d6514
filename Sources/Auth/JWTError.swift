public enum JWTError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed
    case oversized
    case unsupportedAlgorithm
    case badSignature
    case expired
    case notYetValid
    case missingClaim(String)
    case invalidClaim(String)

    public var message: String {
        switch self {
        case .malformed: "token is malformed"
        case .oversized: "token is too large"
        case .unsupportedAlgorithm: "token algorithm is not HS256"
        case .badSignature: "token signature is invalid"
        case .expired: "token has expired"
        case .notYetValid: "token is not valid yet"
        case .missingClaim(let name): "token is missing the \"\(name)\" claim"
        case .invalidClaim(let name): "token has an invalid \"\(name)\" claim"
        }
    }

    public var description: String { message }
}

/// The signing secret is too short to resist brute force.
public struct JWTSecretError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String

    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}
