import Foundation
import JSON
import Synchronization
import Testing
import WebSocketClient

@Suite("Sockets per user")
struct SocketCapTests {
    @Test("the 21st socket of a user on one instance is refused with 429; the others, other users and other instances are unaffected")
    func defaultCap() throws {
        let hub = try HubProcess()
        let otherInstance = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        var sockets = try (0..<20).map { _ in try CartSocket(hub, user: user) }

        Handshake.expectRefused(hub, status: 429, headers: Handshake.bearer(Tokens.make(user: user)), "the 21st socket of \(user)")
        // Refusing it did not disturb the 20.
        for (n, socket) in sockets.enumerated() {
            #expect(try socket.call("cart.get").isOK, "socket \(n) still works after the 21st was refused")
        }
        // The cap is per user and per instance.
        #expect(try CartSocket(hub, user: TestEnvironment.uniquePrefix("v")).call("cart.get").isOK, "another user connects to the same hub")
        #expect(try CartSocket(otherInstance, user: user).call("cart.get").isOK, "the same user connects to another instance")

        // Closing one makes room again (the hub may need a moment to notice).
        sockets.removeLast().ws.close()
        let deadline = Date().addingTimeInterval(5)
        var outcome = Handshake.attempt(hub.socketURL, headers: Handshake.bearer(Tokens.make(user: user)))
        while outcome.status == 429, Date() < deadline {
            usleep(100_000)
            outcome = Handshake.attempt(hub.socketURL, headers: Handshake.bearer(Tokens.make(user: user)))
        }
        guard case .accepted(let ws) = outcome else {
            Issue.record("after closing one of 20 sockets a new one must be accepted within 5 s; got \(outcome)")
            return
        }
        #expect(try CartSocketReader(ws).next(timeout: 10)["type"] == "hello")
        Handshake.expectRefused(hub, status: 429, headers: Handshake.bearer(Tokens.make(user: user)), "20 open again: the next is refused")
    }

    @Test("25 simultaneous handshakes of one user: exactly 20 become sockets, the rest get 429")
    func simultaneousHandshakes() throws {
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let token = Tokens.make(user: user)
        let outcomes = Mutex<[HandshakeOutcome]>([])
        DispatchQueue.concurrentPerform(iterations: 25) { _ in
            let outcome = Handshake.attempt(hub.socketURL, headers: Handshake.bearer(token))
            outcomes.withLock { $0.append(outcome) }
        }
        let all = outcomes.withLock { $0 }
        let accepted = all.filter { if case .accepted = $0 { true } else { false } }
        let refused = all.filter { $0.status == 429 }
        #expect(accepted.count == 20 && refused.count == 5, "expected 20 sockets and 5 × 429, got \(accepted.count) sockets and \(all.filter { if case .accepted = $0 { false } else { true } }.map(\.description))")
        for case .accepted(let ws) in all { ws.close() }
    }

    @Test("CARTHUB_MAX_SOCKETS_PER_USER sets the cap")
    func configuredCap() throws {
        let hub = try HubProcess(environment: ["CARTHUB_MAX_SOCKETS_PER_USER": "2"])
        let user = TestEnvironment.uniquePrefix("u")
        let sockets = [try CartSocket(hub, user: user), try CartSocket(hub, user: user)]
        Handshake.expectRefused(hub, status: 429, headers: Handshake.bearer(Tokens.make(user: user)), "the 3rd socket with a cap of 2")
        // A cookie handshake counts against the same cap.
        Handshake.expectRefused(hub, status: 429, headers: [("Cookie", "accessToken=\(Tokens.make(user: user))"), ("Origin", hub.origin)], "the 3rd socket, by cookie")
        #expect(try sockets[1].call("cart.get").isOK)
    }
}

