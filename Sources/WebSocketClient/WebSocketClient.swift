public enum WebSocketMessage: Equatable, Sendable {
    case text(String)
    case binary([UInt8])
    case close(code: UInt16?, reason: String)
}

/// A blocking RFC 6455 client over plain TCP (`ws://` only).
///
/// Not thread-safe: one owner (a thread or a task) drives a client at a time.
/// It is `Sendable` only so that owner can hand it to another.
public final class WebSocketClient: @unchecked Sendable {
    package static let maxMessageSize = 16 * 1024 * 1024
    package static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// The subprotocol the server chose, if any.
    public let negotiatedSubprotocol: String?

    private let socket: TCPSocket
    /// Bounds each send, and the wait for the server's close echo.
    private let ioTimeout: Double
    private var open = true
    /// The opcode and data so far of a fragmented message being reassembled.
    private var fragmentOpcode: UInt8?
    private var fragments: [UInt8] = []

    public var isOpen: Bool { open }

    private init(socket: TCPSocket, subprotocol: String?, ioTimeout: Double) {
        self.socket = socket
        self.negotiatedSubprotocol = subprotocol
        self.ioTimeout = ioTimeout
    }

    deinit { socket.close() }

    package static func acceptValue(forKey key: String) -> String {
        Base64.encode(SHA1.hash(Array((key + acceptGUID).utf8)))
    }

    // MARK: Handshake

    /// Opens a TCP connection and performs the upgrade. `headers` are added
    /// verbatim (Cookie, Origin, Authorization...); one named like a default
    /// handshake header (Host, Upgrade, Connection, Sec-WebSocket-Key,
    /// Sec-WebSocket-Version, Sec-WebSocket-Protocol) replaces it.
    /// `subprotocols` empty → no Sec-WebSocket-Protocol header.
    /// Throws `handshakeRejected(response)` when the status is not 101,
    /// `connectFailed` when the peer closes without any response.
    public static func connect(
        url: String, headers: [(String, String)] = [], subprotocols: [String] = ["carthub.v1"], timeout: Double = 5
    ) throws -> WebSocketClient {
        let url = try URLParts(url, scheme: "ws")
        let deadline = Deadline(seconds: timeout)
        var random = SystemRandomNumberGenerator()
        let generatedKey = Base64.encode((0..<16).map { _ in random.next() })
        let key = headers.last { $0.0.lowercased() == "sec-websocket-key" }?.1 ?? generatedKey

        var defaults = [
            ("Host", url.hostHeader), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13"),
        ]
        if !subprotocols.isEmpty { defaults.append(("Sec-WebSocket-Protocol", subprotocols.joined(separator: ", "))) }
        let head = HTTPWire.requestHead("GET \(url.target) HTTP/1.1", defaults: defaults, extra: headers)

        let socket = try TCPSocket.connect(host: url.host, port: url.port, deadline: deadline)
        try HTTPClient.sendIgnoringPeerClose(Array(head.utf8), on: socket, deadline: deadline)
        guard var response = try HTTPWire.readHead(from: socket, deadline: deadline) else {
            throw WebSocketClientError.connectFailed("server closed the connection without responding to the upgrade")
        }
        guard response.status == 101 else {
            try HTTPWire.readBody(of: &response, method: "GET", from: socket, deadline: deadline, lenient: true)
            throw WebSocketClientError.handshakeRejected(response)
        }
        let subprotocol = try validateUpgrade(response, key: key, offered: subprotocols)
        // Frames sent right behind the 101 stay in the socket's buffer for receive().
        return WebSocketClient(socket: socket, subprotocol: subprotocol, ioTimeout: timeout)
    }

