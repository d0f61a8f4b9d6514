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
    @Test("a socket that stops reading is closed with 4008 once its send queue overflows; the user's other sockets and other users are still served")
    func slowReaderIsCutOff() throws {
        // 100 lines with ~280-character titles: every cart.updated is about 40 KB.
        let catalog = try TestCatalog("slow", count: 100, titleLength: 280)
        // The rate limit is not under test here; the flood should be quick.
        let hub = try HubProcess(environment: ["CARTHUB_RATE_LIMIT": "100000", "CARTHUB_RATE_BURST": "100000"])
        let user = TestEnvironment.uniquePrefix("u")
        let slow = try CartSocket(hub, user: user) // reads its hello, then nothing until the end
        let fast = try CartSocket(hub, user: user) // sends every command
        let watcher = try CartSocket(hub, user: user) // another device of the same user, reading
        let bystander = try CartSocket(hub, user: TestEnvironment.uniquePrefix("v"))

        var version: Int64 = 0
        var fastEvents: [Int64] = []
        var firstBigEventBytes = 0
        /// Sends `commands` from `fast` a window at a time; every reply must come back ok,
        /// and the watcher must see every change, in order.
        func pump(_ commands: [(String, [String: JSONValue])], window: Int = 16) throws {
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
                        Issue.record("unexpected message on the fast socket: \(message["type"]?.encoded ?? "")")
                    }
                }
                for _ in batch {
                    let event = try watcher.event(timeout: 10)
                    version += 1
                    #expect(event.cartVersion == version, "the watcher expected version \(version), got \(event.cartVersion ?? -1)")
                    if firstBigEventBytes == 0, version == Int64(catalog.books.count) { firstBigEventBytes = event.encoded.utf8.count }
                }
            }
        }

        try pump(catalog.books.map { ("cart.add", ["bookId": .string($0.id), "quantity": 1]) })
        let filledAt = version
        #expect(firstBigEventBytes > 30_000, "each event should be big; the full cart is \(firstBigEventBytes) bytes")

        // Enough changes to fill the kernel's buffers (≤ the largest send buffer plus the
        // initial receive buffer) and then the hub's 4 MiB queue, with room to spare.
        let queueBound = 4 << 20
        let kernel = kernelBufferBytes()
        let target = queueBound + kernel + (4 << 20)
        let floodCount = target / max(firstBigEventBytes, 1) + 1
        let floodStarted = Date()
        var flood: [(String, [String: JSONValue])] = []
        for i in 0..<floodCount {
            flood.append(("cart.setQuantity", ["bookId": .string(catalog[i % catalog.books.count].id), "quantity": .int(Int64(2 + (i / catalog.books.count) % 2))]))
        }
        for chunk in stride(from: 0, to: flood.count, by: 64) {
            try pump(Array(flood[chunk..<min(chunk + 64, flood.count)]))
            // Another user is served all along.
            #expect(try bystander.call("cart.get").isOK)
        }
        let floodSeconds = seconds(since: floodStarted)

        // Now read the slow socket: whatever the kernel still held, then its end.
        let readStarted = Date()
        let (end, messages) = try slow.readUntilEnd(timeout: 30)
        let readSeconds = seconds(since: readStarted)
        let slowVersions = messages.filter { $0["type"]?.stringValue == "cart.updated" }.map { $0.cartVersion ?? -1 }
        let delivered = slowVersions.count
        print("""
            slow reader: \(floodCount) changes of ~\(firstBigEventBytes) bytes flooded in \(floodSeconds) s \
            (target \(target) bytes = 4 MiB queue + \(kernel) kernel + 4 MiB margin); the slow socket then got \
            \(delivered) events (~\(delivered * firstBigEventBytes) bytes) in \(readSeconds) s and ended with: \(end)
            """)
        #expect(end == .closeFrame(4008), "the slow socket ended with \(end), expected close frame 4008")
        #expect(slowVersions == (0..<Int64(delivered)).map { $0 + 1 },
                "what reached the slow socket before the close must be the first changes, in order")
        #expect(Int64(delivered) < version, "the slow socket got every change (\(delivered)); its queue never overflowed")

        // The fast socket saw all of its events too, in order.
        while fastEvents.count < Int(version) { fastEvents.append(try fast.event(timeout: 10).cartVersion ?? -1) }
        #expect(fastEvents == Array(1...version), "the fast socket's events are not 1...\(version) in order")
        #expect(version == filledAt + Int64(floodCount))

        // The hub is fine, and the cut-off device can come back to the current cart.
        #expect(try hub.http("/healthz").status == 200)
        #expect(try hub.http("/readyz").status == 200)
        let back = try CartSocket(hub, user: user)
        #expect(back.cart["version"]?.intValue == version)
        #expect(try fast.call("cart.get").cartVersion == version)
        let bystanderReply = try bystander.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1])
        #expect(bystanderReply.isOK)
        #expect(try bystander.event().cartVersion == 1)
    }

    /// The most a socket's kernel buffers can hold while its peer does not read: the
    /// sender's largest send buffer plus the receiver's initial receive buffer.
    private func kernelBufferBytes() -> Int {
        func third(_ path: String, _ index: Int) -> Int {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            let fields = text.split(whereSeparator: \.isWhitespace)
            return fields.count > index ? Int(fields[index]) ?? 0 : 0
        }
        let sendMax = third("/proc/sys/net/ipv4/tcp_wmem", 2)
        let receiveDefault = third("/proc/sys/net/ipv4/tcp_rmem", 1)
        return max(sendMax + receiveDefault, 4 << 20)
    }
}
