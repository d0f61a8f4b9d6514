import Auth
import CartDomain
import Testing

@Suite("Passwords and account rules")
struct AccountTests {
    @Test func passwordHashIsSelfDescribingSaltedAndVerifies() {
        let stored = PasswordHash.make(password: "correct horse", iterations: 1000)
        let parts = stored.split(separator: "$")
        #expect(parts.count == 4 && parts[0] == "pbkdf2-sha256" && parts[1] == "1000")
        #expect(Base64URL.decode(parts[2])?.count == 16 && Base64URL.decode(parts[3])?.count == 32)
        #expect(PasswordHash.verify(password: "correct horse", against: stored))
        #expect(!PasswordHash.verify(password: "correct horsE", against: stored))
        #expect(PasswordHash.make(password: "correct horse", iterations: 1000) != stored, "a fresh salt every time")
        for broken in ["", "pbkdf2-sha256$1000$$", "bcrypt$1000$AAAA$AAAA", "pbkdf2-sha256$0$AAAA$AAAA", "pbkdf2-sha256$99999999999$AAAA$AAAA"] {
            #expect(!PasswordHash.verify(password: "x", against: broken))
        }
    }

    @Test func defaultCostIsAtLeast600000Iterations() {
        #expect(PasswordHash.defaultIterations >= 600_000)
    }

    @Test func randomTokens() {
        let id = RandomToken.identifier(prefix: "u-")
        #expect(id.count == 22 && Identifier.isValidUserId(id))
        #expect(RandomToken.identifier(prefix: "u-") != id)
        #expect(Base64URL.decode(RandomToken.secret())?.count == 32)
        #expect(RandomToken.digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func emailsNamesAndPasswords() {
        for good in ["a@b.co", "Ada.Lovelace+shop@Example.COM", "x@mail.example.org"] { #expect(AccountRules.emailProblem(good) == nil, "\(good)") }
        for bad in ["", "a", "a@b", "@b.co", "a@b.", "a@.co", "a@@b.co", "a b@c.de", " a@b.co", "a@b.co\n", String(repeating: "a", count: 250) + "@b.co"] {
            #expect(AccountRules.emailProblem(bad)?.code == .badRequest, "\(bad)")
        }
        #expect(AccountRules.nameProblem("Ada") == nil && AccountRules.nameProblem(String(repeating: "é", count: 100)) == nil)
        for bad in ["", " ", String(repeating: "n", count: 101), "tab\tname"] { #expect(AccountRules.nameProblem(bad)?.code == .badRequest) }
        #expect(AccountRules.passwordProblem("0123456789") == nil)
        #expect(AccountRules.passwordProblem(String(repeating: "p", count: 1024)) == nil)
        for bad in ["012345678", String(repeating: "p", count: 1025)] { #expect(AccountRules.passwordProblem(bad)?.code == .weakPassword) }
    }

    @Test("the client address of per-address limits: the peer, or behind trusted proxies the nearest untrusted X-Forwarded-For entry")
    func clientAddress() {
        let proxies: Set<String> = ["127.0.0.1", "10.0.0.2"]
        func resolve(_ peer: String, _ forwarded: String?) -> String {
            ClientAddress.resolve(peer: peer, forwardedFor: forwarded, trustedProxies: proxies)
        }
        // Not from a trusted proxy: the header is anyone's word.
        #expect(resolve("192.0.2.9", "203.0.113.7") == "192.0.2.9")
        #expect(resolve("127.0.0.1", nil) == "127.0.0.1")
        #expect(resolve("127.0.0.1", "203.0.113.7") == "203.0.113.7")
        #expect(resolve("127.0.0.1", " 2001:db8::1 ") == "2001:db8::1")
        // What the client put in front of the proxy's entry is not believed.
        #expect(resolve("127.0.0.1", "1.2.3.4, 203.0.113.7") == "203.0.113.7")
        // Through two trusted proxies; and a chain of trusted ones only.
        #expect(resolve("127.0.0.1", "198.51.100.9, 10.0.0.2") == "198.51.100.9")
        #expect(resolve("127.0.0.1", "10.0.0.2") == "10.0.0.2")
        // A trusted proxy that wrote no address: its sender counts as that proxy.
        #expect(resolve("127.0.0.1", "x}y") == "127.0.0.1")
        #expect(resolve("127.0.0.1", "198.51.100.9, ") == "127.0.0.1")
        for bad in ["", "localhost", "1.2.3.4/8", "a:b{c}", String(repeating: "1.", count: 30)] { #expect(!ClientAddress.isPlausible(bad), "\(bad)") }
    }
}
