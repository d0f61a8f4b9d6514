internal import COpenSSL

/// HMAC-SHA256 via OpenSSL's one-shot `HMAC()`.
public enum HMACSHA256 {
    public static let byteCount = 32

    public static func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        message.withUnsafeBytes { authenticationCode(key: key, message: $0) }
    }

    public static func authenticationCode(key: [UInt8], message: UnsafeRawBufferPointer) -> [UInt8] {
        precondition(key.count <= Int(Int32.max), "HMAC key too long")
        return [UInt8](unsafeUninitializedCapacity: byteCount) { output, initialized in
            var length: UInt32 = 0
            let result = key.withNonNullBytes { key in
                message.withNonNullBytes { message in
                    HMAC(EVP_sha256(), key.baseAddress, Int32(key.count),
                         message.baseAddress, message.count, output.baseAddress, &length)
                }
            }
            guard result != nil, length == byteCount else { fatalError("OpenSSL HMAC-SHA256 failed") }
            initialized = byteCount
        }
    }
}
