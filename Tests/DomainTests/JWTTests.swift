import Auth
import CryptoPrimitives
import Testing

@Suite("Base64URL")
struct Base64URLTests {
    @Test(arguments: [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(_ plain: String, _ encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test func usesTheURLSafeAlphabet() {
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64URL.decode("-_-_") == [0xFB, 0xFF, 0xBF])
        #expect(Base64URL.decode("abc-_w"[...]) != nil)
    }

    @Test func roundTripsEveryByte() {
        let bytes = (0...255).map { UInt8($0) }
        for length in 0...bytes.count {
            let prefix = Array(bytes[..<length])
            #expect(Base64URL.decode(Base64URL.encode(prefix)) == prefix)
        }
    }

    @Test(arguments: ["Zg==", "Zm8=", "Zm9v+", "Zm9v/", "Zm9v Zg", "Z", "Zm9vY", "Zh", "Zm9", "é"])
    func rejects(_ text: String) {
        #expect(Base64URL.decode(text) == nil)
    }
}

@Suite("JWT HS256")
struct JWTTests {
    static let secret = Array("0123456789abcdef0123456789abcdef".utf8)
    static let now: Int64 = 1_700_000_000
    let codec = try! JWTCodec(secret: Self.secret)

    /// Builds a token from raw JSON so tests can say things `sign` never would.
    private func token(header: String = #"{"alg":"HS256","typ":"JWT"}"#, payload: String, secret: [UInt8] = Self.secret) -> String {
        signed(Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8)), secret: secret)
    }

    private func signed(_ signingInput: String, secret: [UInt8] = Self.secret) -> String {
        let signature = HMACSHA256.authenticationCode(key: secret, message: Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    private func claims(_ token: String) throws(JWTError) -> JWTClaims {
        try codec.verify(token, now: Self.now)
    }

    private let validPayload = #"{"sub":"user-1","exp":1700000100}"#

    @Test func roundTripsAllClaims() throws {
        let claims = JWTClaims(subject: "alice@example.com", expiresAt: Self.now + 60, notBefore: Self.now - 5,
                               issuedAt: Self.now - 5, role: "admin", sessionId: "s:1_2.3-4")
        #expect(try codec.verify(codec.sign(claims), now: Self.now) == claims)
    }

    @Test func roundTripsMinimalClaims() throws {
        let claims = JWTClaims(subject: "u", expiresAt: Self.now + 1)
        #expect(try codec.verify(codec.sign(claims), now: Self.now) == claims)
    }

    @Test func signsWithTheStandardHeaderAndCompactPayload() throws {
        let token = codec.sign(JWTClaims(subject: "u1", expiresAt: 10, role: "r"))
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3)
        #expect(parts[0] == "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9")
        #expect(Base64URL.decode(parts[0]) == Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        #expect(Base64URL.decode(parts[1]) == Array(#"{"exp":10,"role":"r","sub":"u1"}"#.utf8))
        #expect(token == self.token(payload: #"{"exp":10,"role":"r","sub":"u1"}"#))
    }

    private static let externalToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        + ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
        + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    private static let externalSecret = Array("your-256-bit-secret".utf8)

    @Test func reproducesTheWellKnownExternalSignature() {
        let payload = #"{"sub":"1234567890","name":"John Doe","iat":1516239022}"#
        #expect(token(payload: payload, secret: Self.externalSecret) == Self.externalToken)
    }

    @Test func externalTokenPassesSignatureCheckThenLacksExp() throws {
        // The external secret is 19 bytes, below our minimum. HMAC zero-pads short keys to
        // the block size, so the zero-extended 32-byte secret yields identical MACs.
        let codec = try JWTCodec(secret: Self.externalSecret + Array(repeating: 0, count: 13))
        #expect(throws: JWTError.missingClaim("exp")) { try codec.verify(Self.externalToken, now: Self.now) }
        let wrong = try JWTCodec(secret: Self.externalSecret + Array(repeating: 1, count: 13))
        #expect(throws: JWTError.badSignature) { try wrong.verify(Self.externalToken, now: Self.now) }
    }

    @Test(arguments: [
        #"{"alg":"none","typ":"JWT"}"#, #"{"alg":"HS512","typ":"JWT"}"#, #"{"alg":"hs256"}"#,
        #"{"alg":"RS256"}"#, #"{"typ":"JWT"}"#, #"{"alg":null}"#, #"{"alg":["HS256"]}"#, #"{"alg":"HS256 "}"#,
    ])
    func rejectsOtherAlgorithms(_ header: String) {
        #expect(throws: JWTError.unsupportedAlgorithm) { try claims(token(header: header, payload: validPayload)) }
    }

    @Test func acceptsHeaderWithoutTyp() throws {
        #expect(try claims(token(header: #"{"alg":"HS256"}"#, payload: validPayload)).subject == "user-1")
    }

    @Test(arguments: [
        #"{"alg":"HS256","typ":"JWS"}"#, #"{"alg":"HS256","typ":null}"#, #"{"alg":"HS256","crit":["exp"]}"#,
        #"{"alg":"HS256","alg":"HS256"}"#, #"["HS256"]"#, "not json",
    ])
    func rejectsMalformedHeaders(_ header: String) {
        #expect(throws: JWTError.malformed) { try claims(token(header: header, payload: validPayload)) }
    }

    @Test func rejectsAlgNoneWithEmptySignatureAsMalformed() {
        let unsigned = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + Base64URL.encode(Array(validPayload.utf8)) + "."
        #expect(throws: JWTError.malformed) { try claims(unsigned) }
    }

    @Test func rejectsAFlippedSignatureCharacter() throws {
        let good = token(payload: validPayload)
        #expect(try claims(good).subject == "user-1")
        var bytes = Array(good.utf8)
        let middle = bytes.count - 10
        bytes[middle] = bytes[middle] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: JWTError.badSignature) { try claims(String(decoding: bytes, as: UTF8.self)) }
    }

