import Foundation
import JSON
import Redis
import Testing
import WebSocketClient
#if canImport(Glibc)
import Glibc
#endif

@Suite("Slow consumers")
struct SlowConsumerTests {
    // Which bound cuts a socket off depends only on the frame size: with ~40 KB events
    // 4 MiB is about 110 frames, so the byte bound always binds first; with ~1.3 KB
    // events 1024 frames are about 1.3 MiB, so the frame bound always does.
    //
    // The flood first fills the kernel's socket buffers (seen in /proc/net/tcp), then
    // sends well past the bound: besides what the kernel shows, about 2 MB more reaches
    // a peer that starts reading (measured), so the margins cover that. The slow socket
    // is read right after, well within the 10 s the hub gives it to take its close frame.

    @Test("a socket that stops reading is closed with 4008 once its send queue passes 4 MiB; the user's other sockets and other users are still served")
    func slowReaderByteBound() throws {
        // 100 lines with ~280-character titles: every cart.updated is about 40 KB.
        let catalog = try TestCatalog("slow", count: 100, titleLength: 280)
        let run = try SlowReaderRun(catalog: catalog)
        try run.fillCart()
        #expect(run.eventBytes > 30_000, "each event should be big; the full cart is \(run.eventBytes) bytes")
        try run.floodUntilKernelBuffersAreFull()
        try run.flood(bytes: (4 << 20) + (4 << 20))
        try run.expectSlowSocketCutOff()
        try run.expectEveryoneElseServed()
    }

    @Test("a socket that stops reading is closed with 4008 once 1024 frames are queued, below 4 MiB")
    func slowReaderFrameBound() throws {
        // 8 short lines: events of about 1.3 KB.
        let catalog = try TestCatalog("slowf", count: 8, titleLength: 40)
        let run = try SlowReaderRun(catalog: catalog)
        try run.fillCart()
        #expect(run.eventBytes < 1500, "events should be small; the full cart is \(run.eventBytes) bytes")
        #expect(1024 * run.eventBytes < 4 << 20)
        try run.floodUntilKernelBuffersAreFull()
        try run.flood(frames: 1024 + (2 << 20) / run.eventBytes + 512)
        try run.expectSlowSocketCutOff()
        try run.expectEveryoneElseServed()
    }
}

/// One hub, one user with a socket that never reads (`slow`), one that sends the
/// commands (`fast`) and one more device that reads (`watcher`), plus another user.
private final class SlowReaderRun {
    let catalog: TestCatalog
    let hub: HubProcess
    let user = TestEnvironment.uniquePrefix("u")
    let slow: CartSocket
    let fast: CartSocket
    let watcher: CartSocket
    let bystander: CartSocket
    /// Versions so far; every change is also an event queued for `slow`.
    private(set) var version: Int64 = 0
    private(set) var eventBytes = 0
    private var fastEvents: [Int64] = []
    private var kernelFullAt: Date?

    init(catalog: TestCatalog) throws {
        self.catalog = catalog
        // The rate limit is not under test here; the flood should be quick.
        hub = try HubProcess(environment: ["CARTHUB_RATE_LIMIT": "1000000", "CARTHUB_RATE_BURST": "1000000"])
        slow = try CartSocket(hub, user: user) // reads its hello, then nothing until the end
        fast = try CartSocket(hub, user: user)
        watcher = try CartSocket(hub, user: user)
        bystander = try CartSocket(hub, user: TestEnvironment.uniquePrefix("v"))
    }

    /// One line of every book.
    func fillCart() throws {
        try pump(catalog.books.map { ("cart.add", ["bookId": .string($0.id), "quantity": 1]) })
    }

