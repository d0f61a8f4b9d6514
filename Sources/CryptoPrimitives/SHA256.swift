internal import COpenSSL

public enum SHA256 {
    public static let byteCount = 32

    public static func hash(_ data: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: byteCount) { output, initialized in
            var length: UInt32 = 0
            let result = data.withNonNullBytes { data in
                EVP_Digest(data.baseAddress, data.count, output.baseAddress, &length, EVP_sha256(), nil)
            }
            guard result == 1, length == byteCount else { fatalError("OpenSSL EVP_Digest failed") }
            initialized = byteCount
        }
    }
}