@Suite("Command rate limit")
struct RateLimitTests {
    @Test("a burst beyond the limit: every command gets exactly one reply, the excess RATE_LIMITED, the socket stays open and recovers")
    func burst() throws {
        let hub = try HubProcess(environment: ["CARTHUB_RATE_LIMIT": "20", "CARTHUB_RATE_BURST": "40"])
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        let ids = try (0..<100).map { _ in try socket.send("cart.get") }

        var replies: [String: [JSONValue]] = [:]
        let deadline = Date().addingTimeInterval(10)
        while replies.values.reduce(0, { $0 + $1.count }) < ids.count, Date() < deadline {
            do {
                let reply = try socket.next(timeout: max(0.1, deadline.timeIntervalSinceNow)) { $0["type"] == "reply" }
                replies[reply["requestId"]?.stringValue ?? "null", default: []].append(reply)
            } catch WebSocketClientError.timeout {
                break
            }
        }
        let missing = ids.filter { replies[$0] == nil }
        #expect(missing.isEmpty, "\(missing.count) of 100 commands got no reply")
        #expect(Set(replies.keys).isSubset(of: Set(ids)), "replies to unknown requestIds: \(Set(replies.keys).subtracting(ids))")
        let repeated = replies.filter { $0.value.count > 1 }.keys
        #expect(repeated.isEmpty, "commands answered more than once: \(repeated.sorted())")

        let all = replies.values.compactMap(\.first)
        let ok = all.filter(\.isOK).count
        let limited = all.filter { $0.errorCode == "RATE_LIMITED" }.count
        #expect(ok + limited == all.count, "only ok or RATE_LIMITED expected: \(all.filter { !$0.isOK && $0.errorCode != "RATE_LIMITED" }.map(\.encoded))")
        #expect(limited > 0, "100 commands at once with a burst of 40 must hit the limit (ok \(ok))")
        #expect(ok >= 40, "the burst of 40 is honoured (ok \(ok), limited \(limited))")

        // Still open, and after a pause the bucket has refilled.
        #expect(socket.ws.isOpen, "a rate-limited socket stays open")
        sleep(2)
        for n in 0..<5 {
            let reply = try socket.call("cart.get")
            #expect(reply.isOK, "command \(n) after a 2 s pause: \(reply.encoded)")
        }
    }

    @Test("rate-limited mutations change nothing: the cart counts exactly the accepted ones")
    func limitedMutations() throws {
        let catalog = try TestCatalog("rate", stocks: [1000])
        let hub = try HubProcess(environment: ["CARTHUB_RATE_LIMIT": "20", "CARTHUB_RATE_BURST": "40"])
        let user = TestEnvironment.uniquePrefix("u")
        let socket = try CartSocket(hub, user: user)
        let watcher = try CartSocket(hub, user: user)
        let add: [String: JSONValue] = ["bookId": .string(catalog[0].id), "quantity": 1]
        let ids = try (0..<80).map { _ in try socket.send("cart.add", add) }
        var accepted: [String] = []
        var limited: [String] = []
        for id in ids {
            let reply = try socket.reply(id)
            if reply.isOK { accepted.append(id) } else { limited.append(id) }
            #expect(reply.isOK || reply.errorCode == "RATE_LIMITED", "\(reply.encoded)")
        }
        let ok = accepted.count
        #expect(ok >= 40 && ok < 80, "ok \(ok) of 80")
        sleep(1)
        let cart = try socket.currentCart()
        #expect(cart["version"]?.intValue == Int64(ok) && cart.quantity(of: catalog[0].id) == Int64(ok), "one change per accepted add (\(ok)): \(cart.encoded)")
        let events = try watcher.drain(for: 0.5).filter { $0["type"] == "cart.updated" }
        #expect(events.count == ok, "one event per accepted add: \(events.count) events for \(ok) adds")

        // As the protocol advises, retry with the same requestId: a limited command was
        // never applied, so it applies now; an accepted one is not applied twice.
        if let first = limited.first, let done = accepted.last {
            let retried = try socket.call("cart.add", add, requestId: first)
            #expect(retried.isOK && retried.cartVersion == Int64(ok + 1), "a rate-limited command applies when retried: \(retried.encoded)")
            let again = try socket.call("cart.add", add, requestId: done)
            #expect(again.isOK && again.cartVersion == Int64(ok + 1), "an accepted command is not applied again: \(again.encoded)")
        }
    }
}

@Suite("Retried commands (repeated requestId)")
struct RetryTests {
    @Test("a repeated cart.add is applied once: same cart, no new version, one event")
    func repeatedAdd() throws {
        let catalog = try TestCatalog("retry", stocks: [100])
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let phone = try CartSocket(hub, user: user)
        let laptop = try CartSocket(hub, user: user)
        let add: [String: JSONValue] = ["bookId": .string(catalog[0].id), "quantity": 2]

        let first = try phone.call("cart.add", add, requestId: "retry-1")
        #expect(first.isOK && first.cartVersion == 1, "\(first.encoded)")
        let retry = try phone.call("cart.add", add, requestId: "retry-1")
        #expect(retry.isOK, "a retry of a command that succeeded succeeds: \(retry.encoded)")
        #expect(retry["data"]?["cart"] == first["data"]?["cart"], "the retry's cart is the current one, unchanged:\nfirst: \(first.encoded)\nretry: \(retry.encoded)")
        #expect(retry["data"]?["cart"]?.quantity(of: catalog[0].id) == 2, "quantity added once")

        let cart = try laptop.currentCart()
        #expect(cart["version"] == 1 && cart.quantity(of: catalog[0].id) == 2, "\(cart.encoded)")
        for (name, device) in [("phone", phone), ("laptop", laptop)] {
            let events = try device.drain(for: 0.5).filter { $0["type"] == "cart.updated" }
            #expect(events.map(\.cartVersion) == [1], "\(name) must see exactly one cart.updated (version 1), saw \(events.map(\.encoded))")
        }
    }