    /// Changes the cart until the kernel holds all it will of the slow socket's events:
    /// from then on, every event waits in the hub's own send queue.
    func floodUntilKernelBuffersAreFull() throws {
        let started = Date()
        let chunk = max(8, (512 << 10) / max(eventBytes, 1)) // about 512 KB of events
        var held = kernelQueuedBytes(port: hub.port)
        var calm = 0
        var sent = 0
        while calm < 2 {
            try changeCart(chunk)
            sent += chunk
            let now = kernelQueuedBytes(port: hub.port)
            calm = now - held < (64 << 10) ? calm + 1 : 0
            held = max(held, now)
            try #require(sent * eventBytes < (64 << 20), "the kernel took 64 MB for a peer that does not read (\(now) bytes queued)")
        }
        kernelFullAt = Date()
        print("NOTE slow reader: the kernel buffers were full at \(held) bytes after \(sent) changes of ~\(eventBytes) bytes (\(seconds(since: started)) s)")
    }

    /// `frames` more changes (or about `bytes` worth), each one more frame for the slow socket.
    func flood(frames: Int? = nil, bytes: Int? = nil) throws {
        let started = Date()
        let count = frames ?? ((bytes ?? 0) / max(eventBytes, 1) + 1)
        try changeCart(count)
        print("NOTE slow reader: then \(count) more changes (~\(count * eventBytes) bytes) in \(seconds(since: started)) s")
    }

    private func changeCart(_ count: Int) throws {
        let commands: [(String, [String: JSONValue])] = (0..<count).map { i in
            let round = Int(version) + i
            return ("cart.setQuantity", ["bookId": .string(catalog[round % catalog.books.count].id), "quantity": .int(Int64(2 + (round / catalog.books.count) % 2))])
        }
        for chunk in stride(from: 0, to: commands.count, by: 64) {
            try pump(Array(commands[chunk..<min(chunk + 64, commands.count)]))
            // Another user is served all along.
            let reply = try bystander.call("cart.get")
            #expect(reply.isOK, "the other user's command failed during the flood: \(reply.encoded)")
        }
    }

    /// Sends `commands` from `fast` a window at a time: every reply must come back ok,
    /// and the watcher must see every change, in order.
    private func pump(_ commands: [(String, [String: JSONValue])], window: Int = 16) throws {
        for start in stride(from: 0, to: commands.count, by: window) {
            let batch = commands[start..<min(start + window, commands.count)]
            var waiting = Set<String>()
            for (type, fields) in batch { waiting.insert(try fast.send(type, fields)) }
            while !waiting.isEmpty {
                let message = try fast.anyMessage(timeout: 10)
                switch message["type"]?.stringValue {
                case "reply":
                    let id = message["requestId"]?.stringValue ?? ""
                    #expect(waiting.remove(id) != nil, "unexpected reply \(id)")
                    #expect(message.isOK, "a command of the fast socket failed: \(message["error"]?.encoded ?? "")")
                case "cart.updated":
                    fastEvents.append(message.cartVersion ?? -1)
                default:
                    Issue.record("unexpected message on the fast socket: \(message.encoded.prefix(200))")
                }
            }
            for _ in batch {
                let event = try watcher.event(timeout: 10)
                version += 1
                #expect(event.cartVersion == version, "the watcher expected version \(version), got \(event.cartVersion ?? -1)")
                eventBytes = event.encoded.utf8.count
            }
        }
    }

    /// Reads the slow socket: what the kernel still held, then its end, which must be 4008.
    func expectSlowSocketCutOff() throws {
        let started = Date()
        if let kernelFullAt { print("NOTE slow reader: reading the slow socket \(seconds(since: kernelFullAt)) s after its kernel buffers were full") }
        let (end, messages) = try slow.readUntilEnd(timeout: 30)
        let versions = messages.filter { $0["type"]?.stringValue == "cart.updated" }.map { $0.cartVersion ?? -1 }
        print("NOTE slow reader: the slow socket then got \(versions.count) of \(version) events (~\(versions.count * eventBytes) bytes) in \(seconds(since: started)) s and ended with: \(end)")
        #expect(end == .closeFrame(4008), "the slow socket ended with \(end), expected close frame 4008")
        #expect(versions == (0..<Int64(versions.count)).map { $0 + 1 }, "what reached the slow socket before its end must be the first changes, in order")
        #expect(Int64(versions.count) < version, "the slow socket got every change (\(versions.count)): its queue never overflowed")
    }

