internal import COpenSSL

public enum ConstantTime {
    /// Compares in time that depends only on the lengths, so a MAC check leaks nothing
    /// about how many leading bytes matched.
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withNonNullBytes { a in
            b.withNonNullBytes { b in CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0 }
        }
    }
}