    @Test("a retry from another device on another instance is recognised too")
    func retryAcrossInstances() throws {
        let catalog = try TestCatalog("retry", stocks: [100])
        let a = try HubProcess()
        let b = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let phone = try CartSocket(a, user: user)
        let laptop = try CartSocket(b, user: user)
        let add: [String: JSONValue] = ["bookId": .string(catalog[0].id), "quantity": 1]
        #expect(try phone.call("cart.add", add, requestId: "x-dev-1").cartVersion == 1)
        let retry = try laptop.call("cart.add", add, requestId: "x-dev-1")
        #expect(retry.isOK && retry.cartVersion == 1 && retry["data"]?["cart"]?.quantity(of: catalog[0].id) == 1, "\(retry.encoded)")
        #expect(try laptop.event().cartVersion == 1)
        #expect(try laptop.drain(for: 0.5).filter { $0["type"] == "cart.updated" }.isEmpty, "no event for the retry")
    }

    @Test("a retry of a command that failed gets the same error, even if its body changed")
    func repeatedFailure() throws {
        let catalog = try TestCatalog("retry", stocks: [3])
        let hub = try HubProcess()
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        let first = try socket.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 5], requestId: "fail-1")
        #expect(first.errorCode == "INSUFFICIENT_STOCK", "\(first.encoded)")
        let retry = try socket.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 5], requestId: "fail-1")
        #expect(retry == first, "the retry carries the original outcome:\nfirst: \(first.encoded)\nretry: \(retry.encoded)")
        // Same id, a body that would now succeed: still the remembered outcome, nothing applied.
        let altered = try socket.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1], requestId: "fail-1")
        #expect(altered.errorCode == "INSUFFICIENT_STOCK", "a remembered requestId is never applied again: \(altered.encoded)")
        let cart = try socket.currentCart()
        #expect(cart["version"] == 0 && cart["items"]?.arrayValue?.isEmpty == true, "\(cart.encoded)")
        #expect(try socket.drain(for: 0.3).filter { $0["type"] == "cart.updated" }.isEmpty, "failures cause no events")
    }

    @Test("request ids are per cart: another user may use the same id")
    func idsArePerCart() throws {
        let catalog = try TestCatalog("retry", stocks: [100])
        let hub = try HubProcess()
        let id = TestEnvironment.uniquePrefix("shared")
        let add: [String: JSONValue] = ["bookId": .string(catalog[0].id), "quantity": 1]
        for user in [TestEnvironment.uniquePrefix("u"), TestEnvironment.uniquePrefix("v")] {
            let reply = try CartSocket(hub, user: user).call("cart.add", add, requestId: id)
            #expect(reply.isOK && reply.cartVersion == 1, "\(user)'s add with a requestId another user used: \(reply.encoded)")
        }
    }

    @Test("request ids are remembered for the last 32 mutations of the cart; older ones apply again")
    func rememberedWindow() throws {
        let catalog = try TestCatalog("retry", stocks: [100, 100])
        let hub = try HubProcess()
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        let marker: [String: JSONValue] = ["bookId": .string(catalog[0].id), "quantity": 1]
        let filler: [String: JSONValue] = ["bookId": .string(catalog[1].id), "quantity": 1]
        #expect(try socket.call("cart.add", marker, requestId: "window-1").isOK)

        for _ in 0..<31 { #expect(try socket.call("cart.add", filler).isOK) }
        let stillKnown = try socket.call("cart.add", marker, requestId: "window-1")
        #expect(stillKnown.isOK && stillKnown.cartVersion == 32 && stillKnown["data"]?["cart"]?.quantity(of: catalog[0].id) == 1,
                "31 mutations later the id is still remembered: \(stillKnown.encoded)")

        for _ in 0..<9 { #expect(try socket.call("cart.add", filler).isOK) }
        let forgotten = try socket.call("cart.add", marker, requestId: "window-1")
        #expect(forgotten.isOK && forgotten.cartVersion == 42 && forgotten["data"]?["cart"]?.quantity(of: catalog[0].id) == 2,
                "40 mutations later the id is forgotten and the command applies again: \(forgotten.encoded)")
    }
}