    /// No reply was lost, every device that reads saw every change, the hub is healthy,
    /// and the cut-off device comes back to the current cart.
    func expectEveryoneElseServed() throws {
        while fastEvents.count < Int(version) { fastEvents.append(try fast.event(timeout: 10).cartVersion ?? -1) }
        #expect(fastEvents == Array(1...version), "the fast socket's events are not 1...\(version) in order")
        #expect(try hub.http("/healthz").status == 200)
        _ = try eventually(within: 5, "/readyz answers 200") { try hub.http("/readyz").status == 200 ? true : nil }
        let back = try CartSocket(hub, user: user)
        #expect(back.cart["version"]?.intValue == version, "a new socket of the slow user starts from the current cart")
        #expect(try fast.call("cart.get").cartVersion == version)
        #expect(try bystander.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1]).isOK)
        #expect(try bystander.event().cartVersion == 1)
    }
}

@Suite("Redis connections lost")
struct RedisConnectionTests {
    @Test("SCRIPT FLUSH mid-run: every command still succeeds (never INTERNAL) and versions rise by exactly one per change")
    func scriptFlush() throws {
        let catalog = try TestCatalog("flush", stocks: Array(repeating: 100_000, count: 5))
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let socket = try CartSocket(hub, user: user)
        let watcher = try CartSocket(hub, user: user)
        let admin = try TestEnvironment.redis()

        var versions: [Int64] = []
        var failures: [String] = []
        var flushes = 0
        let rounds = 30, perRound = 10
        for round in 0..<rounds {
            var ids: [String] = []
            for i in 0..<perRound {
                ids.append(try socket.send("cart.add", ["bookId": .string(catalog[(round * perRound + i) % 5].id), "quantity": 1]))
                if i == perRound / 2, round % 3 == 0 {
                    // Half of the round is in flight when the scripts vanish.
                    #expect(try admin.command(["SCRIPT", "FLUSH"]) == .status("OK"))
                    flushes += 1
                }
            }
            for id in ids {
                let reply = try socket.reply(id)
                if reply.isOK { versions.append(reply.cartVersion ?? -1) } else { failures.append(reply.encoded) }
            }
        }
        let total = rounds * perRound
        #expect(failures.isEmpty, "\(failures.count) of \(total) commands failed across \(flushes) SCRIPT FLUSHes: \(failures.prefix(5))")
        #expect(versions.sorted() == Array(1...Int64(total)), "each success must be exactly one new version")
        for expected in 1...Int64(total) {
            let event = try watcher.event()
            #expect(event.cartVersion == expected, "the other device expected version \(expected), got \(event.cartVersion ?? -1)")
            if event.cartVersion != expected { break }
        }
        let cart = try socket.call("cart.get")["data"]?["cart"]
        #expect(cart?["version"]?.intValue == Int64(total))
        #expect(cart?["itemCount"]?.intValue == Int64(total))
        #expect(hub.log.contains("cart script failed") == false, "the hub logged script failures:\n\(hub.log)")
    }

