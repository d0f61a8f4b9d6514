import Foundation
import Postgres
import Storage
import Testing

@Suite struct UserStoreTests {
    @Test func createFindsByEmailInAnyCaseAndRefusesDuplicates() throws {
        try withScratchSchema { c, _ throws in
            let user = try #require(try UserStore.create(c, id: "u-1", email: "Ada@Example.com", name: "Ada", passwordHash: "h", role: "customer"))
            #expect(user.id == "u-1" && user.email == "Ada@Example.com" && user.role == "customer" && user.marketingEmails)
            #expect(user.createdAt.hasSuffix("Z") && user.createdAt.count == 24)
            #expect(try UserStore.find(c, email: "ada@EXAMPLE.com") == user)
            #expect(try UserStore.find(c, id: "u-1") == user)
            #expect(try UserStore.find(c, email: "bob@example.com") == nil)
            #expect(try UserStore.create(c, id: "u-2", email: "ADA@example.COM", name: "Other", passwordHash: "h", role: "admin") == nil)
            #expect(try c.query("select count(*) from users").rows.first?.first == "1")
            #expect(throws: StorageError.self) { try UserStore.create(c, id: "u-3", email: "c@example.com", name: "C", passwordHash: "h", role: "root") }
        }
    }
}

@Suite struct SessionStoreTests {
    private let now = Int64(Date().timeIntervalSince1970)

    private func user(_ c: PostgresConnection) throws {
        _ = try UserStore.create(c, id: "u-1", email: "a@example.com", name: "A", passwordHash: "h", role: "admin")
    }

    @Test func rotationLinksTokensAndCarriesTheUser() throws {
        try withScratchSchema { c, _ throws in
            try user(c)
            try SessionStore.create(c, sessionId: "s-1", userId: "u-1", tokenHash: "t1", tokenExpiresAt: now + 3600, accessExpiresAt: now + 900)
            guard case .rotated("s-1", let account) = try SessionStore.rotate(c, presented: "t1", successor: "t2", tokenExpiresAt: now + 3600, accessExpiresAt: now + 1000) else {
                Issue.record("t1 did not rotate")
                return
            }
            #expect(account.id == "u-1" && account.role == "admin")
            let t1 = try c.query("select used_at is not null as used, replaced_by from refresh_tokens where token_hash = 't1'")
            #expect(t1[0, "used"] == "t" && t1[0, "replaced_by"] == "t2")
            #expect(try c.query("select extract(epoch from access_expires_at)::bigint as e from sessions")[0, "e"] == String(now + 1000))
            guard case .rotated = try SessionStore.rotate(c, presented: "t2", successor: "t3", tokenExpiresAt: now + 3600, accessExpiresAt: now + 900) else {
                Issue.record("t2 did not rotate")
                return
            }
            // An earlier access expiry never shortens the deny-list horizon.
            #expect(try c.query("select extract(epoch from access_expires_at)::bigint as e from sessions")[0, "e"] == String(now + 1000))
        }
    }

    @Test func reusingARotatedTokenRevokesTheWholeSession() throws {
        try withScratchSchema { c, _ throws in
            try user(c)
            try SessionStore.create(c, sessionId: "s-1", userId: "u-1", tokenHash: "t1", tokenExpiresAt: now + 3600, accessExpiresAt: now + 900)
            _ = try SessionStore.rotate(c, presented: "t1", successor: "t2", tokenExpiresAt: now + 3600, accessExpiresAt: now + 900)
            #expect(try SessionStore.rotate(c, presented: "t1", successor: "t3", tokenExpiresAt: now + 3600, accessExpiresAt: now + 900)
                == .reused(sessionId: "s-1", accessExpiresAt: now + 900))
            #expect(try SessionStore.rotate(c, presented: "t2", successor: "t4", tokenExpiresAt: now + 3600, accessExpiresAt: now + 900) == .invalid)
            #expect(try c.query("select count(*) from refresh_tokens").rows.first?.first == "2", "nothing was issued after the reuse")
        }
    }

    @Test func unknownAndExpiredTokensAreInvalid() throws {
        try withScratchSchema { c, _ throws in
            try user(c)
            try SessionStore.create(c, sessionId: "s-1", userId: "u-1", tokenHash: "old", tokenExpiresAt: now - 1, accessExpiresAt: now + 900)
            #expect(try SessionStore.rotate(c, presented: "old", successor: "x", tokenExpiresAt: now + 3600, accessExpiresAt: now + 900) == .invalid)
            #expect(try SessionStore.rotate(c, presented: "nope", successor: "y", tokenExpiresAt: now + 3600, accessExpiresAt: now + 900) == .invalid)
        }
    }

    @Test func revokeBySessionOrAnyOfItsTokensIsIdempotent() throws {
        try withScratchSchema { c, _ throws in
            try user(c)
            try SessionStore.create(c, sessionId: "s-1", userId: "u-1", tokenHash: "t1", tokenExpiresAt: now + 3600, accessExpiresAt: now + 900)
            try SessionStore.create(c, sessionId: "s-2", userId: "u-1", tokenHash: "u1", tokenExpiresAt: now + 3600, accessExpiresAt: now + 900)
            _ = try SessionStore.rotate(c, presented: "t1", successor: "t2", tokenExpiresAt: now + 3600, accessExpiresAt: now + 950)
            let byOldToken = try #require(try SessionStore.revoke(c, tokenHash: "t1"))
            #expect(byOldToken.sessionId == "s-1" && byOldToken.userId == "u-1" && byOldToken.accessExpiresAt == now + 950)
            let first = try c.query("select revoked_at from sessions where id = 's-1'")[0, "revoked_at"]
            #expect(try SessionStore.revoke(c, sessionId: "s-1")?.sessionId == "s-1")
            #expect(try c.query("select revoked_at from sessions where id = 's-1'")[0, "revoked_at"] == first, "the first revocation time stays")
            #expect(try SessionStore.rotate(c, presented: "t2", successor: "t3", tokenExpiresAt: now + 3600, accessExpiresAt: now + 900) == .invalid)
            #expect(try SessionStore.revoke(c, sessionId: "s-9") == nil)
            #expect(try SessionStore.revoke(c, tokenHash: "zz") == nil)
            guard case .rotated("s-2", _) = try SessionStore.rotate(c, presented: "u1", successor: "u2", tokenExpiresAt: now + 3600, accessExpiresAt: now + 900) else {
                Issue.record("the other session was touched")
                return
            }
        }
    }
}
