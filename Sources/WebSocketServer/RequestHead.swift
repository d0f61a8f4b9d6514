/// What a request or upgrade carried, read while lws still holds the headers.
public struct RequestHead: Sendable {
    public var method: String
    /// Path without the query string, percent-decoded by lws.
    public var path: String
    /// The query's `name=value` items in order, each percent-decoded by lws.
    public var queryItems: [String]
    /// Lower-cased names of the headers the hub reads (see `WebSocketServer.readHeaders`).
    public var headers: [String: String]
    /// The TCP peer's IP address (`127.0.0.1`, `::1`), or "" when unknown. A proxy's
    /// address when there is one: headers such as X-Forwarded-For are not trusted.
    public var peerAddress: String

    public init(method: String, path: String, queryItems: [String], headers: [String: String], peerAddress: String = "") {
        self.method = method
        self.path = path
        self.queryItems = queryItems
        self.headers = headers
        self.peerAddress = peerAddress
    }

    public func header(_ name: String) -> String? { headers[name] }
}

/// A complete HTTP response; bodies are small (JSON), so they are sent whole.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static func json(_ status: Int, _ text: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("content-type", "application/json")] + headers, body: Array(text.utf8))
    }

    public static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: [("content-type", contentType)], body: Array(text.utf8))
    }
}

public enum UpgradeDecision {
    /// Open the socket; `attachment` rides on the session.
    case accept(AnyObject?)
    /// Answer the handshake with an HTTP error instead of a socket.
    case reject(status: Int, message: String)
}

/// The server's user: everything runs on the event loop thread.
public protocol WebSocketServerDelegate: AnyObject {
    func authorizeUpgrade(_ head: RequestHead) -> UpgradeDecision
    func sessionOpened(_ session: WebSocketSession)
    /// One complete text message, valid only during the call.
    func session(_ session: WebSocketSession, received message: UnsafeRawBufferPointer)
    func sessionReceivedBinary(_ session: WebSocketSession)
    func sessionClosed(_ session: WebSocketSession)
    func handle(_ request: HTTPRequest)
}
