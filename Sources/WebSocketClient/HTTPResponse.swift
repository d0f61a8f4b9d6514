public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header with this name, compared case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// Every header with this name (e.g. each `Set-Cookie`), in order.
    public func headers(named name: String) -> [String] {
        let wanted = name.lowercased()
        return headers.filter { $0.name.lowercased() == wanted }.map(\.value)
    }

    /// The body decoded as UTF-8, invalid sequences replaced.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Reading HTTP/1.1 responses and writing request heads.
enum HTTPWire {
    static let maxHeadSize = 64 * 1024
    static let maxBodySize = 64 * 1024 * 1024
    private static let crlf: [UInt8] = [13, 10]

    /// Request head with `defaults` first, each replaced by a same-named entry
    /// (case-insensitive) of `extra`, then the remaining `extra` headers in order.
    static func requestHead(_ requestLine: String, defaults: [(String, String)], extra: [(String, String)]) -> String {
        let overridden = Set(extra.map { $0.0.lowercased() })
        var head = requestLine + "\r\n"
        for (name, value) in defaults where !overridden.contains(name.lowercased()) {
            head += "\(name): \(value)\r\n"
        }
        for (name, value) in extra { head += "\(name): \(value)\r\n" }
        return head + "\r\n"
    }

    /// Status line and headers; nil if the peer closed before sending a single byte.
    static func readHead(from socket: TCPSocket, deadline: Deadline) throws -> HTTPResponse? {
        guard let head = try socket.read(through: crlf + crlf, limit: maxHeadSize, deadline: deadline) else {
            if socket.buffered.isEmpty { return nil }
            throw WebSocketClientError.protocolError("connection closed in the middle of the response head")
        }
        var lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)[...]
        let statusLine = lines.popFirst() ?? ""
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), parts[1].count == 3, let status = Int(parts[1]) else {
            throw WebSocketClientError.protocolError("malformed status line: \(statusLine)")
        }
        var response = HTTPResponse(status: status)
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else {
                throw WebSocketClientError.protocolError("malformed header line: \(line)")
            }
            response.headers.append((name: String(line[..<colon].trimmingSpaces), value: String(line[line.index(after: colon)...].trimmingSpaces)))
        }
        return response
    }

    /// Reads the body of `response` into it. In `lenient` mode a timeout, early
    /// end of stream or framing error ends the body instead of throwing, so a
    /// caller still sees the status of a misbehaving server.
    static func readBody(of response: inout HTTPResponse, method: String?, from socket: TCPSocket, deadline: Deadline, lenient: Bool) throws {
        do {
            try readBody(into: &response.body, framing: framing(of: response, method: method), from: socket, deadline: deadline)
        } catch {
            if !lenient { throw error }
        }
    }

    private enum Framing { case none, length(Int), chunked, untilClose }

    private static func framing(of response: HTTPResponse, method: String?) throws -> Framing {
        if method?.uppercased() == "HEAD" || (100..<200).contains(response.status) || response.status == 204 || response.status == 304 {
            return .none
        }
        if let encoding = response.header("Transfer-Encoding"), encoding.lowercased().contains("chunked") {
            return .chunked
        }
        if let value = response.header("Content-Length") {
            guard let length = Int(value), length >= 0 else {
                throw WebSocketClientError.protocolError("bad Content-Length: \(value)")
            }
            guard length <= maxBodySize else { throw WebSocketClientError.protocolError("body of \(length) bytes is too large") }
            return .length(length)
        }
        return .untilClose
    }

    private static func readBody(into body: inout [UInt8], framing: Framing, from socket: TCPSocket, deadline: Deadline) throws {
        switch framing {
        case .none:
            return
        case .length(let length):
            try append(length, to: &body, from: socket, deadline: deadline)
        case .untilClose:
            while true {
                body.append(contentsOf: socket.consume(socket.buffered.count))
                guard body.count <= maxBodySize else { throw WebSocketClientError.protocolError("body is too large") }
                guard try socket.fill(deadline: deadline) else { return }
            }
        case .chunked:
            while true {
                let line = try readLine(from: socket, deadline: deadline)
                let sizeField = line.split(separator: ";", maxSplits: 1).first?.trimmingSpaces ?? ""
                guard let size = Int(sizeField, radix: 16), size >= 0 else {
                    throw WebSocketClientError.protocolError("bad chunk size: \(line)")
                }
                if size == 0 { break }
                guard body.count + size <= maxBodySize else { throw WebSocketClientError.protocolError("body is too large") }
                try append(size, to: &body, from: socket, deadline: deadline)
                guard try readLine(from: socket, deadline: deadline).isEmpty else {
                    throw WebSocketClientError.protocolError("chunk data not followed by CRLF")
                }
            }
            while try !readLine(from: socket, deadline: deadline).isEmpty {}  // trailers
        }
    }

    private static func append(_ count: Int, to body: inout [UInt8], from socket: TCPSocket, deadline: Deadline) throws {
        var missing = count
        while missing > 0 {
            if socket.buffered.isEmpty, try !socket.fill(deadline: deadline) {
                throw WebSocketClientError.protocolError("connection closed with \(missing) body bytes missing")
            }
            let n = min(missing, socket.buffered.count)
            body.append(contentsOf: socket.consume(n))
            missing -= n
        }
    }

    private static func readLine(from socket: TCPSocket, deadline: Deadline) throws -> String {
        guard let line = try socket.read(through: crlf, limit: maxHeadSize, deadline: deadline) else {
            throw WebSocketClientError.protocolError("connection closed in the middle of a chunked body")
        }
        return String(decoding: line, as: UTF8.self)
    }
}
