/// Errors thrown by `WebSocketClient` and `HTTPClient`.
public enum WebSocketClientError: Error, Sendable, CustomStringConvertible {
    case invalidURL(String)
    case connectFailed(String)
    case timeout
    /// The server answered the upgrade request with something other than 101.
    case handshakeRejected(HTTPResponse)
    case protocolError(String)
    /// The connection is closed: the peer ended TCP, or the client was already closed.
    case closed

    public var description: String {
        switch self {
        case .invalidURL(let url): return "invalid URL: \(url)"
        case .connectFailed(let detail): return "connect failed: \(detail)"
        case .timeout: return "timed out"
        case .handshakeRejected(let response):
            let body = response.bodyText
            let snippet = body.count > 200 ? String(body.prefix(200)) + "…" : body
            return "handshake rejected: HTTP \(response.status)" + (snippet.isEmpty ? "" : " \(snippet)")
        case .protocolError(let detail): return "protocol error: \(detail)"
        case .closed: return "connection closed"
        }
    }
}
