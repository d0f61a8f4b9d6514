internal import COpenSSL

public enum SecureRandom {
    /// Cryptographically secure random bytes; traps if the CSPRNG cannot deliver,
    /// because continuing with weak randomness would be worse than stopping.
    public static func bytes(_ count: Int) -> [UInt8] {
        precondition((0...Int(Int32.max)).contains(count), "invalid random byte count \(count)")
        return [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            if count > 0, RAND_bytes(output.baseAddress, Int32(count)) != 1 {
                fatalError("OpenSSL RAND_bytes failed")
            }
            initialized = count
        }
    }
}
