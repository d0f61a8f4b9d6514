import Foundation
import JSON
import Testing
import WebSocketClient

/// A test device: one socket of one user, with the hello already read. Replies are
/// matched by requestId; other messages wait in `inbox` for whoever asks.
final class CartSocket {
    let ws: WebSocketClient
    let user: String
    private(set) var hello: JSONValue = .null
    private var inbox: [JSONValue] = []
    private var counter = 0

    /// `bearer: false` sends no Authorization header: `headers` then carry the credentials (a Cookie).
    init(_ hub: HubProcess, user: String, token: String? = nil, headers: [(String, String)] = [], awaitHello: Bool = true, bearer: Bool = true) throws {
        self.user = user
        let authorization = bearer ? [("Authorization", "Bearer \(token ?? Tokens.make(user: user))")] : []
        ws = try WebSocketClient.connect(url: hub.socketURL, headers: authorization + headers)
        if awaitHello {
            hello = try next(timeout: 10) { $0["type"]?.stringValue == "hello" }
        }
    }

    var cart: JSONValue { hello["cart"] ?? .null }

    func nextRequestId() -> String {
        counter += 1
        return "\(user)-\(counter)-\(UUID().uuidString.prefix(6))"
    }

    /// Sends a command; returns its requestId.
    @discardableResult
    func send(_ type: String, _ fields: [String: JSONValue] = [:], requestId: String? = nil) throws -> String {
        let id = requestId ?? nextRequestId()
        var object = fields
        object["type"] = .string(type)
        object["requestId"] = .string(id)
        try ws.sendText(JSONValue.object(object).encoded)
        return id
    }

    /// Sends and waits for the reply.
    func call(_ type: String, _ fields: [String: JSONValue] = [:], requestId: String? = nil, timeout: Double = 10) throws -> JSONValue {
        let id = try send(type, fields, requestId: requestId)
        return try reply(id, timeout: timeout)
    }

    func reply(_ requestId: String?, timeout: Double = 10) throws -> JSONValue {
        try next(timeout: timeout) { message in
            guard message["type"]?.stringValue == "reply" else { return false }
            if let requestId { return message["requestId"]?.stringValue == requestId }
            return message["requestId"] == .null
        }
    }

    /// The next `cart.updated`, in arrival order.
    func event(timeout: Double = 10) throws -> JSONValue {
        try next(timeout: timeout) { $0["type"]?.stringValue == "cart.updated" }
    }

    /// Waits for the first message matching `predicate`, keeping the others for later.
    func next(timeout: Double, _ predicate: (JSONValue) -> Bool) throws -> JSONValue {
        if let i = inbox.firstIndex(where: predicate) { return inbox.remove(at: i) }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw WebSocketClientError.timeout }
            switch try ws.receive(timeout: left) {
            case .text(let text):
                let message = try JSONValue.parse(text)
                if predicate(message) { return message }
                inbox.append(message)
            case .binary:
                Issue.record("hub sent a binary frame")
            case .close(let code, let reason):
                throw SocketClosed(code: code, reason: reason)
            }
        }
    }

    /// Reads until the hub closes the socket; returns the close code.
    func closeCode(timeout: Double = 10) throws -> UInt16? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw WebSocketClientError.timeout }
            switch try ws.receive(timeout: left) {
            case .text(let text): inbox.append(try JSONValue.parse(text))
            case .binary: continue
            case .close(let code, _): return code
            }
        }
    }

    /// Everything that arrives within `seconds`.
    func drain(for seconds: Double) throws -> [JSONValue] {
        var all = inbox
        inbox = []
        let deadline = Date().addingTimeInterval(seconds)
        while deadline.timeIntervalSinceNow > 0 {
            do {
                if case .text(let text) = try ws.receive(timeout: deadline.timeIntervalSinceNow) {
                    all.append(try JSONValue.parse(text))
                }
            } catch WebSocketClientError.timeout {
                break
            }
        }
        return all
    }
}

struct SocketClosed: Error, CustomStringConvertible {
    var code: UInt16?
    var reason: String
    var description: String { "socket closed by the hub with \(code.map(String.init) ?? "no code"): \(reason)" }
}

extension JSONValue {
    /// `cart.version` of a reply, event or hello.
    var cartVersion: Int64? { (self["data"]?["cart"] ?? self["cart"])?["version"]?.intValue }
    var errorCode: String? { self["error"]?["code"]?.stringValue }
    var isOK: Bool { self["ok"] == .bool(true) }
}
