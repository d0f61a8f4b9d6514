import Foundation
import JSON
import Testing
import WebSocketClient

/// One user with a known cart, a bystander with another, and a hub: every bad frame
/// must get exactly its error and leave both carts exactly as they were.
final class BadInputBench {
    let hub: HubProcess
    let catalog: TestCatalog
    let socket: CartSocket
    let bystander: CartSocket
    /// The user's cart before any bad input: book 0 × 2, book 2 × 1 (version 2).
    private(set) var baseline: JSONValue = .null
    private var bystanderBaseline: JSONValue = .null

    /// Book 0: plenty (500); book 1: plenty, never in the cart; book 2: stock 3;
    /// book 3: stock 2, never in the cart.
    init(environment: [String: String] = [:]) throws {
        catalog = try TestCatalog("bad", stocks: [500, 500, 3, 2])
        hub = try HubProcess(environment: environment)
        socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        bystander = try CartSocket(hub, user: TestEnvironment.uniquePrefix("v"))
        #expect(try socket.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 2]).isOK)
        #expect(try socket.call("cart.add", ["bookId": .string(catalog[2].id), "quantity": 1]).isOK)
        #expect(try bystander.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 1]).isOK)
        // Our own events; nothing after them may arrive.
        _ = try socket.event()
        _ = try socket.event()
        _ = try bystander.event()
        baseline = try socket.currentCart()
        bystanderBaseline = try bystander.currentCart()
        #expect(baseline["version"] == 2 && baseline.quantity(of: catalog[0].id) == 2, "setup: \(baseline.encoded)")
    }

    /// Sends `text` as one text frame and expects one error reply with `code` and
    /// `requestId` (nil: null); then a cart.get on the same socket must succeed with
    /// the cart unchanged.
    func expectRejected(
        _ what: String, _ text: String, requestId: String?, code: String = "BAD_REQUEST", orNull: Bool = false,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try socket.ws.sendText(text)
        try expectReply(what, requestId: requestId, code: code, orNull: orNull, sourceLocation: sourceLocation)
    }

    /// The reply to the frame just sent: the next reply on the socket. `orNull`: a
    /// null requestId is accepted too (frames a strict parser may not read at all).
    func expectReply(_ what: String, requestId: String?, code: String, orNull: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reply: JSONValue
        do {
            reply = try socket.next(timeout: 10) { $0["type"] == "reply" }
        } catch {
            Issue.record("\(what): no reply (\(error))", sourceLocation: sourceLocation)
            throw error
        }
        let expectedId: JSONValue = requestId.map { .string($0) } ?? .null
        #expect(reply["ok"] == false && reply.errorCode == code, "\(what): expected \(code), got \(reply.encoded)", sourceLocation: sourceLocation)
        #expect(reply["requestId"] == expectedId || (orNull && reply["requestId"] == .null),
                "\(what): the reply must carry requestId \(expectedId.encoded)\(orNull ? " (or null)" : ""), got \(reply.encoded)", sourceLocation: sourceLocation)
        if reply["ok"] == false {
            #expect(reply["error"]?["message"]?.stringValue?.isEmpty == false, "\(what): the error needs a message: \(reply.encoded)", sourceLocation: sourceLocation)
        }
        try expectUnchanged(after: what, sourceLocation: sourceLocation)
    }

    /// The same socket still answers, and the cart is exactly the baseline.
    func expectUnchanged(after what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reply = try socket.call("cart.get")
        #expect(reply.isOK, "after \(what) the socket must keep working; cart.get answered \(reply.encoded)", sourceLocation: sourceLocation)
        let cart = reply["data"]?["cart"] ?? .null
        let unchanged = cart == baseline
        #expect(unchanged, "\(what) changed the cart: version \(baseline["version"]?.encoded ?? "?") → \(cart["version"]?.encoded ?? "?")\nbefore: \(baseline.encoded)\nafter:  \(cart.encoded)", sourceLocation: sourceLocation)
        // Judge the next case on its own.
        if !unchanged { baseline = cart }
    }

    /// No stray replies or events arrived, and the bystander's cart is untouched.
    func finish(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let stray = try socket.drain(for: 0.3).filter { $0["type"] == "reply" || $0["type"] == "cart.updated" }
        #expect(stray.isEmpty, "extra messages (a bad frame must get exactly one reply and no event): \(stray.map(\.encoded))", sourceLocation: sourceLocation)
        let bystanderCart = try bystander.currentCart()
        let bystanderUnchanged = bystanderCart == bystanderBaseline
        #expect(bystanderUnchanged, "another user's cart changed:\nbefore: \(bystanderBaseline.encoded)\nafter:  \(bystanderCart.encoded)", sourceLocation: sourceLocation)
        let bystanderEvents = try bystander.drain(for: 0.1).filter { $0["type"] == "cart.updated" }
        #expect(bystanderEvents.isEmpty, "another user got events: \(bystanderEvents.map(\.encoded))", sourceLocation: sourceLocation)
    }

    func book(_ i: Int) -> String { catalog[i].id }

    func isBaseline(_ cart: JSONValue?) -> Bool { cart == baseline }
}

