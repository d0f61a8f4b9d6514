import Auth
import Foundation
import JSON
import Testing
import WebSocketClient
#if canImport(Glibc)
import Glibc
#endif

/// The signals that stop a hub gracefully.
enum StopSignal: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case SIGTERM, SIGINT

    var number: Int32 { self == .SIGTERM ? Glibc.SIGTERM : Glibc.SIGINT }
    var testDescription: String { rawValue }
}

@Suite("Shutdown")
struct ShutdownTests {
    @Test("every command sent before the signal gets exactly one reply, then every socket closes with 1001 and the hub exits 0 within 5 s",
          arguments: StopSignal.allCases)
    func gracefulShutdown(_ stop: StopSignal) throws {
        let catalog = try TestCatalog("drain", stocks: [100_000, 100_000])
        let hub = try HubProcess.withDefaultSignalMask()
        let users = (0..<3).map { _ in TestEnvironment.uniquePrefix("u") }
        var sockets: [CartSocket] = []
        for user in users {
            sockets.append(try CartSocket(hub, user: user))
            sockets.append(try CartSocket(hub, user: user))
        }

        // A burst from every socket, and the signal right behind it: many commands are
        // still on the wire, unread by the hub, when it sees the signal. (Padding, an
        // unknown field the hub ignores, makes the hub read each socket in many pieces.)
        let padding = JSONValue.string(String(repeating: "p", count: 2000))
        var sent: [[String]] = sockets.map { _ in [] }
        for round in 0..<50 {
            for (n, socket) in sockets.enumerated() {
                sent[n].append(try socket.send("cart.add", ["bookId": .string(catalog[round % 2].id), "quantity": 1, "padding": padding]))
            }
        }
        let signalledAt = Date()
        hub.signal(stop.number)

        var okReplies: [String: Int64] = [:]
        for (n, socket) in sockets.enumerated() {
            let (end, messages) = try socket.readUntilEnd()
            #expect(end == .closeFrame(1001), "socket \(n) ended with \(end), expected close frame 1001")
            var replies: [String: [JSONValue]] = [:]
            for message in messages where message["type"]?.stringValue == "reply" {
                replies[message["requestId"]?.stringValue ?? "null", default: []].append(message)
            }

            let unanswered = sent[n].filter { replies[$0] == nil }
            #expect(unanswered.isEmpty, "socket \(n): \(unanswered.count) of \(sent[n].count) commands sent before \(stop) got no reply: \(unanswered)")
            let repeated = replies.filter { $0.value.count > 1 }.keys
            #expect(repeated.isEmpty, "socket \(n): several replies to \(Array(repeated))")
            let unknown = Set(replies.keys).subtracting(sent[n])
            #expect(unknown.isEmpty, "socket \(n): replies to commands it never sent: \(unknown)")
            for reply in replies.values.flatMap({ $0 }) where !reply.isOK {
                #expect(reply.errorCode == "SHUTTING_DOWN", "socket \(n): \(reply.encoded)")
            }
            okReplies[socket.user, default: 0] += Int64(replies.values.flatMap { $0 }.filter(\.isOK).count)
        }

        let status = hub.waitForExit(timeout: 10)
        let exitedAfter = seconds(since: signalledAt)
        #expect(status == 0 && hub.process.terminationReason == .exit,
                "the hub should exit with status 0; got \(status.map { "\(hub.process.terminationReason == .exit ? "exit" : "signal") \($0)" } ?? "still running"); log:\n\(hub.log)")
        #expect(exitedAfter <= 5, "the hub exited \(exitedAfter) s after \(stop), the bound is 5 s")

