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
}