    @Test("the subscriber connection killed: every local socket gets a resync with the current cart, misses no change, and live events from another instance flow again")
    func subscriberKilled() throws {
        let catalog = try TestCatalog("sub", stocks: [1000])
        let hub = try HubProcess()
        let otherHub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let local = [try CartSocket(hub, user: user), try CartSocket(hub, user: user)]
        let remote = try CartSocket(otherHub, user: user)
        #expect(try local[0].call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 2]).isOK)
        for socket in local + [remote] { #expect(try socket.event().cartVersion == 1) }

        let admin = try TestEnvironment.redis()
        let killedId = try admin.killClient(named: hub.subscriberConnectionName)
        // A change through the other instance while this hub may not be subscribed.
        #expect(try remote.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1]).isOK)

        for (n, socket) in local.enumerated() {
            // The resync, and version 2 (in the resync itself, or as a live event).
            var resync: JSONValue?
            var newest: Int64 = 1
            let deadline = Date().addingTimeInterval(10)
            while resync == nil || newest < 2 {
                let event = try socket.event(timeout: max(0.01, deadline.timeIntervalSinceNow))
                newest = max(newest, event.cartVersion ?? -1)
                if event["origin"]?["via"] == "resync" { resync = event }
            }
            let snapshot = try #require(resync)
            #expect([1, 2].contains(snapshot.cartVersion ?? -1), "local socket \(n): the resync should hold the current cart: \(snapshot.encoded)")
            #expect(snapshot["cart"]?["items"]?.arrayValue?.first?["quantity"]?.intValue == (snapshot.cartVersion == 2 ? 3 : 2))
            #expect(snapshot["origin"]?["requestId"] == .null && snapshot["origin"]?["connectionId"] == .null)
        }
        let reconnected = try admin.clientList().filter { $0.name == hub.subscriberConnectionName }
        #expect(reconnected.count == 1 && reconnected.first?.id != killedId, "the hub should have one new subscriber connection: \(reconnected)")

        // Live again: a change through the other instance reaches this hub's sockets.
        #expect(try remote.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1]).isOK)
        for (n, socket) in local.enumerated() {
            let event = try socket.next(timeout: 10) { $0["type"]?.stringValue == "cart.updated" && $0.cartVersion == 3 }
            #expect(event["origin"]?["via"] == "ws", "local socket \(n) got \(event.encoded)")
        }
        // The other instance lost nothing, so it had nothing to resync.
        let remoteMessages = try remote.drain(for: 0.5)
        #expect(remoteMessages.allSatisfy { $0["origin"]?["via"] != "resync" }, "the other instance sent a resync")
    }

    @Test("the command connection killed: commands fail fast with UNAVAILABLE at most briefly, then succeed again")
    func commandConnectionKilled() throws {
        let catalog = try TestCatalog("cmd", stocks: [1000])
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let socket = try CartSocket(hub, user: user)
        #expect(try socket.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1]).isOK)

        let admin = try TestEnvironment.redis()
        try admin.killClient(named: hub.commandConnectionName)
        let killedAt = Date()

        var unavailable = 0
        var slowestFailure = 0.0
        let recovered = try eventually(within: 10, every: 0.05, "a command succeeds after the command connection was killed") { () -> JSONValue? in
            let sentAt = Date()
            let reply = try socket.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1], timeout: 5)
            if reply.isOK { return reply }
            #expect(reply.errorCode == "UNAVAILABLE", "\(reply.encoded)")
            unavailable += 1
            slowestFailure = max(slowestFailure, seconds(since: sentAt))
            return nil
        }
        print("NOTE command connection killed: \(unavailable) UNAVAILABLE replies (slowest \(slowestFailure) s), success after \(seconds(since: killedAt)) s")
        #expect(slowestFailure < 2.5, "an UNAVAILABLE reply took \(slowestFailure) s")
        #expect(recovered.cartVersion == 2, "exactly one more change than before: \(recovered.encoded)")
        #expect(try admin.clientList().contains { $0.name == hub.commandConnectionName }, "the reconnected command connection is named again")
        for _ in 0..<5 { #expect(try socket.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1]).isOK) }
        #expect(try socket.call("cart.get").cartVersion == 7)
    }

