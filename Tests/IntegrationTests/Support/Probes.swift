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
    /// Tries the upgrade; the socket of an accepted attempt is closed unless the caller keeps it.
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
    /// secret (so only what the test changed is wrong with it). `signature` overrides.
    static func forge(header: String, payload: String, signature: String? = nil) -> String {
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        let mac = HMACSHA256.authenticationCode(key: Array(TestEnvironment.jwtSecret.utf8), message: Array(input.utf8))
        return input + "." + (signature ?? Base64URL.encode(mac))
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
    init(_ ws: WebSocketClient) throws { self.ws = ws }

    func next(timeout: Double) throws -> JSONValue {
        let text = try ws.receiveText(timeout: timeout) { _ in true }
        return try JSONValue.parse(text)
    }
}

extension HubProcess {
    /// A wrapper prefix that empties the signal mask before exec'ing the rest.
    ///
    /// `Process` hands the child the spawning thread's signal mask, and the test
    /// runner's worker threads block SIGTERM/SIGINT (libdispatch does that), so a hub
    /// started by a test ignores SIGTERM. A shell or a service manager starts it with
    /// nothing blocked; this makes the test match.
    static let withSignalsUnblocked = [
        "python3", "-c",
        "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execvp(sys.argv[1], sys.argv[1:])",
    ]
}
