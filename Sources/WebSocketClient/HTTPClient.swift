/// Blocking one-shot HTTP/1.1 requests over plain TCP.
public enum HTTPClient {
    /// One HTTP/1.1 request with `Connection: close`; reads the full response
    /// (Content-Length, chunked, or until the server closes). `url` is
    /// `http://host[:port]/path?query`. `Host`, `Connection` and `Content-Length`
    /// are sent by default; a same-named entry in `headers` replaces the default.
    /// `sourceAddress` sends from that local IPv4 address (any of 127/8 on loopback).
    public static func request(
        _ method: String, _ url: String, headers: [(String, String)] = [], body: [UInt8] = [], timeout: Double = 5,
        sourceAddress: String? = nil
    ) throws -> HTTPResponse {
        let url = try URLParts(url, scheme: "http")
        let deadline = Deadline(seconds: timeout)
        var defaults = [("Host", url.hostHeader), ("Connection", "close")]
        if !body.isEmpty || ["POST", "PUT", "PATCH"].contains(method.uppercased()) {
            defaults.append(("Content-Length", String(body.count)))
        }
        let head = HTTPWire.requestHead("\(method) \(url.target) HTTP/1.1", defaults: defaults, extra: headers)

        let socket = try TCPSocket.connect(host: url.host, port: url.port, sourceAddress: sourceAddress, deadline: deadline)
        try sendIgnoringPeerClose(Array(head.utf8) + body, on: socket, deadline: deadline)
        guard var response = try HTTPWire.readHead(from: socket, deadline: deadline) else {
            throw WebSocketClientError.connectFailed("server closed the connection without responding")
        }
        try HTTPWire.readBody(of: &response, method: method, from: socket, deadline: deadline, lenient: false)
        return response
    }

    /// Sends `raw` bytes verbatim to host:port and returns the parsed HTTP
    /// response, or nil if the server closed the connection without answering.
    /// Once the head has arrived, a body cut short by a timeout or close is
    /// returned as far as it got.
    public static func raw(host: String, port: Int, _ raw: [UInt8], timeout: Double = 5) throws -> HTTPResponse? {
        let deadline = Deadline(seconds: timeout)
        let socket = try TCPSocket.connect(host: host, port: port, deadline: deadline)
        try sendIgnoringPeerClose(raw, on: socket, deadline: deadline)
        guard var response = try HTTPWire.readHead(from: socket, deadline: deadline) else { return nil }
        let method = raw.split(separator: UInt8(ascii: " "), maxSplits: 1).first.map { String(decoding: $0, as: UTF8.self) }
        try HTTPWire.readBody(of: &response, method: method, from: socket, deadline: deadline, lenient: true)
        return response
    }

    /// A server may answer and close before reading everything we send
    /// (e.g. rejecting on the headers); its response is still worth reading.
    static func sendIgnoringPeerClose(_ bytes: [UInt8], on socket: TCPSocket, deadline: Deadline) throws {
        do {
            try socket.write(bytes, deadline: deadline)
        } catch WebSocketClientError.closed {
        }
    }
}
