import JSON

extension JWTClaims {
    var json: JSONValue {
        var members: [String: JSONValue] = ["sub": .string(subject), "exp": .int(expiresAt)]
        if let notBefore { members["nbf"] = .int(notBefore) }
        if let issuedAt { members["iat"] = .int(issuedAt) }
        if let role { members["role"] = .string(role) }
        if let sessionId { members["sid"] = .string(sessionId) }
        return .object(members)
    }

    /// Reads the claims of an already authenticated payload.
    init(payload: [String: JSONValue]) throws(JWTError) {
        guard let subjectValue = payload["sub"] else { throw .missingClaim("sub") }
        guard let subject = subjectValue.stringValue, Self.isIdentifier(subject) else { throw .invalidClaim("sub") }
        guard let expiresValue = payload["exp"] else { throw .missingClaim("exp") }
        guard let expiresAt = expiresValue.intValue else { throw .invalidClaim("exp") }
        self.init(subject: subject, expiresAt: expiresAt)
        notBefore = try Self.optional("nbf", in: payload, as: \.intValue)
        issuedAt = try Self.optional("iat", in: payload, as: \.intValue)
        role = try Self.optional("role", in: payload, as: \.stringValue)
        sessionId = try Self.optional("sid", in: payload, as: \.stringValue)
        if let sessionId, !Self.isIdentifier(sessionId) { throw .invalidClaim("sid") }
    }

    private static func optional<T>(
        _ name: String, in payload: [String: JSONValue], as extract: (JSONValue) -> T?
    ) throws(JWTError) -> T? {
        guard let value = payload[name] else { return nil }
        guard let typed = extract(value) else { throw .invalidClaim(name) }
        return typed
    }

    /// 1–64 characters of `[A-Za-z0-9_.@:-]`.
    private static func isIdentifier(_ text: String) -> Bool {
        let utf8 = text.utf8
        return (1...64).contains(utf8.count) && utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "@"), UInt8(ascii: ":"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }
}