    /// Checks a 101 response (RFC 6455 §4.1) and returns the chosen subprotocol.
    private static func validateUpgrade(_ response: HTTPResponse, key: String, offered: [String]) throws -> String? {
        guard response.header("Upgrade")?.lowercased() == "websocket" else {
            throw WebSocketClientError.protocolError("101 response without Upgrade: websocket")
        }
        let connectionTokens = (response.header("Connection") ?? "").lowercased().split(separator: ",")
        guard connectionTokens.contains(where: { $0.trimmingSpaces == "upgrade" }) else {
            throw WebSocketClientError.protocolError("101 response without Connection: Upgrade")
        }
        guard response.header("Sec-WebSocket-Accept") == acceptValue(forKey: key) else {
            throw WebSocketClientError.protocolError("Sec-WebSocket-Accept does not match the key")
        }
        if let extensions = response.header("Sec-WebSocket-Extensions"), !extensions.isEmpty {
            throw WebSocketClientError.protocolError("server selected extensions we did not offer: \(extensions)")
        }
        guard let chosen = response.header("Sec-WebSocket-Protocol"), !chosen.isEmpty else { return nil }
        guard offered.contains(chosen) else {
            throw WebSocketClientError.protocolError("server selected subprotocol \(chosen) we did not offer")
        }
        return chosen
    }

    // MARK: Sending

    public func sendText(_ text: String) throws {
        try sendFrame(opcode: Opcode.text, payload: Array(text.utf8))
    }

    public func sendBinary(_ bytes: [UInt8]) throws {
        try sendFrame(opcode: Opcode.binary, payload: bytes)
    }

