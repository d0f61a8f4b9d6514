import CryptoPrimitives
import JSON

/// Signs and verifies HS256 JSON Web Tokens (RFC 7519) carrying `JWTClaims`.
public struct JWTCodec: Sendable {
    public static let minimumSecretBytes = 32
    public static let maximumTokenBytes = 4096

    /// Base64url of exactly `{"alg":"HS256","typ":"JWT"}`.
    private static let encodedHeader = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))

    private let secret: [UInt8]

    public init(secret: [UInt8]) throws(JWTSecretError) {
        guard secret.count >= Self.minimumSecretBytes else {
            throw JWTSecretError(message: "JWT secret must be at least \(Self.minimumSecretBytes) bytes, got \(secret.count)")
        }
        self.secret = secret
    }

    public func sign(_ claims: JWTClaims) -> String {
        let signingInput = Self.encodedHeader + "." + Base64URL.encode(Array(claims.json.encoded.utf8))
        return signingInput + "." + Base64URL.encode(signature(of: Array(signingInput.utf8)[...]))
    }

    /// Checks size, structure, header and signature before reading any claim,
    /// so nothing from an unauthenticated payload is interpreted.
    public func verify(_ token: String, now: Int64) throws(JWTError) -> JWTClaims {
        let bytes = Array(token.utf8)
        guard bytes.count <= Self.maximumTokenBytes else { throw .oversized }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else { throw .malformed }

        try Self.checkHeader(Self.decodeObject(parts[0]))

        guard let signature = Base64URL.decode(utf8: parts[2]) else { throw .malformed }
        let signingInput = bytes[..<parts[1].endIndex]
        guard ConstantTime.equals(self.signature(of: signingInput), signature) else { throw .badSignature }

        let claims = try JWTClaims(payload: Self.decodeObject(parts[1]))
        guard now < claims.expiresAt else { throw .expired }
        if let notBefore = claims.notBefore, notBefore > now { throw .notYetValid }
        return claims
    }

    private func signature(of signingInput: ArraySlice<UInt8>) -> [UInt8] {
        signingInput.withUnsafeBytes { HMACSHA256.authenticationCode(key: secret, message: $0) }
    }

    private static func decodeObject(_ part: ArraySlice<UInt8>) throws(JWTError) -> [String: JSONValue] {
        guard let json = Base64URL.decode(utf8: part),
              let object = try? JSONValue.parse(json).objectValue else { throw .malformed }
        return object
    }

    private static func checkHeader(_ header: [String: JSONValue]) throws(JWTError) {
        // Exact match only: "none", other HMAC sizes and asymmetric algorithms are all refused.
        guard header["alg"] == .string("HS256") else { throw .unsupportedAlgorithm }
        if let type = header["typ"], type != .string("JWT") { throw .malformed }
        // We understand no extensions, and RFC 7515 §4.1.11 requires rejecting unknown critical ones.
        guard header["crit"] == nil else { throw .malformed }
    }
}