/// JSON text of a command object; `fields` are spliced in verbatim (so they can be anything).
private func command(_ type: String?, _ requestId: String?, _ fields: String = "") -> String {
    var members: [String] = []
    if let type { members.append(#""type":"\#(type)""#) }
    if let requestId { members.append(#""requestId":"\#(requestId)""#) }
    if !fields.isEmpty { members.append(fields) }
    return "{" + members.joined(separator: ",") + "}"
}

private func nested(_ depth: Int, _ inner: String = "0") -> String {
    String(repeating: "[", count: depth) + inner + String(repeating: "]", count: depth)
}

@Suite("Bad input on a socket")
struct BadInputTests {
    @Test("frames that are not one JSON object get BAD_REQUEST with requestId null")
    func notACommandObject() throws {
        let bench = try BadInputBench()
        let cases: [(String, String)] = [
            ("plain text", "hello hub"),
            ("truncated JSON", #"{"type":"cart.get","requestId":"t-1""#),
            ("single quotes", "{'type':'cart.get','requestId':'q-1'}"),
            ("NaN", #"{"type":"cart.add","requestId":"nan-1","bookId":"\#(bench.book(0))","quantity":NaN}"#),
            ("an empty frame", ""),
            ("only whitespace", "   \n "),
            ("an array", #"[{"type":"cart.get","requestId":"arr-1"}]"#),
            ("a string", #""cart.get""#),
            ("a number", "42"),
            ("null", "null"),
            ("true", "true"),
            ("trailing garbage after the object", #"{"type":"cart.get","requestId":"tg-1"} x"#),
            ("two objects in one frame", #"{"type":"cart.get","requestId":"two-1"}{"type":"cart.get","requestId":"two-2"}"#),
            ("100 nested arrays", nested(100)),
        ]
        for (what, text) in cases {
            try bench.expectRejected(what, text, requestId: nil)
        }
        // Too deep to parse: the requestId may be unreadable.
        try bench.expectRejected("a command with 100 nested arrays inside", command("cart.get", "deep-1", #""x":\#(nested(100))"#), requestId: "deep-1", orNull: true)
        try bench.expectRejected("a command nested 33 levels deep (limit 32)", command("cart.get", "deep-2", #""x":\#(nested(32))"#), requestId: "deep-2", orNull: true)
        try bench.finish()
    }

    @Test("nesting up to 32 levels is accepted; unknown fields are ignored")
    func nestingAtTheLimit() throws {
        let bench = try BadInputBench()
        let reply = try bench.socket.callRaw(command("cart.get", "deep-ok", #""x":\#(nested(31))"#), expecting: "deep-ok")
        #expect(reply.isOK, "a command nested exactly 32 levels deep is fine: \(reply.encoded)")
        #expect(bench.isBaseline(reply["data"]?["cart"]), "and changes nothing")
        try bench.finish()
    }

    @Test("a missing or malformed requestId gets BAD_REQUEST with requestId null")
    func badRequestId() throws {
        let bench = try BadInputBench()
        let long = String(repeating: "r", count: 65)
        let cases: [(String, String)] = [
            ("no requestId", command("cart.get", nil)),
            ("requestId a number", command("cart.get", nil, #""requestId":7"#)),
            ("requestId null", command("cart.get", nil, #""requestId":null"#)),
            ("requestId true", command("cart.get", nil, #""requestId":true"#)),
            ("requestId an array", command("cart.get", nil, #""requestId":["a"]"#)),
            ("requestId empty", command("cart.get", "")),
            ("requestId of 65 characters", command("cart.get", long)),
            ("requestId of 65 characters on a mutation", command("cart.add", long, #""bookId":"\#(bench.book(0))","quantity":1"#)),
            ("no requestId and no type", "{}"),
        ]
        for (what, text) in cases {
            try bench.expectRejected(what, text, requestId: nil)
        }
        try bench.finish()
    }

    @Test("requestIds of 1 and 64 characters (any Unicode) are fine")
    func requestIdBounds() throws {
        let bench = try BadInputBench()
        for id in ["1", String(repeating: "r", count: 64), String(repeating: "é", count: 64)] {
            let reply = try bench.socket.callRaw(command("cart.get", id), expecting: id)
            #expect(reply.isOK, "requestId of \(id.count) characters: \(reply.encoded)")
        }
        try bench.finish()
    }

    @Test("a missing, unknown or non-string type gets BAD_REQUEST with the requestId")
    func badType() throws {
        let bench = try BadInputBench()
        let cases: [(String, String, String)] = [
            ("no type", "ty-1", command(nil, "ty-1")),
            ("unknown type", "ty-2", command("cart.explode", "ty-2")),
            ("type in the wrong case", "ty-3", command("CART.GET", "ty-3")),
            ("type of a server message", "ty-4", command("reply", "ty-4")),
            ("type a number", "ty-5", command(nil, "ty-5", #""type":1"#)),
            ("type null", "ty-6", command(nil, "ty-6", #""type":null"#)),
            ("type an object", "ty-7", command(nil, "ty-7", #""type":{"name":"cart.get"}"#)),
        ]
        for (what, id, text) in cases {
            try bench.expectRejected(what, text, requestId: id)
        }
        try bench.finish()
    }

    @Test("a missing or malformed bookId gets BAD_REQUEST with the requestId")
    func badBookId() throws {
        let bench = try BadInputBench()
        let cases: [(String, String)] = [
            ("missing", ""),
            ("a number", #""bookId":12"#),
            ("null", #""bookId":null"#),
            ("an array", #""bookId":["x"]"#),
            ("empty", #""bookId":"""#),
            ("with a space", #""bookId":"a b""#),
            ("a path", #""bookId":"../x""#),
            ("with a slash", #""bookId":"bk/1""#),
            ("non-ASCII", #""bookId":"é""#),
            ("with a NUL", #""bookId":"bk\u0000x""#),
            ("a Redis glob", #""bookId":"*""#),
            ("65 characters", #""bookId":"\#(String(repeating: "b", count: 65))""#),
        ]
        var n = 0
        for (what, field) in cases {
            for (type, quantity) in [("cart.add", #""quantity":1"#), ("cart.setQuantity", #""quantity":1"#), ("cart.remove", "")] {
                n += 1
                let id = "bk-\(n)"
                let fields = [field, quantity].filter { !$0.isEmpty }.joined(separator: ",")
                try bench.expectRejected("\(type) with bookId \(what)", command(type, id, fields), requestId: id)
            }
        }
        try bench.finish()
    }

    @Test("a quantity that is not an integer in range gets BAD_REQUEST with the requestId")
    func badQuantity() throws {
        let bench = try BadInputBench()
        let book = bench.book(0)  // in the cart, so setQuantity would be allowed
        let cases: [(String, String, String)] = [
            ("cart.add", "missing", ""),
            ("cart.add", "a string \"2\"", #""quantity":"2""#),
            ("cart.add", "2.5", #""quantity":2.5"#),
            ("cart.add", "2.0", #""quantity":2.0"#),
            ("cart.add", "2e0", #""quantity":2e0"#),
            ("cart.add", "true", #""quantity":true"#),
            ("cart.add", "null", #""quantity":null"#),
            ("cart.add", "an array", #""quantity":[2]"#),
            ("cart.add", "negative", #""quantity":-1"#),
            ("cart.add", "0", #""quantity":0"#),
            ("cart.add", "-0", #""quantity":-0"#),
            ("cart.add", "1e30", #""quantity":1e30"#),
            ("cart.add", "99999999999999999999 (beyond 64 bits)", #""quantity":99999999999999999999"#),
            ("cart.add", "-99999999999999999999", #""quantity":-99999999999999999999"#),
            ("cart.setQuantity", "missing", ""),
            ("cart.setQuantity", "negative", #""quantity":-1"#),
            ("cart.setQuantity", "a string \"0\"", #""quantity":"0""#),
            ("cart.setQuantity", "0.5", #""quantity":0.5"#),
            ("cart.setQuantity", "1.0", #""quantity":1.0"#),
            ("cart.setQuantity", "1e30", #""quantity":1e30"#),
            ("cart.setQuantity", "99999999999999999999 (beyond 64 bits)", #""quantity":99999999999999999999"#),
        ]
        for (n, (type, what, field)) in cases.enumerated() {
            let id = "q-\(n)"
            let fields = [#""bookId":"\#(book)""#, field].filter { !$0.isEmpty }.joined(separator: ",")
            try bench.expectRejected("\(type) with quantity \(what)", command(type, id, fields), requestId: id)
        }
        // Beyond Double's range: a strict parser may refuse the whole frame.
        for (n, literal) in ["1e400", "-1e400"].enumerated() {
            let id = "q-huge-\(n)"
            try bench.expectRejected("cart.add with quantity \(literal)", command("cart.add", id, #""bookId":"\#(book)","quantity":\#(literal)"#), requestId: id, orNull: true)
        }
        try bench.finish()
    }

    @Test("a quantity above the per-line maximum (99) gets QUANTITY_LIMIT")
    func quantityAboveMaximum() throws {
        let bench = try BadInputBench()
        let cases: [(String, String, String)] = [
            ("cart.add of 100", "cart.add", #""bookId":"\#(bench.book(0))","quantity":100"#),
            ("cart.add of Int64.max", "cart.add", #""bookId":"\#(bench.book(0))","quantity":9223372036854775807"#),
            ("cart.add of 98 onto a line of 2 (100 in total)", "cart.add", #""bookId":"\#(bench.book(0))","quantity":98"#),
            ("cart.setQuantity to 100", "cart.setQuantity", #""bookId":"\#(bench.book(0))","quantity":100"#),
        ]
        for (n, (what, type, fields)) in cases.enumerated() {
            try bench.expectRejected(what, command(type, "ql-\(n)", fields), requestId: "ql-\(n)", code: "QUANTITY_LIMIT")
        }
        // 97 more makes exactly 99: allowed.
        let reply = try bench.socket.call("cart.add", ["bookId": .string(bench.book(0)), "quantity": 97])
        #expect(reply.isOK, "a line of exactly 99 is allowed: \(reply.encoded)")
        #expect(reply["data"]?["cart"]?.quantity(of: bench.book(0)) == 99)
    }

    @Test("domain errors: NOT_IN_CART, BOOK_NOT_FOUND, INSUFFICIENT_STOCK leave the cart as it was")
    func domainErrors() throws {
        let bench = try BadInputBench()
        let absent = bench.book(1)  // in the catalog, not in the cart
        let scarce = bench.book(2)  // stock 3, 1 in the cart
        let unknown = TestEnvironment.uniquePrefix("no-such-book")
        let cases: [(String, String, String, String)] = [
            ("setQuantity of a book not in the cart", "cart.setQuantity", #""bookId":"\#(absent)","quantity":2"#, "NOT_IN_CART"),
            ("setQuantity 0 of a book not in the cart", "cart.setQuantity", #""bookId":"\#(absent)","quantity":0"#, "NOT_IN_CART"),
            ("remove of a book not in the cart", "cart.remove", #""bookId":"\#(absent)""#, "NOT_IN_CART"),
            ("remove of a well-formed id that is in no catalog", "cart.remove", #""bookId":"\#(unknown)""#, "NOT_IN_CART"),
            ("add of a well-formed id that is in no catalog", "cart.add", #""bookId":"\#(unknown)","quantity":1"#, "BOOK_NOT_FOUND"),
            ("add of a well-formed 64-character id that is in no catalog", "cart.add", #""bookId":"\#(String(repeating: "b", count: 64))","quantity":1"#, "BOOK_NOT_FOUND"),
            ("setQuantity of a well-formed id that is in no catalog", "cart.setQuantity", #""bookId":"\#(unknown)","quantity":1"#, "BOOK_NOT_FOUND"),
            ("add above stock on a new line", "cart.add", #""bookId":"\#(bench.book(3))","quantity":3"#, "INSUFFICIENT_STOCK"),
            ("add above stock (1 in the cart + 3 > 3)", "cart.add", #""bookId":"\#(scarce)","quantity":3"#, "INSUFFICIENT_STOCK"),
            ("setQuantity above stock", "cart.setQuantity", #""bookId":"\#(scarce)","quantity":4"#, "INSUFFICIENT_STOCK"),
        ]
        for (n, (what, type, fields, code)) in cases.enumerated() {
            try bench.expectRejected(what, command(type, "dom-\(n)", fields), requestId: "dom-\(n)", code: code)
        }
        // The stock message says how many there are.
        let reply = try bench.socket.call("cart.add", ["bookId": .string(scarce), "quantity": 5])
        #expect(reply.errorCode == "INSUFFICIENT_STOCK" && reply["error"]?["message"]?.stringValue?.contains("3") == true,
                "INSUFFICIENT_STOCK must say that 3 are in stock: \(reply.encoded)")
        try bench.expectUnchanged(after: "the stock message check")
        try bench.finish()
    }

    @Test("a cart holds at most CARTHUB_MAX_LINES distinct books: CART_LIMIT")
    func cartLimit() throws {
        let bench = try BadInputBench(environment: ["CARTHUB_MAX_LINES": "2"])
        try bench.expectRejected("a third distinct book", command("cart.add", "cl-1", #""bookId":"\#(bench.book(1))","quantity":1"#), requestId: "cl-1", code: "CART_LIMIT")
        // Raising an existing line is still fine.
        let reply = try bench.socket.call("cart.add", ["bookId": .string(bench.book(0)), "quantity": 1])
        #expect(reply.isOK && reply.cartVersion == 3, "adding to an existing line at the line limit: \(reply.encoded)")
    }

    @Test("setQuantity 0 of a line in the cart removes it (it is not an error)")
    func setQuantityZero() throws {
        let bench = try BadInputBench()
        let reply = try bench.socket.call("cart.setQuantity", ["bookId": .string(bench.book(0)), "quantity": 0])
        #expect(reply.isOK, "\(reply.encoded)")
        let cart = reply["data"]?["cart"] ?? .null
        #expect(cart["version"] == 3 && cart.quantity(of: bench.book(0)) == 0, "the line is gone and the version rose by one: \(cart.encoded)")
        #expect(cart["items"]?.arrayValue?.count == 1)
        #expect(try bench.socket.event().cartVersion == 3, "one cart.updated for the change")
    }

    @Test("a binary frame gets BAD_REQUEST with requestId null; the socket stays open")
    func binaryFrame() throws {
        let bench = try BadInputBench()
        try bench.socket.ws.sendBinary(Array(command("cart.add", "bin-1", #""bookId":"\#(bench.book(0))","quantity":1"#).utf8))
        try bench.expectReply("a binary frame holding a valid command", requestId: nil, code: "BAD_REQUEST")
        try bench.socket.ws.sendBinary([0xFF, 0x00, 0xC3])
        try bench.expectReply("a binary frame of junk", requestId: nil, code: "BAD_REQUEST")
        // A binary message bigger than one read (lws hands it over in pieces): one reply.
        try bench.socket.ws.sendBinary([UInt8](repeating: 0x42, count: 20_000))
        try bench.expectReply("a 20 kB binary frame", requestId: nil, code: "BAD_REQUEST")
        // A fragmented binary message is still one message: one reply.
        try bench.socket.ws.sendFrame(opcode: 2, payload: [1, 2, 3], fin: false)
        try bench.socket.ws.sendFrame(opcode: 0, payload: [4, 5, 6], fin: true)
        try bench.expectReply("a binary message in two fragments", requestId: nil, code: "BAD_REQUEST")
        try bench.finish()
    }
}

@Suite("Message size, UTF-8 and fragmentation")
struct FramingTests {
    /// A cart.get padded with spaces to exactly `size` bytes.
    static func padded(_ requestId: String, size: Int) -> [UInt8] {
        let head = Array(#"{"type":"cart.get","requestId":"\#(requestId)""#.utf8)
        return head + Array(repeating: UInt8(ascii: " "), count: size - head.count - 1) + [UInt8(ascii: "}")]
    }

    static func fragments(_ bytes: [UInt8], _ count: Int) -> [[UInt8]] {
        let size = (bytes.count + count - 1) / count
        return stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<min($0 + size, bytes.count)]) }
    }

    static func sendFragmented(_ ws: WebSocketClient, _ bytes: [UInt8], into count: Int) throws {
        let parts = fragments(bytes, count)
        for (i, part) in parts.enumerated() {
            try ws.sendFrame(opcode: i == 0 ? 1 : 0, payload: part, fin: i == parts.count - 1)
        }
    }

    @Test("a message of exactly 64 KiB is served, in one frame or in three fragments")
    func exactlyTheLimit() throws {
        let bench = try BadInputBench()
        try bench.socket.ws.sendFrame(opcode: 1, payload: Self.padded("big-1", size: 64 * 1024))
        let one = try bench.socket.reply("big-1")
        #expect(one.isOK && bench.isBaseline(one["data"]?["cart"]), "64 KiB in one frame: \(one.encoded.prefix(300))")
        try Self.sendFragmented(bench.socket.ws, Self.padded("big-2", size: 64 * 1024), into: 3)
        let three = try bench.socket.reply("big-2")
        #expect(three.isOK && bench.isBaseline(three["data"]?["cart"]), "64 KiB in three fragments: \(three.encoded.prefix(300))")
        try bench.finish()
    }

    @Test("a message of 64 KiB + 1 byte (after reassembly) closes the socket with 1009", arguments: [(1, true), (3, true), (1, false), (3, false)])
    func overTheLimit(fragments: Int, text: Bool) throws {
        let bench = try BadInputBench()
        let other = try CartSocket(bench.hub, user: bench.socket.user)
        let message = Self.padded("huge-1", size: 64 * 1024 + 1)
        if text {
            try Self.sendFragmented(bench.socket.ws, message, into: fragments)
        } else {
            let parts = Self.fragments(message, fragments)
            for (i, part) in parts.enumerated() {
                try bench.socket.ws.sendFrame(opcode: i == 0 ? 2 : 0, payload: part, fin: i == parts.count - 1)
            }
        }
        let (end, messages) = bench.socket.waitForClose(timeout: 5)
        #expect(end.closeCode == 1009, "expected close 1009 (message too big), got: \(end); messages meanwhile: \(messages.map(\.encoded))")
        let executed = messages.filter { $0["type"] == "reply" && $0.isOK }
        #expect(executed.isEmpty, "an oversized message must not be executed: \(executed.map(\.encoded))")
        // The user's other socket and the cart are unaffected.
        #expect(bench.isBaseline(try other.currentCart()), "the user's other socket works and the cart did not change")
    }

    @Test("invalid UTF-8 in a text frame closes the socket with 1007", arguments: [
        [0xC3, 0x28] as [UInt8],  // a lead byte followed by ASCII
        [0xED, 0xA0, 0x80],  // an encoded surrogate
        [0xFF],
    ])
    func invalidUTF8(junk: [UInt8]) throws {
        let bench = try BadInputBench()
        let other = try CartSocket(bench.hub, user: bench.socket.user)
        let payload = Array(#"{"type":"cart.add","requestId":"utf-"#.utf8) + junk + Array(#"","bookId":"\#(bench.book(0))","quantity":1}"#.utf8)
        try bench.socket.ws.sendFrame(opcode: 1, payload: payload)
        let (end, messages) = bench.socket.waitForClose()
        #expect(end.closeCode == 1007, "expected close 1007 (invalid UTF-8), got: \(end); messages meanwhile: \(messages.map(\.encoded))")
        #expect(bench.isBaseline(try other.currentCart()), "the frame must not have been executed")
    }

    @Test("a ping between the fragments of a message is answered and the message still arrives whole")
    func pingBetweenFragments() throws {
        let bench = try BadInputBench()
        let bytes = Array(command("cart.get", "ping-1").utf8)
        try bench.socket.ws.sendFrame(opcode: 1, payload: Array(bytes[..<10]), fin: false)
        try bench.socket.ws.sendFrame(opcode: 9, payload: Array("are you there".utf8))
        try bench.socket.ws.sendFrame(opcode: 0, payload: Array(bytes[10...]), fin: true)
        let reply = try bench.socket.reply("ping-1")
        #expect(reply.isOK && bench.isBaseline(reply["data"]?["cart"]), "\(reply.encoded)")
        try bench.finish()
    }

    @Test("requestIds with JSON-special characters come back exactly, in the reply and in the event's origin")
    func requestIdEscaping() throws {
        let bench = try BadInputBench()
        let watcher = try CartSocket(bench.hub, user: bench.socket.user)
        let ids = [#"quote " back \ slash /"#, "tab\tnewline\ncontrol\u{01}", "line sep \u{2028} para \u{2029}", "emoji 👍🏽 and é", "</script>"]
        for id in ids {
            let reply = try bench.socket.call("cart.add", ["bookId": .string(bench.book(0)), "quantity": 1], requestId: id)
            #expect(reply["requestId"]?.stringValue == id && reply.isOK, "reply to \(JSONValue.string(id).encoded): \(reply.encoded)")
            let event = try watcher.event()
            #expect(event["origin"]?["requestId"]?.stringValue == id, "event origin for \(JSONValue.string(id).encoded): \(event.encoded)")
            let rejected = try bench.socket.call("cart.add", ["bookId": .string(bench.book(2)), "quantity": 50], requestId: id + "!")
            #expect(rejected["requestId"]?.stringValue == id + "!" && rejected.errorCode == "INSUFFICIENT_STOCK", "error reply: \(rejected.encoded)")
        }
    }

    @Test("a valid message in three fragments is one command: one reply, one change, one event")
    func fragmentedCommand() throws {
        let bench = try BadInputBench()
        // "é" split across fragment boundaries must be reassembled, not rejected.
        let text = #"{"type":"cart.add","requestId":"frag-éé","bookId":"\#(bench.book(0))","quantity":3}"#
        let bytes = Array(text.utf8)
        let cut = bytes.firstIndex(of: 0xC3)! + 1
        let parts = [Array(bytes[..<cut]), Array(bytes[cut..<(cut + 2)]), Array(bytes[(cut + 2)...])]
        for (i, part) in parts.enumerated() {
            try bench.socket.ws.sendFrame(opcode: i == 0 ? 1 : 0, payload: part, fin: i == 2)
        }
        let reply = try bench.socket.reply("frag-éé")
        #expect(reply.isOK, "\(reply.encoded)")
        #expect(reply.cartVersion == 3 && reply["data"]?["cart"]?.quantity(of: bench.book(0)) == 5, "2 + 3 = 5, one new version: \(reply.encoded)")
        #expect(try bench.socket.event().cartVersion == 3)
        let extra = try bench.socket.drain(for: 0.3).filter { $0["type"] == "reply" || $0["type"] == "cart.updated" }
        #expect(extra.isEmpty, "one command, one reply, one event: \(extra.map(\.encoded))")
    }
}
