import CryptoPrimitives

/// Password hashes as stored in `users.password_hash`:
/// `pbkdf2-sha256$ITERATIONS$SALT$HASH`, salt and hash in unpadded base64url.
/// PBKDF2-HMAC-SHA256 from OpenSSL with a random 16-byte salt per hash. Slow on
/// purpose (~0.1–0.5 s): never call it on the event loop.
public enum PasswordHash {
    public static let scheme = "pbkdf2-sha256"
    public static let defaultIterations = 600_000
    public static let saltBytes = 16
    public static let hashBytes = 32
    /// Refuse stored hashes asking for absurd work (a damaged or hostile row).
    static let maxIterations = 10_000_000

    public static func make(password: String, iterations: Int = defaultIterations) -> String {
        let salt = SecureRandom.bytes(saltBytes)
        let hash = derive(password, salt: salt, iterations: iterations, length: hashBytes)
        return "\(scheme)$\(iterations)$\(Base64URL.encode(salt))$\(Base64URL.encode(hash))"
    }

    /// True when `password` matches `stored`; false for a wrong password or an unreadable hash.
    /// The comparison takes the same time whatever the bytes.
    public static func verify(password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == scheme, let iterations = Int(parts[1]), (1...maxIterations).contains(iterations),
            let salt = Base64URL.decode(parts[2]), let expected = Base64URL.decode(parts[3]), !expected.isEmpty, expected.count <= 64
        else { return false }
        return ConstantTime.equals(derive(password, salt: salt, iterations: iterations, length: expected.count), expected)
    }

    /// Spends what a real verification costs, for logins of unknown emails: their
    /// answer then takes as long as a wrong password's, so timing tells nothing.
    public static func verifyNothing(password: String) {
        _ = derive(password, salt: decoySalt, iterations: defaultIterations, length: hashBytes)
    }

    private static let decoySalt = [UInt8](repeating: 0x5A, count: saltBytes)

    private static func derive(_ password: String, salt: [UInt8], iterations: Int, length: Int) -> [UInt8] {
        PBKDF2.sha256(password: Array(password.utf8), salt: salt, iterations: iterations, length: length)
    }
}

/// Unguessable identifiers and secrets from the CSPRNG.
public enum RandomToken {
    /// `prefix` then 20 base36 characters (~103 bits): user ids (`u-`), session ids (`s-`).
    public static func identifier(prefix: String) -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
        // 0...251 keeps each byte mod 36 unbiased (252 = 7 × 36).
        var out: [UInt8] = []
        while out.count < 20 {
            for byte in SecureRandom.bytes(24) where byte < 252 && out.count < 20 {
                out.append(alphabet[Int(byte % 36)])
            }
        }
        return prefix + String(decoding: out, as: UTF8.self)
    }

    /// 32 random bytes in base64url (43 characters): refresh tokens.
    public static func secret() -> String {
        Base64URL.encode(SecureRandom.bytes(32))
    }

    /// Hex SHA-256 of a token, the only form in which it is stored.
    public static func digest(_ token: String) -> String {
        Hex.encode(SHA256.hash(Array(token.utf8)))
    }
}
