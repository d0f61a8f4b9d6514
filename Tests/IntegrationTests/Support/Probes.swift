import Auth
import CryptoPrimitives
import Foundation
import JSON
import Testing
import WebSocketClient

/// What became of one WebSocket handshake attempt.
enum HandshakeOutcome: CustomStringConvertible {
    /// 101: the hub let the socket in.
    case accepted(WebSocketClient)
    /// An HTTP status other than 101.
    case refused(HTTPResponse)
    /// No HTTP answer at all (the hub closed the connection, a timeout, a protocol error...).
    case failed(String)

    var status: Int? {
        if case .refused(let response) = self { return response.status }
        return nil
    }

    var description: String {
        switch self {
        case .accepted(let ws): "accepted (101, subprotocol \(ws.negotiatedSubprotocol ?? "none"))"
        case .refused(let response): "refused with HTTP \(response.status) \(response.bodyText.prefix(200))"
        case .failed(let why): "no HTTP answer: \(why)"
        }
    }
}

enum Handshake {
    /// Tries the upgrade. An accepted socket stays open while the caller holds it.
    static func attempt(
        _ url: String, headers: [(String, String)] = [], subprotocols: [String] = ["carthub.v1"]
    ) -> HandshakeOutcome {
        do {
            return .accepted(try WebSocketClient.connect(url: url, headers: headers, subprotocols: subprotocols, timeout: 10))
        } catch WebSocketClientError.handshakeRejected(let response) {
            return .refused(response)
        } catch {
            return .failed("\(error)")
        }
    }

    static func bearer(_ token: String) -> [(String, String)] { [("Authorization", "Bearer \(token)")] }

    /// Expects the hub to answer the handshake with `status` (and not to open a socket).
    static func expectRefused(
        _ hub: HubProcess, status: Int, headers: [(String, String)], path: String = "/ws",
        subprotocols: [String] = ["carthub.v1"], _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let outcome = attempt("ws://127.0.0.1:\(hub.port)\(path)", headers: headers, subprotocols: subprotocols)
        if case .accepted(let ws) = outcome { ws.close() }
        #expect(outcome.status == status, "\(what): expected HTTP \(status), got \(outcome)", sourceLocation: sourceLocation)
    }
}

extension Tokens {
    /// A token with any header and payload, signed with HMAC-SHA256 under the hub's
    /// secret (so only what the test changed is wrong with it).
    static func forge(header: String, payload: String) -> String {
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        let mac = HMACSHA256.authenticationCode(key: Array(TestEnvironment.jwtSecret.utf8), message: Array(input.utf8))
        return input + "." + Base64URL.encode(mac)
    }

    /// Claims JSON for `user`, valid for an hour.
    static func payload(user: String) -> String {
        let now = Int64(Date().timeIntervalSince1970)
        return #"{"sub":"\#(user)","exp":\#(now + 3600),"iat":\#(now)}"#
    }

    /// A correctly signed token of at least `bytes` bytes (padded with a long `role`).
    static func padded(user: String, toAtLeast bytes: Int) -> String {
        var role = ""
        var token = make(user: user)
        while token.utf8.count < bytes {
            role += String(repeating: "r", count: max(1, (bytes - token.utf8.count) * 3 / 4))
            token = make(user: user, role: role)
        }
        return token
    }
}

extension CartSocket {
    /// Sends a text frame as is and waits for the reply it causes: the one with
    /// `requestId`, or (nil) the one whose requestId is null.
    func callRaw(_ text: String, expecting requestId: String?, timeout: Double = 10) throws -> JSONValue {
        try ws.sendText(text)
        return try reply(requestId, timeout: timeout)
    }

    /// Reads until the hub ends the socket or `timeout` passes; says how it ended and
    /// what arrived before (for assertion messages when it is not the expected close).
    func waitForClose(timeout: Double = 10) -> (end: SocketEnding, messages: [JSONValue]) {
        var messages: [JSONValue] = []
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            do {
                switch try ws.receive(timeout: max(0, deadline.timeIntervalSinceNow)) {
                case .text(let text): messages.append((try? JSONValue.parse(text)) ?? .string(text))
                case .binary(let bytes): messages.append(.string("<binary \(bytes.count) bytes>"))
                case .close(let code, let reason): return (.closeFrame(code, reason), messages)
                }
            } catch WebSocketClientError.timeout {
                return (.stillOpen, messages)
            } catch {
                return (.dropped("\(error)"), messages)
            }
        }
    }

    /// The cart as `cart.get` reports it now.
    func currentCart(sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        let reply = try call("cart.get")
        #expect(reply.isOK, "cart.get failed: \(reply.encoded)", sourceLocation: sourceLocation)
        return reply["data"]?["cart"] ?? .null
    }
}

extension JSONValue {
    /// The quantity of `bookId` in a cart snapshot (0 when it has no such line).
    func quantity(of bookId: String) -> Int64 {
        let items = self["items"]?.arrayValue ?? []
        return items.first { $0["bookId"]?.stringValue == bookId }?["quantity"]?.intValue ?? 0
    }
}

/// Reads JSON text messages from a raw client (for sockets CartSocket cannot open).
struct CartSocketReader {
    let ws: WebSocketClient
    init(_ ws: WebSocketClient) { self.ws = ws }

    func next(timeout: Double) throws -> JSONValue {
        let text = try ws.receiveText(timeout: timeout) { _ in true }
        return try JSONValue.parse(text)
    }
}

extension HubProcess {
    /// Starts a hub (possibly under `wrapper`) with no signals blocked, as a shell or a
    /// service manager would.
    ///
    /// `Process` hands the child the spawning thread's signal mask, and the test
    /// runner's worker threads block SIGTERM and SIGINT, so a plain `HubProcess()`
    /// starts with both blocked and ignores SIGTERM.
    static func unblockedSignals(environment: [String: String] = [:], wrapper: [String] = [], startTimeout: Double = 30) throws -> HubProcess {
        var empty = sigset_t()
        var saved = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        return try HubProcess(environment: environment, wrapper: wrapper, startTimeout: startTimeout)
    }
}

enum SocketEnding: Equatable, CustomStringConvertible {
    case closeFrame(UInt16?, String)
    /// TCP ended without a close frame (or the client failed the connection).
    case dropped(String)
    case stillOpen

    var closeCode: UInt16? {
        if case .closeFrame(let code, _) = self { return code }
        return nil
    }

    var description: String {
        switch self {
        case .closeFrame(let code, let reason): "close frame \(code.map(String.init) ?? "without code") \"\(reason)\""
        case .dropped(let why): "connection dropped without a close frame (\(why))"
        case .stillOpen: "still open"
        }
    }
}
