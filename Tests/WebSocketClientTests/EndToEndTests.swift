import Testing
@testable import WebSocketClient

/// Runs `body` and returns the `WebSocketClientError` it throws, recording an issue otherwise.
private func error(of body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> WebSocketClientError? {
    do {
        try body()
        Issue.record("expected an error", sourceLocation: sourceLocation)
    } catch let error as WebSocketClientError {
        return error
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

@Suite struct WebSocketEndToEndTests {
    let server: TestServer
    init() throws { server = try TestServer(handler: webSocketTestServer) }
    var base: String { "ws://127.0.0.1:\(server.port)" }

    @Test func echoTextAndBinaryThenClose() throws {
        let client = try WebSocketClient.connect(url: "\(base)/ws")
        #expect(client.isOpen)
        #expect(client.negotiatedSubprotocol == "carthub.v1")
        try client.sendText("hello ✓")
        #expect(try client.receive(timeout: 5) == .text("hello ✓"))
        try client.sendBinary([0, 1, 2, 255])
        #expect(try client.receive(timeout: 5) == .binary([0, 1, 2, 255]))
        client.close()
        #expect(!client.isOpen)
        #expect(error { _ = try client.receive(timeout: 1) }.map { "\($0)" } == "connection closed")
        #expect(error { try client.sendText("late") }.map { "\($0)" } == "connection closed")
    }

    @Test func sendsHandshakeAndCustomHeaders() throws {
        let client = try WebSocketClient.connect(
            url: "\(base)/ws?x=1", headers: [("Cookie", "sid=abc"), ("Origin", "http://test")], subprotocols: ["a", "b"])
        defer { client.close() }
        #expect(client.negotiatedSubprotocol == "a")
        try client.sendText("headers")
        guard case .text(let head) = try client.receive(timeout: 5) else { Issue.record("no text"); return }
        #expect(head.hasPrefix("GET /ws?x=1 HTTP/1.1\r\n"))
        for line in ["Host: 127.0.0.1:\(server.port)", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
                     "Sec-WebSocket-Protocol: a, b", "Cookie: sid=abc", "Origin: http://test"] {
            #expect((head + "\r\n").contains(line + "\r\n"), "\(line)")
        }
    }

    @Test func noSubprotocolsMeansNoHeader() throws {
        let client = try WebSocketClient.connect(url: "\(base)/", subprotocols: [])
        defer { client.close() }
        #expect(client.negotiatedSubprotocol == nil)
        try client.sendText("headers")
        guard case .text(let head) = try client.receive(timeout: 5) else { Issue.record("no text"); return }
        #expect(!head.lowercased().contains("sec-websocket-protocol"))
    }

    @Test func largeMessagesUseLongLengthEncodings() throws {
        let client = try WebSocketClient.connect(url: base)
        defer { client.close() }
        for size in [126, 65535, 65536, 1 << 20] {
            try client.sendText("big:\(size)")
            #expect(try client.receive(timeout: 10) == .binary((0..<size).map { UInt8(truncatingIfNeeded: $0) }))
        }
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try client.sendBinary(payload)
        #expect(try client.receive(timeout: 10) == .binary(payload))
    }

    @Test func reassemblesFragmentsAndAnswersPings() throws {
        let client = try WebSocketClient.connect(url: base)
        defer { client.close() }
        try client.sendText("fragmented")
        #expect(try client.receive(timeout: 5) == .text("fragmented"))
        #expect(try client.receive(timeout: 5) == .text("pong:mid"))  // the automatic pong to the interleaved ping

        try client.sendText("ping")
        #expect(try client.receive(timeout: 5) == .text("pong:abc"))

        // Our own fragments are echoed one to one and come back as one message.
        try client.sendFrame(opcode: Opcode.binary, payload: [1, 2], fin: false)
        try client.sendFrame(opcode: Opcode.continuation, payload: [3], fin: false)
        try client.sendFrame(opcode: Opcode.continuation, payload: [4])
        #expect(try client.receive(timeout: 5) == .binary([1, 2, 3, 4]))
    }

    @Test func framesRightBehindThe101AreKept() throws {
        let client = try WebSocketClient.connect(url: "\(base)/greet")
        defer { client.close() }
        #expect(try client.receive(timeout: 5) == .text("welcome"))
    }

    @Test func receiveTextSkipsUntilPredicateMatches() throws {
        let client = try WebSocketClient.connect(url: base)
        defer { client.close() }
        for text in ["one", "two", "three"] { try client.sendText(text) }
        try client.sendBinary([9])
        try client.sendText("four")
        #expect(try client.receiveText(timeout: 5) { $0.hasPrefix("f") } == "four")
        let start = ContinuousClock.now
        #expect(error { _ = try client.receiveText(timeout: 0.3) { _ in true } }.map { "\($0)" } == "timed out")
        #expect(ContinuousClock.now - start >= .milliseconds(300))
    }

    @Test func timeoutLeavesConnectionUsable() throws {
        let client = try WebSocketClient.connect(url: base)
        defer { client.close() }
        #expect(error { _ = try client.receive(timeout: 0.2) }.map { "\($0)" } == "timed out")
        #expect(client.isOpen)
        try client.sendText("still here")
        #expect(try client.receive(timeout: 5) == .text("still here"))
    }

    @Test func serverInitiatedClose() throws {
        let client = try WebSocketClient.connect(url: base)
        try client.sendText("close-me")
        #expect(try client.receive(timeout: 5) == .close(code: 4000, reason: "bye"))
        #expect(!client.isOpen)
        #expect(error { _ = try client.receive(timeout: 1) }.map { "\($0)" } == "connection closed")
        client.close()  // harmless after the server closed
    }

    @Test func droppedConnectionThrowsClosed() throws {
        let client = try WebSocketClient.connect(url: base)
        try client.sendText("drop")
        #expect(error { _ = try client.receive(timeout: 5) }.map { "\($0)" } == "connection closed")
        #expect(!client.isOpen)
    }

    @Test(arguments: ["masked", "invalid-utf8"])
    func protocolViolationsFailTheConnection(command: String) throws {
        let client = try WebSocketClient.connect(url: base)
        try client.sendText(command)
        guard case .protocolError? = error(of: { _ = try client.receive(timeout: 5) }) else {
            Issue.record("expected protocolError")
            return
        }
        #expect(!client.isOpen)
    }

    /// The limit is checked from frame headers, before any payload is buffered.
    @Test(arguments: ["oversize-header", "oversize-fragments"])
    func oversizeMessageIsRejected(command: String) throws {
        let client = try WebSocketClient.connect(url: base)
        try client.sendText(command)
        guard case .protocolError(let message)? = error(of: { _ = try client.receive(timeout: 5) }) else {
            Issue.record("expected protocolError")
            return
        }
        #expect(message.contains("exceeds"))
        #expect(!client.isOpen)
    }

    @Test func rawBadFramesReachTheServer() throws {
        let client = try WebSocketClient.connect(url: base)
        try client.sendRaw(Frame(opcode: Opcode.text, payload: Array("unmasked".utf8)).encoded())
        #expect(try client.receive(timeout: 5) == .close(code: 1002, reason: ""))
    }

    @Test func handshakeRejectedCarriesTheResponse() throws {
        guard case .handshakeRejected(let response)? = error(of: { _ = try WebSocketClient.connect(url: "\(base)/reject") }) else {
            Issue.record("expected handshakeRejected")
            return
        }
        #expect(response.status == 403)
        #expect(response.header("x-reason") == "test")
        #expect(response.bodyText == "go away")
    }

    @Test func silentServerIsConnectFailed() {
        guard case .connectFailed? = error(of: { _ = try WebSocketClient.connect(url: "\(base)/silent") }) else {
            Issue.record("expected connectFailed")
            return
        }
    }

    @Test(arguments: ["/bad-accept", "/wrong-protocol"])
    func invalidUpgradeIsProtocolError(path: String) {
        guard case .protocolError? = error(of: { _ = try WebSocketClient.connect(url: base + path) }) else {
            Issue.record("expected protocolError")
            return
        }
    }

    @Test func refusedPortAndBadURL() {
        guard case .connectFailed? = error(of: { _ = try WebSocketClient.connect(url: "ws://127.0.0.1:1/", timeout: 2) }) else {
            Issue.record("expected connectFailed")
            return
        }
        guard case .invalidURL? = error(of: { _ = try WebSocketClient.connect(url: "wss://127.0.0.1/") }) else {
            Issue.record("expected invalidURL")
            return
        }
    }
}

@Suite struct HTTPClientTests {
    let server: TestServer
    init() throws { server = try TestServer(handler: httpTestServer) }
    var base: String { "http://127.0.0.1:\(server.port)" }

    @Test func contentLength() throws {
        let response = try HTTPClient.request("GET", "\(base)/hello")
        #expect(response.status == 200)
        #expect(response.header("content-type") == "text/plain")
        #expect(response.header("CONTENT-LENGTH") == "5")
        #expect(response.header("missing") == nil)
        #expect(response.bodyText == "hello")
    }

    @Test func chunked() throws {
        let response = try HTTPClient.request("GET", "\(base)/chunked")
        #expect(response.bodyText == "hello world")
    }

    @Test func untilClose() throws {
        let response = try HTTPClient.request("GET", "\(base)/eof")
        #expect(response.status == 404)
        #expect(response.bodyText == "no length, ends at close")
    }

    @Test func headHasNoBody() throws {
        let response = try HTTPClient.request("HEAD", "\(base)/head", timeout: 2)
        #expect(response.status == 200)
        #expect(response.body.isEmpty)
    }

    @Test func shortBodyIsAnError() {
        guard case .protocolError? = error(of: { _ = try HTTPClient.request("GET", "\(base)/short") }) else {
            Issue.record("expected protocolError")
            return
        }
    }

    @Test func postSendsHeadersAndBody() throws {
        let response = try HTTPClient.request(
            "POST", "\(base)/echo?q=1", headers: [("Authorization", "Bearer t"), ("Content-Type", "application/json")],
            body: Array("{\"a\":1}".utf8))
        #expect(response.status == 201)
        let text = response.bodyText
        #expect(text.hasPrefix("POST /echo?q=1\n"))
        for line in ["Host: 127.0.0.1:\(server.port)", "Connection: close", "Content-Length: 7", "Authorization: Bearer t"] {
            #expect(text.contains(line + "\r\n") || text.contains(line + "\n"), "\(line)")
        }
        #expect(text.hasSuffix("\n\n{\"a\":1}"))
    }

    @Test func headersReplaceDefaults() throws {
        let response = try HTTPClient.request("GET", "\(base)/echo", headers: [("host", "example.test")])
        #expect(response.bodyText.contains("host: example.test"))
        #expect(!response.bodyText.contains("Host: 127.0.0.1"))
    }

    @Test func raw() throws {
        let ok = try HTTPClient.raw(host: "127.0.0.1", port: server.port, Array("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(ok?.status == 200)
        #expect(ok?.bodyText == "hello")
        #expect(try HTTPClient.raw(host: "127.0.0.1", port: server.port, Array("GET /silent HTTP/1.1\r\n\r\n".utf8)) == nil)
        // Lenient: a body cut short still yields the response.
        let short = try HTTPClient.raw(host: "127.0.0.1", port: server.port, Array("GET /short HTTP/1.1\r\n\r\n".utf8))
        #expect(short?.bodyText == "only this")
    }

    @Test func silentServerIsConnectFailed() {
        guard case .connectFailed? = error(of: { _ = try HTTPClient.request("GET", "\(base)/silent") }) else {
            Issue.record("expected connectFailed")
            return
        }
    }
}
