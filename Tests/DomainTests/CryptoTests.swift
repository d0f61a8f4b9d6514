import CryptoPrimitives
import Testing

@Suite("Crypto primitives")
struct CryptoTests {
    @Test func hmacSHA256RFC4231TestCase1() {
        let key = [UInt8](repeating: 0x0B, count: 20)
        let mac = HMACSHA256.authenticationCode(key: key, message: Array("Hi There".utf8))
        #expect(Hex.encode(mac) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }

    @Test func hmacSHA256RFC4231TestCase2() {
        let mac = HMACSHA256.authenticationCode(
            key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(Hex.encode(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func hmacSHA256RFC4231TestCase6KeyLongerThanBlock() {
        let key = [UInt8](repeating: 0xAA, count: 131)
        let message = Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)
        #expect(Hex.encode(HMACSHA256.authenticationCode(key: key, message: message))
            == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func hmacSHA256EmptyKeyAndMessage() {
        #expect(Hex.encode(HMACSHA256.authenticationCode(key: [], message: []))
            == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test func hmacSHA256RawBufferOverloadMatches() {
        let key = Array("Jefe".utf8)
        let message = Array("what do ya want for nothing?".utf8)
        let viaBuffer = message.withUnsafeBytes { HMACSHA256.authenticationCode(key: key, message: $0) }
        #expect(viaBuffer == HMACSHA256.authenticationCode(key: key, message: message))
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        #expect(HMACSHA256.authenticationCode(key: key, message: empty) == HMACSHA256.authenticationCode(key: key, message: []))
    }

    @Test func pbkdf2SHA256KnownVectors() {
        let password = Array("password".utf8), salt = Array("salt".utf8)
        #expect(Hex.encode(PBKDF2.sha256(password: password, salt: salt, iterations: 1, length: 32))
            == "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b")
        #expect(Hex.encode(PBKDF2.sha256(password: password, salt: salt, iterations: 4096, length: 32))
            == "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a")
        #expect(PBKDF2.sha256(password: password, salt: salt, iterations: 1, length: 16).count == 16)
    }

    @Test func pbkdf2AcceptsEmptyPasswordAndSalt() {
        let derived = PBKDF2.sha256(password: [], salt: [], iterations: 1, length: 32)
        #expect(derived.count == 32)
        #expect(derived == PBKDF2.sha256(password: [], salt: [], iterations: 1, length: 32))
    }

    @Test func sha256KnownVectors() {
        #expect(Hex.encode(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Hex.encode(SHA256.hash(Array("abc".utf8)))
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func constantTimeEquals() {
        #expect(ConstantTime.equals([], []))
        #expect(ConstantTime.equals([1, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2, 4]))
        #expect(!ConstantTime.equals([0, 2, 3], [1, 2, 3]))
        #expect(!ConstantTime.equals([1, 2, 3], [1, 2]))
        #expect(!ConstantTime.equals([], [0]))
    }

    @Test func secureRandomBytes() {
        #expect(SecureRandom.bytes(0).isEmpty)
        let first = SecureRandom.bytes(32), second = SecureRandom.bytes(32)
        #expect(first.count == 32)
        #expect(first != second)
    }

    @Test func hexEncodesLowercase() {
        #expect(Hex.encode([]) == "")
        #expect(Hex.encode([0x00, 0x0F, 0xA5, 0xFF]) == "000fa5ff")
    }
}