        // No command was applied without its ok reply: the stored versions count exactly the oks.
        let redis = try TestEnvironment.redis()
        for user in users {
            let stored = try storedCartVersion(user: user, redis: redis)
            #expect(stored == okReplies[user, default: 0], "\(user): the cart is at version \(stored) but \(okReplies[user, default: 0]) commands were answered ok")
        }
    }

    @Test("while draining, a command stuck on Redis is still answered, new handshakes are refused with 503 and /readyz says draining")
    func drainingRefusesNewSockets() throws {
        let catalog = try TestCatalog("drain", stocks: [100])
        let redis = try PrivateRedis()
        defer { redis.kill() }
        // A 3 s Redis deadline keeps the hub draining long enough to knock on its door.
        let hub = try HubProcess.withDefaultSignalMask(environment: redis.hubEnvironment.merging(["CARTHUB_REDIS_TIMEOUT_MS": "3000"]) { $1 })
        let user = TestEnvironment.uniquePrefix("u")
        let socket = try CartSocket(hub, user: user)
        #expect(try socket.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1]).isOK)

        redis.pause()
        let stuck = try socket.send("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1])
        usleep(300_000) // normally the hub has passed it to Redis by now (else SHUTTING_DOWN is its answer)
        let signalledAt = Date()
        hub.signal(SIGTERM)
        let draining = try eventually(within: 5, "/readyz reports the hub draining") { () -> HTTPResponse? in
            let response = try hub.http("/readyz")
            return response.bodyText.contains(#""draining":true"#) ? response : nil
        }
        #expect(draining.status == 503, "/readyz while draining: \(draining.status) \(draining.bodyText)")

        do {
            let late = try WebSocketClient.connect(url: hub.socketURL, headers: [("Authorization", "Bearer \(Tokens.make(user: user))")])
            late.close()
            Issue.record("a handshake while the hub was draining was accepted; expected 503 (or a refused connection)")
        } catch WebSocketClientError.handshakeRejected(let response) {
            #expect(response.status == 503, "handshake while draining: HTTP \(response.status) \(response.bodyText)")
        } catch WebSocketClientError.connectFailed {
            // A hub that stopped listening refuses the connection: also fine.
        }

        let reply = try socket.reply(stuck, timeout: 10)
        #expect(["UNAVAILABLE", "SHUTTING_DOWN"].contains(reply.errorCode ?? "ok"), "the command sent before SIGTERM, while Redis was stopped: \(reply.encoded)")
        print("NOTE draining: the command stuck on Redis was answered \(reply.errorCode ?? "ok") \(seconds(since: signalledAt)) s after SIGTERM")
        let end = try socket.readUntilEnd().end
        #expect(end == .closeFrame(1001), "the socket ended with \(end), expected close frame 1001")
        let status = hub.waitForExit(timeout: 10)
        let exitedAfter = seconds(since: signalledAt)
        #expect(status == 0 && hub.process.terminationReason == .exit, "exit status \(status.map(String.init) ?? "none (still running)"); log:\n\(hub.log)")
        #expect(exitedAfter <= 5, "the hub exited \(exitedAfter) s after SIGTERM, the bound is 5 s")
    }

    @Test("SIGTERM stops the hub even when it was started with SIGTERM blocked")
    func blockedSignalMask() throws {
        let hub = try HubProcess.withTerminationSignalsBlocked()
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        let signalledAt = Date()
        hub.signal(SIGTERM)
        let end = try? socket.readUntilEnd(timeout: 8).end
        let status = hub.waitForExit(timeout: 5)
        #expect(status == 0, "\(status.map { "exit status \($0)" } ?? "the hub ignored SIGTERM (blocked signals of its main thread: \(hub.blockedSignals))") \(seconds(since: signalledAt)) s after SIGTERM")
        #expect(end == .closeFrame(1001), "the socket ended with \(end.map { "\($0)" } ?? "nothing within 8 s")")
    }
}

@Suite("Token expiry")
struct TokenExpiryTests {
    @Test("a socket whose token expires is closed with 4001 soon after; the same user's long-lived socket stays open")
    func expiredTokenClosesSocket() throws {
        let catalog = try TestCatalog("exp", stocks: [100])
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let now = Int64(Date().timeIntervalSince1970)
        let expiresAt = now + 2
        let shortLived = try CartSocket(hub, user: user, token: Tokens.codec.sign(.init(subject: user, expiresAt: expiresAt, issuedAt: now)))
        let longLived = try CartSocket(hub, user: user)
        #expect(try shortLived.call("cart.get").isOK, "the short-lived socket works until its token expires")

        let end = try shortLived.readUntilEnd(timeout: 10).end
        let closedAt = Date().timeIntervalSince1970
        #expect(end == .closeFrame(4001), "the expired socket ended with \(end), expected close frame 4001 (token expired)")
        #expect(closedAt >= Double(expiresAt), "closed \(Double(expiresAt) - closedAt) s before the token expired")
        #expect(closedAt - Double(expiresAt) <= 3, "closed \(closedAt - Double(expiresAt)) s after expiry; expected within about 3 s")
        print("NOTE token expiry: the socket ended (\(end)) \(((closedAt - Double(expiresAt)) * 1000).rounded() / 1000) s after its token expired")

        // The other socket of the same user is untouched.
        let reply = try longLived.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1])
        #expect(reply.isOK, "\(reply.encoded)")
        let later = try longLived.drain(for: 2)
        #expect(later.contains { $0["type"]?.stringValue == "cart.updated" && $0.cartVersion == 1 })
        #expect(try longLived.call("cart.get").cartVersion == 1)
    }
}

@Suite("Startup")
struct StartupTests {
    @Test("a hub that accepts sockets is ready: /readyz answers 200 from the moment it listens")
    func readyWhenListening() throws {
        let hub = try HubProcess()
        let ready = try hub.http("/readyz")
        #expect(ready.status == 200, "right after LISTENING: \(ready.status) \(ready.bodyText)")
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        #expect(try socket.call("cart.get").isOK)
    }
}

@Suite("Dead peers")
struct DeadPeerTests {
    @Test("a peer that never answers pings is dropped; one that answers stays")
    func unansweredPings() throws {
        let hub = try HubProcess(environment: ["CARTHUB_PING_INTERVAL": "1", "CARTHUB_PONG_TIMEOUT": "3"])
        let user = TestEnvironment.uniquePrefix("ping")
        let silent = try CartSocket(hub, user: user)
        let lively = try CartSocket(hub, user: user)
        // `lively` reads (and so answers pings) for longer than the pong timeout; `silent` never reads again.
        _ = try lively.drain(for: 6)
        #expect(try lively.call("cart.get").isOK)
        let sockets = try eventually(within: 10, "the silent socket to be dropped") { () -> Int? in
            let metrics = try HTTPClient.request("GET", hub.httpBase + "/metrics").bodyText
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("carthub_sockets ") }
            let count = line.flatMap { Int($0.split(separator: " ")[1]) }
            return count == 1 ? count : nil
        }
        #expect(sockets == 1)
        _ = silent
    }
}