    /// Raw frame for tests: any opcode (low 4 bits), fin flag, payload bytes,
    /// masked as a client must. Nothing is validated, so tests can send
    /// fragments, invalid UTF-8, oversize or control frames the server must reject.
    public func sendFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true) throws {
        guard open else { throw WebSocketClientError.closed }
        try write(Frame(opcode: opcode, payload: payload, fin: fin, maskingKey: Self.makeMaskingKey()))
    }

    /// Writes bytes verbatim, e.g. unmasked or truncated frames.
    public func sendRaw(_ bytes: [UInt8]) throws {
        guard open else { throw WebSocketClientError.closed }
        try socket.write(bytes, deadline: Deadline(seconds: ioTimeout))
    }

    private func write(_ frame: Frame) throws {
        try socket.write(frame.encoded(), deadline: Deadline(seconds: ioTimeout))
    }

    private static func makeMaskingKey() -> [UInt8] {
        var random = SystemRandomNumberGenerator()
        let key: UInt32 = random.next()
        return [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: key >> $0) }
    }

    // MARK: Receiving

    /// Next complete data message or close. Pings are answered with pongs and
    /// not returned; fragmented messages are reassembled. A close frame from the
    /// server is echoed and returned as `.close`, and the connection is then
    /// closed. Throws `.timeout` if nothing arrives within `timeout` seconds,
    /// `.closed` if TCP ended without a close frame (and on calls after close),
    /// `.protocolError` if the server broke RFC 6455 (the connection is then
    /// failed with a close frame).
    public func receive(timeout: Double) throws -> WebSocketMessage {
        try receive(until: Deadline(seconds: timeout))
    }

    /// Receives text messages until `predicate` matches one and returns it,
    /// skipping others. Throws `.timeout` at the deadline, `.closed` if the
    /// server closes first.
    public func receiveText(timeout: Double, where predicate: (String) -> Bool) throws -> String {
        let deadline = Deadline(seconds: timeout)
        while true {
            switch try receive(until: deadline) {
            case .text(let text) where predicate(text): return text
            case .close: throw WebSocketClientError.closed
            default: continue
            }
        }
    }

    private func receive(until deadline: Deadline) throws -> WebSocketMessage {
        while true {
            guard open else { throw WebSocketClientError.closed }
            if let message = try handle(nextFrame(until: deadline)) { return message }
        }
    }

    private func nextFrame(until deadline: Deadline) throws -> Frame {
        while true {
            let decoded: (frame: Frame, byteCount: Int)?
            do {
                decoded = try Frame.decode(socket.buffered, maxPayload: Self.maxMessageSize - fragments.count)
            } catch .payloadTooLarge(let length) {
                throw fail(1009, "message of at least \(fragments.count + Int(clamping: length)) bytes exceeds \(Self.maxMessageSize)")
            } catch .invalidLength {
                throw fail(1002, "frame length has the most significant bit set")
            }
            if let decoded {
                socket.skip(decoded.byteCount)
                return decoded.frame
            }
            guard try socket.fill(deadline: deadline) else {
                open = false
                socket.close()
                throw WebSocketClientError.closed
            }
        }
    }

    /// Applies one frame; returns a message once one is complete.
    private func handle(_ frame: Frame) throws -> WebSocketMessage? {
        guard frame.maskingKey == nil else { throw fail(1002, "server sent a masked frame") }
        guard frame.rsv == 0 else { throw fail(1002, "reserved bits set without a negotiated extension") }
        if Opcode.isControl(frame.opcode) {
            guard frame.fin else { throw fail(1002, "fragmented control frame") }
            guard frame.payload.count <= 125 else { throw fail(1002, "control frame payload over 125 bytes") }
        }

        switch frame.opcode {
        case Opcode.ping:
            // A failed pong means the connection is going; the next read reports it.
            try? write(Frame(opcode: Opcode.pong, payload: frame.payload, maskingKey: Self.makeMaskingKey()))
            return nil
        case Opcode.pong:
            return nil
        case Opcode.close:
            return try handleClose(frame.payload)
        case Opcode.text, Opcode.binary:
            guard fragmentOpcode == nil else { throw fail(1002, "new message started inside a fragmented one") }
            if frame.fin { return try message(frame.opcode, frame.payload) }
            fragmentOpcode = frame.opcode
            fragments = frame.payload
            return nil
        case Opcode.continuation:
            guard let opcode = fragmentOpcode else { throw fail(1002, "continuation frame outside a fragmented message") }
            fragments.append(contentsOf: frame.payload)
            guard frame.fin else { return nil }
            let payload = fragments
            fragmentOpcode = nil
            fragments = []
            return try message(opcode, payload)
        default:
            throw fail(1002, "unknown opcode \(frame.opcode)")
        }
    }

    private func message(_ opcode: UInt8, _ payload: [UInt8]) throws -> WebSocketMessage {
        guard opcode == Opcode.text else { return .binary(payload) }
        guard let text = String(validatingUTF8Bytes: payload) else { throw fail(1007, "text message is not valid UTF-8") }
        return .text(text)
    }

    private func handleClose(_ payload: [UInt8]) throws -> WebSocketMessage {
        guard payload.count != 1 else { throw fail(1002, "close frame with a 1-byte payload") }
        let code = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil
        // The reason is reported even if it is not valid UTF-8: tests want to see what the server said.
        let reason = String(decoding: payload.dropFirst(2), as: UTF8.self)
        try? write(Frame(opcode: Opcode.close, payload: Array(payload.prefix(2)), maskingKey: Self.makeMaskingKey()))
        open = false
        socket.close()
        return .close(code: code, reason: reason)
    }

    /// Fails the connection (RFC 6455 §7.1.7): best-effort close frame, then drop TCP.
    private func fail(_ code: UInt16, _ reason: String) -> WebSocketClientError {
        try? write(Frame(opcode: Opcode.close, payload: Self.closePayload(code, ""), maskingKey: Self.makeMaskingKey()))
        open = false
        socket.close()
        return .protocolError(reason)
    }

    // MARK: Closing

    /// Sends a close frame if still open, waits briefly (at most 1 s) for the
    /// server's close frame, then closes the socket. Safe to call repeatedly.
    public func close(code: UInt16 = 1000, reason: String = "") {
        defer {
            open = false
            socket.close()
        }
        guard open else { return }
        let closeFrame = Frame(opcode: Opcode.close, payload: Self.closePayload(code, reason), maskingKey: Self.makeMaskingKey())
        guard (try? write(closeFrame)) != nil else { return }
        let deadline = Deadline(seconds: 1).capped(atSeconds: ioTimeout)
        while true {
            let decoded: (frame: Frame, byteCount: Int)?
            do { decoded = try Frame.decode(socket.buffered, maxPayload: Self.maxMessageSize) } catch { return }
            if let decoded {
                socket.skip(decoded.byteCount)
                if decoded.frame.opcode == Opcode.close { return }
            } else if (try? socket.fill(deadline: deadline)) != true {
                return
            }
        }
    }

    private static func closePayload(_ code: UInt16, _ reason: String) -> [UInt8] {
        [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8)
    }
}
