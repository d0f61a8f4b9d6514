internal import COpenSSL

public enum PBKDF2 {
    /// PBKDF2-HMAC-SHA256 (RFC 8018) producing `length` bytes.
    public static func sha256(password: [UInt8], salt: [UInt8], iterations: Int, length: Int) -> [UInt8] {
        let limit = Int(Int32.max)
        precondition((1...limit).contains(iterations), "PBKDF2 iterations must be positive")
        precondition((1...limit).contains(length), "PBKDF2 length must be positive")
        precondition(password.count <= limit && salt.count <= limit, "PBKDF2 input too long")
        return [UInt8](unsafeUninitializedCapacity: length) { output, initialized in
            let result = password.withNonNullBytes { password in
                salt.withNonNullBytes { salt in
                    password.withMemoryRebound(to: CChar.self) { password in
                        PKCS5_PBKDF2_HMAC(password.baseAddress, Int32(password.count),
                                          salt.baseAddress, Int32(salt.count), Int32(iterations),
                                          EVP_sha256(), Int32(length), output.baseAddress)
                    }
                }
            }
            guard result == 1 else { fatalError("OpenSSL PKCS5_PBKDF2_HMAC failed") }
            initialized = length
        }
    }
}