    @Test("commands in flight when the command connection dies are each answered once; retried with their requestId they apply exactly once")
    func commandConnectionKilledUnderLoad() throws {
        let catalog = try TestCatalog("cmdload", stocks: [1000, 1000, 1000, 1000])
        let hub = try HubProcess()
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        let admin = try TestEnvironment.redis()

        var ids: [String] = []
        for i in 0..<60 {
            ids.append(try socket.send("cart.add", ["bookId": .string(catalog[i % 4].id), "quantity": 1]))
            if i == 30 { try admin.killClient(named: hub.commandConnectionName) }
        }
        var toRetry: [String] = []
        for id in ids {
            let reply = try socket.reply(id)
            if !reply.isOK {
                #expect(reply.errorCode == "UNAVAILABLE", "\(reply.encoded)")
                toRetry.append(id)
            }
        }
        print("NOTE command connection killed under load: \(toRetry.count) of \(ids.count) commands answered UNAVAILABLE")
        _ = try eventually(within: 10, "every command answered UNAVAILABLE goes through on retry") { () -> Bool? in
            var still: [String] = []
            for id in toRetry where !(try socket.call("cart.add", ["bookId": .string(catalog[(ids.firstIndex(of: id) ?? 0) % 4].id), "quantity": 1], requestId: id).isOK) {
                still.append(id)
            }
            toRetry = still
            return still.isEmpty ? true : nil
        }
        let cart = try socket.call("cart.get")["data"]?["cart"]
        #expect(cart?["itemCount"]?.intValue == 60, "60 distinct commands must add 60 books, however they were retried: \(cart?.encoded ?? "")")
        #expect(cart?["version"]?.intValue == 60)
    }
}

@Suite("Redis down or stalled")
struct RedisOutageTests {
    private func add(_ socket: CartSocket, _ book: String, timeout: Double = 10) throws -> (reply: JSONValue, seconds: Double) {
        let sentAt = Date()
        let reply = try socket.call("cart.add", ["bookId": .string(book), "quantity": 1], timeout: timeout)
        return (reply, seconds(since: sentAt))
    }

    @Test("Redis killed: UNAVAILABLE within 2 s, the socket stays open, /readyz 503; Redis back: commands succeed again without restarting the hub")
    func redisKilledAndRestarted() throws {
        let catalog = try TestCatalog("down", stocks: [1000])
        let redis = try PrivateRedis()
        defer { redis.kill() }
        let hub = try HubProcess(environment: redis.hubEnvironment)
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        #expect(try add(socket, catalog[0].id).reply.isOK)
        _ = try eventually(within: 5, "/readyz answers 200 while all is well") { try hub.http("/readyz").status == 200 ? true : nil }

        redis.kill()
        var timings: [Double] = []
        for attempt in 0..<3 {
            let (reply, took) = try add(socket, catalog[0].id)
            #expect(reply.errorCode == "UNAVAILABLE", "attempt \(attempt) with Redis down: \(reply.encoded)")
            #expect(took < 2.5, "attempt \(attempt): the UNAVAILABLE reply took \(took) s; the bound is 2 s")
            timings.append(took)
            usleep(300_000)
        }
        print("NOTE redis killed: UNAVAILABLE replies after \(timings) s")
        let notReady = try eventually(within: 5, "/readyz answers 503 while Redis is down") { () -> HTTPResponse? in
            let response = try hub.http("/readyz")
            return response.status == 503 ? response : nil
        }
        #expect(notReady.bodyText.contains(#""redis":false"#), "\(notReady.bodyText)")
        #expect(try hub.http("/healthz").status == 200)
        #expect(socket.ws.isOpen)
        #expect(try socket.call("cart.get").errorCode == "UNAVAILABLE", "the socket is still served")

        let restartedAt = Date()
        try redis.start()
        let recovered = try eventually(within: 10, "a command succeeds after Redis came back") { () -> JSONValue? in
            let reply = try add(socket, catalog[0].id, timeout: 5).reply
            return reply.isOK ? reply : nil
        }
        print("NOTE redis restarted: first success after \(seconds(since: restartedAt)) s: cart \(recovered["data"]?["cart"]?.encoded ?? "")")
        // Pub/sub was re-established, so the socket was told the (new) truth.
        let resync = try socket.next(timeout: 10) { $0["type"]?.stringValue == "cart.updated" && $0["origin"]?["via"] == "resync" }
        print("NOTE redis restarted: resync \(resync["cart"]?.encoded ?? "")")
        _ = try eventually(within: 10, "/readyz answers 200 again") { try hub.http("/readyz").status == 200 ? true : nil }
        #expect(hub.isRunning)
    }