    @Test func rejectsNonCanonicalSignatureEncoding() {
        // The last of 43 characters carries 2 unused bits; setting one must not verify.
        var bytes = Array(token(payload: validPayload).utf8)
        let last = bytes.count - 1
        let sextet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        bytes[last] = sextet[sextet.firstIndex(of: bytes[last])! ^ 1]
        #expect(throws: JWTError.malformed) { try claims(String(decoding: bytes, as: UTF8.self)) }
    }

    @Test func rejectsATamperedPayload() {
        let good = token(payload: validPayload).split(separator: ".")
        let forged = token(payload: #"{"sub":"admin","exp":1700000100}"#).split(separator: ".")
        #expect(throws: JWTError.badSignature) { try claims([good[0], forged[1], good[2]].joined(separator: ".")) }
    }

    @Test func rejectsADifferentSecret() {
        let other = Array("another-secret-another-secret-xx".utf8)
        #expect(throws: JWTError.badSignature) { try claims(token(payload: validPayload, secret: other)) }
    }

    @Test func expiresExactlyAtExp() throws {
        let token = token(payload: #"{"sub":"u","exp":1700000000}"#)
        #expect(throws: JWTError.expired) { try codec.verify(token, now: Self.now) }
        #expect(throws: JWTError.expired) { try codec.verify(token, now: Self.now + 1) }
        #expect(try codec.verify(token, now: Self.now - 1).expiresAt == Self.now)
    }

    @Test func rejectsBeforeNotBefore() throws {
        let token = token(payload: #"{"sub":"u","exp":1700000100,"nbf":1700000001}"#)
        #expect(throws: JWTError.notYetValid) { try codec.verify(token, now: Self.now) }
        #expect(try codec.verify(token, now: Self.now + 1).notBefore == Self.now + 1)
    }

    @Test(arguments: [
        (#"{"exp":1700000100}"#, JWTError.missingClaim("sub")),
        (#"{"sub":"u"}"#, .missingClaim("exp")),
        (#"{"sub":"u","exp":"1700000100"}"#, .invalidClaim("exp")),
        (#"{"sub":"u","exp":1700000100.0}"#, .invalidClaim("exp")),
        (#"{"sub":"u","exp":null}"#, .invalidClaim("exp")),
        (#"{"sub":"u","exp":1e10}"#, .invalidClaim("exp")),
        (#"{"sub":42,"exp":1700000100}"#, .invalidClaim("sub")),
        (#"{"sub":"","exp":1700000100}"#, .invalidClaim("sub")),
        (#"{"sub":"a b","exp":1700000100}"#, .invalidClaim("sub")),
        (#"{"sub":"ü","exp":1700000100}"#, .invalidClaim("sub")),
        (#"{"sub":"\#(String(repeating: "a", count: 65))","exp":1700000100}"#, .invalidClaim("sub")),
        (#"{"sub":"u","exp":1700000100,"nbf":"0"}"#, .invalidClaim("nbf")),
        (#"{"sub":"u","exp":1700000100,"iat":1.5}"#, .invalidClaim("iat")),
        (#"{"sub":"u","exp":1700000100,"role":1}"#, .invalidClaim("role")),
        (#"{"sub":"u","exp":1700000100,"sid":"a/b"}"#, .invalidClaim("sid")),
        (#"{"sub":"u","exp":1700000100,"sid":""}"#, .invalidClaim("sid")),
        (#"{"sub":"u","exp":1700000100,"sid":"\#(String(repeating: "s", count: 65))"}"#, .invalidClaim("sid")),
        (#"["u"]"#, .malformed),
        (#"{"sub":"u","sub":"v","exp":1700000100}"#, .malformed),
        (#"{"sub":"u","exp":1700000100"#, .malformed),
    ] as [(String, JWTError)])
    func rejectsBadClaims(_ payload: String, _ error: JWTError) {
        #expect(throws: error) { try claims(token(payload: payload)) }
    }

    @Test func acceptsLongestAllowedIdentifiers() throws {
        let id = String(repeating: "a", count: 64)
        let verified = try claims(token(payload: #"{"sub":"\#(id)","sid":"\#(id)","exp":1700000100,"extra":[1]}"#))
        #expect(verified.subject == id)
        #expect(verified.sessionId == id)
    }

    @Test func rejectsOversizedTokensBeforeParsing() throws {
        #expect(throws: JWTError.oversized) { try claims(String(repeating: "x", count: JWTCodec.maximumTokenBytes + 1)) }
        let padding = String(repeating: "p", count: JWTCodec.maximumTokenBytes)
        let big = token(payload: #"{"sub":"u","exp":1700000100,"pad":"\#(padding)"}"#)
        #expect(throws: JWTError.oversized) { try claims(big) }
        let fits = String(repeating: "p", count: 2_900)
        #expect(try claims(token(payload: #"{"sub":"u","exp":1700000100,"pad":"\#(fits)"}"#)).subject == "u")
    }

    @Test(arguments: ["", ".", "..", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b."])
    func rejectsWrongStructure(_ token: String) {
        #expect(throws: JWTError.malformed) { try claims(token) }
    }

    @Test func rejectsTwoPartTokens() {
        let parts = token(payload: validPayload).split(separator: ".").map(String.init)
        #expect(throws: JWTError.malformed) { try claims(parts[0] + "." + parts[1]) }
    }

    @Test func rejectsBadBase64InAnyPart() {
        let parts = token(payload: validPayload).split(separator: ".").map(String.init)
        #expect(throws: JWTError.malformed) { try claims(signed("!" + parts[0] + "." + parts[1])) }
        #expect(throws: JWTError.malformed) { try claims(signed(parts[0] + "=." + parts[1])) }
        #expect(throws: JWTError.malformed) { try claims(signed(parts[0] + ".+" + parts[1])) }
        #expect(throws: JWTError.malformed) { try claims(parts[0] + "." + parts[1] + "." + parts[2] + "=") }
        #expect(throws: JWTError.malformed) { try claims(parts[0] + "." + parts[1] + ".*" + parts[2].dropFirst()) }
    }

    @Test func checksTheSignatureBeforeDecodingThePayload() {
        let parts = token(payload: validPayload).split(separator: ".").map(String.init)
        #expect(throws: JWTError.badSignature) { try claims(parts[0] + ".+" + parts[1] + "." + parts[2]) }
    }

    @Test func requiresASecretOfAtLeast32Bytes() throws {
        #expect(throws: JWTSecretError.self) { try JWTCodec(secret: Array(repeating: 7, count: 31)) }
        #expect(throws: JWTSecretError.self) { try JWTCodec(secret: []) }
        _ = try JWTCodec(secret: Array(repeating: 7, count: JWTCodec.minimumSecretBytes))
    }

    @Test func errorsDescribeThemselves() {
        #expect(JWTError.missingClaim("exp").description == #"token is missing the "exp" claim"#)
        #expect(JWTError.expired.message == "token has expired")
        do {
            _ = try JWTCodec(secret: [1])
        } catch {
            #expect(error.message.contains("32"))
        }
    }
}
