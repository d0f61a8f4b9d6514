import Auth
import Foundation
import JSON
import Testing
import WebSocketClient

/// One way a handshake must be refused, with the status the hub must answer.
struct RefusedHandshake: Sendable, CustomTestStringConvertible {
    let name: String
    let status: Int
    var path = "/ws"
    /// The handshake's extra headers, given the hub (for its origin).
    let headers: @Sendable (HubProcess) -> [(String, String)]

    var testDescription: String { "\(name) → \(status)" }

    static let hs256 = #"{"alg":"HS256","typ":"JWT"}"#

    static let all: [RefusedHandshake] = [
        .init(name: "no token at all", status: 401) { _ in [] },
        .init(name: "Authorization that is not Bearer", status: 401) { _ in [("Authorization", "Basic dXNlcjpwYXNz")] },
        .init(name: "Bearer with an empty token", status: 401) { _ in [("Authorization", "Bearer ")] },
        .init(name: "a token that is not a JWT", status: 401) { _ in Handshake.bearer("not-a-token") },
        .init(name: "a token with garbage parts", status: 401) { _ in Handshake.bearer("a.b.c") },
        .init(name: "an expired token", status: 401) { _ in
            Handshake.bearer(Tokens.make(user: TestEnvironment.uniquePrefix("u"), ttl: -60))
        },
        .init(name: "a token whose nbf is in the future", status: 401) { _ in
            Handshake.bearer(Tokens.make(user: TestEnvironment.uniquePrefix("u"), notBefore: Int64(Date().timeIntervalSince1970) + 600))
        },
        .init(name: "a token signed with another secret", status: 401) { _ in
            let other = try! JWTCodec(secret: Array("some-other-secret-0123456789abcdefgh".utf8))
            let now = Int64(Date().timeIntervalSince1970)
            return Handshake.bearer(other.sign(JWTClaims(subject: TestEnvironment.uniquePrefix("u"), expiresAt: now + 3600)))
        },
        .init(name: "a token whose payload was changed after signing", status: 401) { _ in
            let genuine = Tokens.make(user: TestEnvironment.uniquePrefix("u")).split(separator: ".")
            let tampered = Base64URL.encode(Array(Tokens.payload(user: "someone-else").utf8))
            return Handshake.bearer("\(genuine[0]).\(tampered).\(genuine[2])")
        },
        .init(name: #"alg "none" with no signature"#, status: 401) { _ in
            let token = Tokens.forge(header: #"{"alg":"none","typ":"JWT"}"#, payload: Tokens.payload(user: TestEnvironment.uniquePrefix("u")))
            return Handshake.bearer(String(token[..<token.lastIndex(of: ".")!]) + ".")
        },
        .init(name: #"alg "none" with an HS256 signature"#, status: 401) { _ in
            Handshake.bearer(Tokens.forge(header: #"{"alg":"none","typ":"JWT"}"#, payload: Tokens.payload(user: TestEnvironment.uniquePrefix("u"))))
        },
        .init(name: "alg HS512 (signed with the right secret)", status: 401) { _ in
            Handshake.bearer(Tokens.forge(header: #"{"alg":"HS512","typ":"JWT"}"#, payload: Tokens.payload(user: TestEnvironment.uniquePrefix("u"))))
        },
        .init(name: "a correctly signed token of 4097+ bytes", status: 401) { _ in
            Handshake.bearer(Tokens.padded(user: TestEnvironment.uniquePrefix("u"), toAtLeast: 4097))
        },
        .init(name: "a correctly signed token of 5000 bytes", status: 401) { _ in
            Handshake.bearer(Tokens.padded(user: TestEnvironment.uniquePrefix("u"), toAtLeast: 5000))
        },
        .init(name: "a token expiring this very second (exp == now)", status: 401) { _ in
            Handshake.bearer(Tokens.make(user: TestEnvironment.uniquePrefix("u"), ttl: 0))
        },
        .init(name: "a token without exp", status: 401) { _ in
            Handshake.bearer(Tokens.forge(header: hs256, payload: #"{"sub":"\#(TestEnvironment.uniquePrefix("u"))"}"#))
        },
        .init(name: "a token whose exp is not an integer", status: 401) { _ in
            Handshake.bearer(Tokens.forge(header: hs256, payload: #"{"sub":"\#(TestEnvironment.uniquePrefix("u"))","exp":\#(Date().timeIntervalSince1970 + 3600.5)}"#))
        },
        .init(name: "a token without sub", status: 401) { _ in
            Handshake.bearer(Tokens.forge(header: hs256, payload: #"{"exp":\#(Int64(Date().timeIntervalSince1970) + 3600)}"#))
        },
        .init(name: "a token whose sub has a space", status: 401) { _ in
            Handshake.bearer(Tokens.forge(header: hs256, payload: Tokens.payload(user: "a b")))
        },
        .init(name: "a token whose sub has 65 characters", status: 401) { _ in
            Handshake.bearer(Tokens.forge(header: hs256, payload: Tokens.payload(user: String(repeating: "s", count: 65))))
        },
        .init(name: "a token whose sid has a slash", status: 401) { _ in
            Handshake.bearer(Tokens.make(user: TestEnvironment.uniquePrefix("u"), sid: "s/1"))
        },
        .init(name: #"a token with typ "JWS""#, status: 401) { _ in
            Handshake.bearer(Tokens.forge(header: #"{"alg":"HS256","typ":"JWS"}"#, payload: Tokens.payload(user: TestEnvironment.uniquePrefix("u"))))
        },
        .init(name: "a token with a crit header", status: 401) { _ in
            Handshake.bearer(Tokens.forge(header: #"{"alg":"HS256","typ":"JWT","crit":["exp"]}"#, payload: Tokens.payload(user: TestEnvironment.uniquePrefix("u"))))
        },
        .init(name: "a token with base64 padding", status: 401) { _ in
            let parts = Tokens.make(user: TestEnvironment.uniquePrefix("u")).split(separator: ".")
            return Handshake.bearer("\(parts[0])=.\(parts[1]).\(parts[2])")
        },
        .init(name: "a correctly signed 5000-byte token in the cookie", status: 401) { hub in
            [("Cookie", "accessToken=\(Tokens.padded(user: TestEnvironment.uniquePrefix("u"), toAtLeast: 5000))"), ("Origin", hub.origin)]
        },
        .init(name: "an empty accessToken cookie", status: 401) { hub in
            [("Cookie", "accessToken="), ("Origin", hub.origin)]
        },
        .init(name: "a cookie of another name (myaccessToken)", status: 401) { hub in
            [("Cookie", "myaccessToken=\(Tokens.make(user: TestEnvironment.uniquePrefix("u")))"), ("Origin", hub.origin)]
        },
        .init(name: "a bad Bearer token next to a good cookie (Bearer wins)", status: 401) { hub in
            Handshake.bearer("not-a-token") + [("Cookie", "accessToken=\(Tokens.make(user: TestEnvironment.uniquePrefix("u")))"), ("Origin", hub.origin)]
        },
        .init(name: "Bearer from a foreign Origin", status: 403) { _ in
            Handshake.bearer(Tokens.make(user: TestEnvironment.uniquePrefix("u"))) + [("Origin", "https://evil.example")]
        },
        .init(name: "Bearer from the hub's host on another port", status: 403) { hub in
            Handshake.bearer(Tokens.make(user: TestEnvironment.uniquePrefix("u"))) + [("Origin", "http://127.0.0.1:\(hub.port == 1 ? 2 : 1)")]
        },
        .init(name: #"Bearer from Origin "null""#, status: 403) { _ in
            Handshake.bearer(Tokens.make(user: TestEnvironment.uniquePrefix("u"))) + [("Origin", "null")]
        },
        .init(name: "cookie without any Origin", status: 403) { _ in
            [("Cookie", "accessToken=\(Tokens.make(user: TestEnvironment.uniquePrefix("u")))")]
        },
        .init(name: "cookie from a foreign Origin", status: 403) { _ in
            [("Cookie", "accessToken=\(Tokens.make(user: TestEnvironment.uniquePrefix("u")))"), ("Origin", "https://evil.example")]
        },
        .init(name: "a valid token on another path", status: 404, path: "/other") { _ in
            Handshake.bearer(Tokens.make(user: TestEnvironment.uniquePrefix("u")))
        },
    ]
}

@Suite("WebSocket handshake")
struct HandshakeTests {
    @Test("Bearer token without Origin: the socket opens, negotiates carthub.v1 and says hello")
    func bearerWithoutOrigin() throws {
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let socket = try CartSocket(hub, user: user)
        #expect(socket.ws.negotiatedSubprotocol == "carthub.v1")
        #expect(socket.hello["userId"]?.stringValue == user)
        #expect(socket.cart["version"] == 0, "a new user's cart starts empty: \(socket.hello.encoded)")
        #expect(try socket.call("cart.get").isOK)
    }

    @Test("cookie token from the hub's own origin (either spelling) opens a socket", arguments: ["127.0.0.1", "localhost"])
    func cookieWithAllowedOrigin(host: String) throws {
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let ws = try WebSocketClient.connect(
            url: hub.socketURL,
            headers: [("Cookie", "theme=dark; accessToken=\(Tokens.make(user: user)); lang=en"), ("Origin", "http://\(host):\(hub.port)")])
        let socket = CartSocketReader(ws)
        let hello = try socket.next(timeout: 10)
        #expect(hello["type"] == "hello" && hello["userId"]?.stringValue == user, "expected a hello for \(user), got \(hello.encoded)")
    }

    @Test("a refused handshake gets its HTTP status and never becomes a socket", arguments: RefusedHandshake.all)
    func refused(_ attempt: RefusedHandshake) throws {
        let hub = try HubProcess()
        Handshake.expectRefused(hub, status: attempt.status, headers: attempt.headers(hub), path: attempt.path, attempt.name)
        // The hub is unharmed: the next good handshake works.
        let socket = try CartSocket(hub, user: TestEnvironment.uniquePrefix("u"))
        #expect(try socket.call("cart.get").isOK)
    }

    @Test("the Bearer header wins over a cookie; then neither the cookie nor an Origin is needed")
    func bearerWinsOverCookie() throws {
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let socket = try CartSocket(hub, user: user, headers: [("Cookie", "accessToken=garbage")])
        #expect(socket.hello["userId"]?.stringValue == user)
    }

    @Test("the auth scheme is case-insensitive (RFC 7235): \"bearer\" works")
    func lowercaseBearer() throws {
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let ws = try WebSocketClient.connect(url: hub.socketURL, headers: [("Authorization", "bearer \(Tokens.make(user: user))")])
        #expect(try CartSocketReader(ws).next(timeout: 10)["userId"]?.stringValue == user)
    }

    @Test("a token too big for the 8 KB header buffer never becomes a socket")
    func tokenBeyondHeaderBuffer() throws {
        let hub = try HubProcess()
        let token = Tokens.padded(user: TestEnvironment.uniquePrefix("u"), toAtLeast: 9000)
        let outcome = Handshake.attempt(hub.socketURL, headers: Handshake.bearer(token))
        switch outcome {
        case .accepted(let ws):
            ws.close()
            Issue.record("a \(token.utf8.count)-byte token became a socket")
        case .refused(let response):
            #expect((400..<500).contains(response.status), "refused, but with \(outcome)")
        case .failed:
            break  // lws drops a request whose headers overflow its buffer without a status
        }
        #expect(try CartSocket(hub, user: TestEnvironment.uniquePrefix("u")).call("cart.get").isOK, "the hub keeps serving")
    }

    @Test("a correctly signed token just under 4096 bytes is accepted (the size limit is what refuses bigger ones)")
    func largeTokenUnderTheLimit() throws {
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let token = Tokens.padded(user: user, toAtLeast: 3900)
        try #require(token.utf8.count <= 4096, "the test's token is \(token.utf8.count) bytes")
        let socket = try CartSocket(hub, user: user, token: token)
        #expect(socket.hello["userId"]?.stringValue == user)
    }

    @Test("CARTHUB_ALLOWED_ORIGINS replaces the default allow-list")
    func allowedOriginsOverride() throws {
        let hub = try HubProcess(environment: ["CARTHUB_ALLOWED_ORIGINS": "https://shop.example, https://m.shop.example"])
        let user = TestEnvironment.uniquePrefix("u")
        let token = Tokens.make(user: user)
        for origin in ["https://shop.example", "https://m.shop.example"] {
            let socket = try CartSocket(hub, user: user, headers: [("Origin", origin)])
            #expect(socket.hello["userId"]?.stringValue == user, "Origin \(origin) is on the list")
            let cookie = try WebSocketClient.connect(url: hub.socketURL, headers: [("Cookie", "accessToken=\(token)"), ("Origin", origin)])
            #expect(try CartSocketReader(cookie).next(timeout: 10)["type"] == "hello", "cookie from \(origin) is on the list")
        }
        Handshake.expectRefused(hub, status: 403, headers: Handshake.bearer(token) + [("Origin", hub.origin)], "the hub's own origin is no longer allowed")
        Handshake.expectRefused(hub, status: 403, headers: Handshake.bearer(token) + [("Origin", "https://evil.example")], "a foreign origin")
        Handshake.expectRefused(hub, status: 403, headers: [("Cookie", "accessToken=\(token)")], "cookie without Origin")
    }
}

@Suite("WebSocket subprotocol")
struct SubprotocolTests {
    @Test("offering carthub.v1 negotiates it")
    func offered() throws {
        let hub = try HubProcess()
        let outcome = Handshake.attempt(hub.socketURL, headers: Handshake.bearer(Tokens.make(user: TestEnvironment.uniquePrefix("u"))), subprotocols: ["carthub.v1"])
        guard case .accepted(let ws) = outcome else {
            Issue.record("expected the handshake to succeed, got \(outcome)")
            return
        }
        #expect(ws.negotiatedSubprotocol == "carthub.v1")
        #expect(try CartSocketReader(ws).next(timeout: 10)["type"] == "hello")
    }

    @Test("naming no subprotocol is accepted and the socket works")
    func none() throws {
        let hub = try HubProcess()
        let user = TestEnvironment.uniquePrefix("u")
        let outcome = Handshake.attempt(hub.socketURL, headers: Handshake.bearer(Tokens.make(user: user)), subprotocols: [])
        guard case .accepted(let ws) = outcome else {
            Issue.record("expected the handshake to succeed, got \(outcome)")
            return
        }
        #expect(ws.negotiatedSubprotocol == nil, "the hub must not pick a subprotocol the client did not offer")
        let reader = CartSocketReader(ws)
        #expect(try reader.next(timeout: 10)["userId"]?.stringValue == user)
        try ws.sendText(#"{"type":"cart.get","requestId":"no-subprotocol"}"#)
        let reply = try reader.next(timeout: 10)
        #expect(reply["requestId"] == "no-subprotocol" && reply.isOK, "\(reply.encoded)")
    }

    @Test("carthub.v1 is picked from a list of offers")
    func picked() throws {
        let hub = try HubProcess()
        let outcome = Handshake.attempt(hub.socketURL, headers: Handshake.bearer(Tokens.make(user: TestEnvironment.uniquePrefix("u"))), subprotocols: ["other", "carthub.v1"])
        guard case .accepted(let ws) = outcome else {
            Issue.record("expected the handshake to succeed, got \(outcome)")
            return
        }
        #expect(ws.negotiatedSubprotocol == "carthub.v1")
    }

    @Test("offering only an unknown subprotocol is refused")
    func unknown() throws {
        let hub = try HubProcess()
        let outcome = Handshake.attempt(hub.socketURL, headers: Handshake.bearer(Tokens.make(user: TestEnvironment.uniquePrefix("u"))), subprotocols: ["other"])
        if case .accepted(let ws) = outcome {
            Issue.record("a client speaking only \"other\" must not get a socket; it got \(outcome)")
            ws.close()
        }
        // The hub keeps serving.
        #expect(try CartSocket(hub, user: TestEnvironment.uniquePrefix("u")).call("cart.get").isOK)
    }
}

@Suite("Plain HTTP on the hub's port")
struct PlainHTTPTests {
    @Test("GET /healthz answers 200 {\"status\":\"ok\"}")
    func healthz() throws {
        let hub = try HubProcess()
        let response = try HTTPClient.request("GET", hub.httpBase + "/healthz")
        #expect(response.status == 200)
        #expect(try JSONValue.parse(response.bodyText) == ["status": "ok"], "body: \(response.bodyText)")
    }

    @Test("GET /readyz answers 200 once the hub listens")
    func readyz() throws {
        let hub = try HubProcess()
        let response = try HTTPClient.request("GET", hub.httpBase + "/readyz")
        #expect(response.status == 200, "the hub listens only once it is ready, so /readyz must say so at once; it answered \(response.status) \(response.bodyText)")
        #expect(try JSONValue.parse(response.bodyText) == ["status": "ready"], "body: \(response.bodyText)")
    }

    @Test("an unknown path answers 404 with a JSON error")
    func notFound() throws {
        let hub = try HubProcess()
        let response = try HTTPClient.request("GET", hub.httpBase + "/nope")
        #expect(response.status == 404)
        let body = try JSONValue.parse(response.bodyText)
        #expect(body["error"]?["code"] == "NOT_FOUND" && body["error"]?["message"]?.stringValue != nil, "body: \(response.bodyText)")
    }

    @Test("GET /ws without an upgrade answers 426")
    func wsWithoutUpgrade() throws {
        let hub = try HubProcess()
        let response = try HTTPClient.request("GET", hub.httpBase + "/ws", headers: Handshake.bearer(Tokens.make(user: TestEnvironment.uniquePrefix("u"))))
        #expect(response.status == 426, "body: \(response.bodyText)")
        #expect(response.header("Upgrade")?.lowercased() == "websocket", "a 426 names the protocol to upgrade to (RFC 9110 §15.5.22)")
    }
}

@Suite("Upgrade abuse")
struct UpgradeAbuseTests {
    /// The valgrind on PATH, or a failure saying how to get it.
    static func valgrind() throws -> String {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/valgrind" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        return try #require(path, "valgrind is not installed: run the tests through scripts/test.sh (its services step installs it) or `apt-get install valgrind`")
    }

    /// Known-harmless reports from the Swift runtime (each entry explains itself).
    static var suppressions: String {
        TestEnvironment.checkout.appendingPathComponent("Tests/IntegrationTests/.valgrind.supp").path
    }

    /// Upgrades the hub must refuse (named), as raw HTTP/1.1 requests; `token` is valid.
    static func nonWebSocketUpgrades(port: Int, token: String) -> [(String, String)] {
        let host = "Host: 127.0.0.1:\(port)\r\n"
        let h2c = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
        return [
            ("h2c upgrade of /ws", "GET /ws HTTP/1.1\r\n\(host)\(h2c)Authorization: Bearer \(token)\r\n\r\n"),
            ("h2c upgrade of /", "GET / HTTP/1.1\r\n\(host)\(h2c)\r\n"),
            ("Upgrade: foo of /ws", "GET /ws HTTP/1.1\r\n\(host)Connection: Upgrade\r\nUpgrade: foo\r\nAuthorization: Bearer \(token)\r\n\r\n"),
            ("Upgrade: foo of /healthz", "GET /healthz HTTP/1.1\r\n\(host)Connection: Upgrade\r\nUpgrade: foo\r\n\r\n"),
        ]
    }

    @Test("Upgrade: h2c and Upgrade: foo never become upgrades, and the hub stays healthy and clean under valgrind")
    func nonWebSocketUpgrades() throws {
        _ = try Self.valgrind()
        let log = NSTemporaryDirectory() + TestEnvironment.uniquePrefix("carthub-upgrade") + ".valgrind"
        let suppressions = try #require(FileManager.default.fileExists(atPath: Self.suppressions) ? Self.suppressions : nil, "missing \(Self.suppressions)")
        let wrapper = ["valgrind", "--error-exitcode=99", "--leak-check=no", "--track-origins=no", "--suppressions=\(suppressions)", "--log-file=\(log)"]
        let hub = try HubProcess.unblockedSignals(wrapper: wrapper, startTimeout: 120)
        let token = Tokens.make(user: TestEnvironment.uniquePrefix("u"))

        for (name, request) in Self.nonWebSocketUpgrades(port: hub.port, token: token) {
            // Refused means an error status, or the connection closed without an answer.
            do {
                if let response = try HTTPClient.raw(host: "127.0.0.1", port: hub.port, Array(request.utf8), timeout: 20) {
                    #expect(response.status >= 400, "\(name) must be refused, not switched or served; the hub answered HTTP \(response.status) \(response.bodyText.prefix(200))")
                }
            } catch WebSocketClientError.timeout {
                Issue.record("\(name): the hub neither answered nor closed the connection within 20 s")
            } catch {
                #expect(hub.isRunning, "\(name): the hub died (\(error)); log:\n\(hub.log)")
            }
        }

        do {
            let health = try HTTPClient.request("GET", hub.httpBase + "/healthz", timeout: 20)
            #expect(health.status == 200, "after the upgrade attempts /healthz answered \(health.status) \(health.bodyText)")
        } catch {
            Issue.record("after the upgrade attempts GET /healthz failed: \(error); hub log:\n\(hub.log)")
        }
        do {
            let ws = try WebSocketClient.connect(url: hub.socketURL, headers: Handshake.bearer(token), timeout: 20)
            let reader = CartSocketReader(ws)
            let hello = try reader.next(timeout: 30)
            #expect(hello["type"] == "hello", "the first message of a socket is hello: \(hello.encoded)")
            try ws.sendText(#"{"type":"cart.get","requestId":"after-abuse"}"#)
            let reply = try reader.next(timeout: 30)
            #expect(reply["requestId"] == "after-abuse" && reply.isOK, "a normal socket works after the upgrade attempts: \(reply.encoded)")
            ws.close()
        } catch {
            Issue.record("after the upgrade attempts a normal socket failed: \(error); hub log:\n\(hub.log)")
        }

        hub.signal(SIGTERM)
        let status = hub.waitForExit(timeout: 60)
        let report = (try? String(contentsOfFile: log, encoding: .utf8)) ?? "(no valgrind log at \(log))"
        #expect(status == 0, "the hub must exit 0 after SIGTERM (99 = valgrind found errors); got \(status.map(String.init) ?? "still running"). Hub log:\n\(hub.log)\nValgrind log:\n\(report.suffix(6000))")
        #expect(report.contains("ERROR SUMMARY: 0 errors"), "valgrind reported errors (full log: \(log)):\n\(report.suffix(6000))")
    }
}