    @Test("after Redis lost its data, the cart a socket is sent has a higher epoch, so a client replaces what it showed")
    func lostDataMeansNewEpoch() throws {
        let catalog = try TestCatalog("epoch", stocks: [1000, 1000])
        let redis = try PrivateRedis()
        defer { redis.kill() }
        let hub = try HubProcess(environment: redis.hubEnvironment)
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        // What the client shows: two lines, at (epoch, version) = (e, 2).
        #expect(try add(socket, catalog[0].id).reply.isOK)
        let shown = try add(socket, catalog[1].id).reply["data"]?["cart"]
        let shownEpoch = try #require(shown?["epoch"]?.intValue)
        #expect(shown?["version"]?.intValue == 2)

        redis.kill()
        try redis.start() // empty: no persistence
        let resync = try socket.next(timeout: 15) { $0["type"]?.stringValue == "cart.updated" && $0["origin"]?["via"] == "resync" }
        let after = try eventually(within: 10, "a command succeeds after Redis came back") { () -> JSONValue? in
            let reply = try add(socket, catalog[0].id, timeout: 5).reply
            return reply.isOK ? reply["data"]?["cart"] : nil
        }
        // web-client-protocol.md §5: compare (epoch, version); ignore anything older than
        // what you show; the epoch changes when the cart's history was rebuilt. A client
        // following that rule must take both the resync and the next change.
        let resyncEpoch = resync["cart"]?["epoch"]?.intValue ?? 0
        let afterEpoch = after["epoch"]?.intValue ?? 0
        #expect(resyncEpoch > shownEpoch,
                "the resync after the data loss has epoch \(resyncEpoch) (version \(resync.cartVersion ?? -1)); the client shows epoch \(shownEpoch) version 2 and would ignore it: \(resync["cart"]?.encoded ?? "")")
        #expect(afterEpoch > shownEpoch,
                "the first change after the data loss is at epoch \(afterEpoch) version \(after["version"]?.intValue ?? -1), no newer than what the client shows (epoch \(shownEpoch) version 2)")
    }

    @Test("Redis stalled (SIGSTOP): a command is answered UNAVAILABLE within 2 s; after SIGCONT commands succeed again")
    func redisStalled() throws {
        let catalog = try TestCatalog("stall", stocks: [1000])
        let redis = try PrivateRedis()
        defer { redis.kill() }
        let hub = try HubProcess(environment: redis.hubEnvironment)
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        #expect(try add(socket, catalog[0].id).reply.isOK)

        redis.pause()
        defer { redis.resume() }
        // Right away (the connection still looks fine), and later (while it is being replaced).
        var unanswered: [String] = []
        for attempt in 0..<4 {
            let sentAt = Date()
            let id = try socket.send("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1])
            let reply = try socket.reply(id, timeout: 10)
            let took = seconds(since: sentAt)
            #expect(reply.errorCode == "UNAVAILABLE", "attempt \(attempt) with Redis stopped: \(reply.encoded)")
            #expect(took < 2.5, "attempt \(attempt): the reply took \(took) s; the bound is 2 s")
            print("NOTE redis stopped: attempt \(attempt) answered \(reply.errorCode ?? "ok") after \(took) s")
            unanswered.append(id)
            usleep(1_000_000)
        }
        #expect(socket.ws.isOpen)

        let resumedAt = Date()
        redis.resume()
        let recovered = try eventually(within: 10, "a command succeeds after SIGCONT") { () -> JSONValue? in
            let reply = try add(socket, catalog[0].id, timeout: 5).reply
            return reply.isOK ? reply : nil
        }
        print("NOTE redis resumed: first success after \(seconds(since: resumedAt)) s at version \(recovered.cartVersion ?? -1) (1 before the stall, 4 commands answered UNAVAILABLE meanwhile)")

        // UNAVAILABLE means "retry with the same requestId": each of those commands is then
        // applied exactly once, whether or not Redis ran it after all when it woke up.
        for id in unanswered {
            let retried = try socket.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1], requestId: id)
            #expect(retried.isOK, "retry of \(id): \(retried.encoded)")
        }
        let cart = try socket.call("cart.get")["data"]?["cart"]
        #expect(cart?["items"]?.arrayValue?.first?["quantity"]?.intValue == 6, "1 before the stall + 4 retried + 1 after: \(cart?.encoded ?? "")")
        #expect(cart?["version"]?.intValue == 6)
    }

    @Test("Redis behind (SIGSTOP): once the oldest command has waited half its deadline, a new one is refused at once, answered before the older one times out")
    func overloadShedding() throws {
        let catalog = try TestCatalog("shed", stocks: [1000])
        let redis = try PrivateRedis()
        defer { redis.kill() }
        let hub = try HubProcess(environment: redis.hubEnvironment.merging(["CARTHUB_REDIS_TIMEOUT_MS": "4000"]) { $1 })
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        #expect(try add(socket, catalog[0].id).reply.isOK)

        redis.pause()
        defer { redis.resume() }
        let waiting = try socket.send("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1])
        usleep(2_500_000) // past half the 4 s deadline
        let refused = try socket.send("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1])
        // Arrival order says it: the later command is refused while the earlier one still waits.
        let first = try socket.next(timeout: 10) { $0["type"]?.stringValue == "reply" }
        #expect(first["requestId"]?.stringValue == refused, "the first answer was to \(first["requestId"]?.stringValue ?? "?"): \(first.encoded)")
        #expect(first.errorCode == "UNAVAILABLE", "\(first.encoded)")
        let second = try socket.reply(waiting)
        #expect(second.errorCode == "UNAVAILABLE", "\(second.encoded)")
        #expect(socket.ws.isOpen)

        redis.resume()
        _ = try eventually(within: 10, "a command succeeds after SIGCONT") { () -> JSONValue? in
            let reply = try add(socket, catalog[0].id, timeout: 5).reply
            return reply.isOK ? reply : nil
        }
    }

    @Test("a hub started while its Redis is down does not listen until Redis is up")
    func startsOnlyWithRedis() throws {
        _ = try TestCatalog("late", stocks: [10])
        let redis = try PrivateRedis()
        defer { redis.kill() }
        redis.kill()

        let started = StartedHub()
        let environment = redis.hubEnvironment
        let thread = Thread { started.finish(Result { try HubProcess(environment: environment, startTimeout: 40) }) }
        thread.start()
        #expect(started.wait(seconds: 3) == nil, "the hub listened although its Redis was down")

        let redisUpAt = Date()
        try redis.start()
        let hub = try #require(try started.wait(seconds: 30)?.get(), "the hub did not start listening once Redis was up")
        print("NOTE late redis: the hub listened \(seconds(since: redisUpAt)) s after Redis came up")
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        #expect(try socket.call("cart.get").isOK)
    }
}

/// A hub being started on another thread.
private final class StartedHub: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<HubProcess, Error>?

    func finish(_ result: Result<HubProcess, Error>) {
        condition.lock()
        self.result = result
        condition.broadcast()
        condition.unlock()
    }

    func wait(seconds: Double) -> Result<HubProcess, Error>? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(seconds)
        while result == nil, condition.wait(until: deadline) {}
        return result
    }
}
