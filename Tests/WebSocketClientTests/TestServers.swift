import Foundation
import Glibc
@testable import WebSocketClient

/// A listening socket on 127.0.0.1 with a kernel-chosen port. Each accepted
/// connection is handled on its own thread; the accept thread gives up after
/// 10 s without a new connection so a failing test cannot leak it forever.
struct TestServer: Sendable {
    let port: Int

    init(handler: @escaping @Sendable (TCPSocket) throws -> Void) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw WebSocketClientError.connectFailed("socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            Glibc.close(fd)
            throw WebSocketClientError.connectFailed("bind/listen: \(String(cString: strerror(errno)))")
        }
        port = Int(UInt16(bigEndian: address.sin_port))

        Thread { [fd] in
            while true {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 10_000) > 0 else { break }
                let client = accept(fd, nil, nil)
                guard client >= 0 else { continue }
                Thread { try? handler(TCPSocket(adopting: client)) }.start()
            }
            Glibc.close(fd)
        }.start()
    }
}

/// Reads a request head and parses its header lines (names lowercased).
func readRequest(_ socket: TCPSocket) throws -> (line: String, headers: [String: String], head: String)? {
    guard let bytes = try socket.read(through: Array("\r\n\r\n".utf8), limit: 65536, deadline: Deadline(seconds: 10)) else {
        return nil
    }
    let head = String(decoding: bytes, as: UTF8.self)
    var lines = head.split(separator: "\r\n")[...]
    let requestLine = String(lines.popFirst() ?? "")
    var headers: [String: String] = [:]
    for line in lines {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = String(line[line.index(after: colon)...].trimmingSpaces)
    }
    return (requestLine, headers, head)
}

func send(_ socket: TCPSocket, _ frame: Frame) throws {
    try socket.write(frame.encoded(), deadline: Deadline(seconds: 10))
}

/// A WebSocket server for the end-to-end tests. The request path picks the
/// handshake behaviour; after the upgrade it echoes data frames one to one
/// (so fragments come back fragmented) and obeys a few text commands.
func webSocketTestServer(_ socket: TCPSocket) throws {
    guard let request = try readRequest(socket) else { return }
    let path = request.line.split(separator: " ").dropFirst().first ?? ""
    let write = { (text: String) in try socket.write(Array(text.utf8), deadline: Deadline(seconds: 10)) }

    switch path {
    case "/silent":
        return
    case "/reject":
        try write("HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\nX-Reason: test\r\n\r\ngo away")
        return
    default:
        break
    }
    let key = request.headers["sec-websocket-key"] ?? ""
    let accept = path == "/bad-accept" ? "AAAAAAAAAAAAAAAAAAAAAAAAAAA=" : WebSocketClient.acceptValue(forKey: key)
    var response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(accept)\r\n"
    if let offered = request.headers["sec-websocket-protocol"], let first = offered.split(separator: ",").first {
        response += "Sec-WebSocket-Protocol: \(path == "/wrong-protocol" ? "other" : first.trimmingSpaces)\r\n"
    }
    var bytes = Array((response + "\r\n").utf8)
    if path == "/greet" {  // a frame in the same segment as the 101
        bytes += Frame(opcode: Opcode.text, payload: Array("welcome".utf8)).encoded()
    }
    try socket.write(bytes, deadline: Deadline(seconds: 10))

    while true {
        var decoded: (frame: Frame, byteCount: Int)?
        while true {
            decoded = try Frame.decode(socket.buffered, maxPayload: 32 << 20)
            if decoded != nil { break }
            guard try socket.fill(deadline: Deadline(seconds: 10)) else { return }
        }
        let frame = decoded!.frame
        socket.skip(decoded!.byteCount)
        guard frame.maskingKey != nil else {
            try send(socket, Frame(opcode: Opcode.close, payload: [0x03, 0xEA]))
            return
        }
        let command = frame.opcode == Opcode.text && frame.fin ? String(decoding: frame.payload, as: UTF8.self) : nil

        switch (frame.opcode, command) {
        case (Opcode.close, _):
            try send(socket, Frame(opcode: Opcode.close, payload: frame.payload))
            return
        case (Opcode.ping, _):
            try send(socket, Frame(opcode: Opcode.pong, payload: frame.payload))
        case (Opcode.pong, _):
            try send(socket, Frame(opcode: Opcode.text, payload: Array("pong:".utf8) + frame.payload))
        case (_, "headers"?):
            try send(socket, Frame(opcode: Opcode.text, payload: Array(request.head.utf8)))
        case (_, "ping"?):
            try send(socket, Frame(opcode: Opcode.ping, payload: Array("abc".utf8)))
        case (_, "fragmented"?):
            try send(socket, Frame(opcode: Opcode.text, payload: Array("frag".utf8), fin: false))
            try send(socket, Frame(opcode: Opcode.ping, payload: Array("mid".utf8)))
            try send(socket, Frame(opcode: Opcode.continuation, payload: Array("men".utf8), fin: false))
            try send(socket, Frame(opcode: Opcode.continuation, payload: Array("ted".utf8)))
        case (_, "masked"?):
            try send(socket, Frame(opcode: Opcode.text, payload: Array("x".utf8), maskingKey: [1, 2, 3, 4]))
        case (_, "invalid-utf8"?):
            try send(socket, Frame(opcode: Opcode.text, payload: [0xC3, 0x28]))
        case (_, "close-me"?):
            try send(socket, Frame(opcode: Opcode.close, payload: [0x0F, 0xA0] + Array("bye".utf8)))
        case (_, "oversize-header"?):  // claims 16 MiB + 1 but sends no payload
            try socket.write([0x82, 0x7F, 0, 0, 0, 0, 0x01, 0, 0, 0x01], deadline: Deadline(seconds: 10))
        case (_, "oversize-fragments"?):  // 10 bytes, then a continuation claiming 16 MiB - 5
            try send(socket, Frame(opcode: Opcode.binary, payload: [UInt8](repeating: 7, count: 10), fin: false))
            try socket.write([0x80, 0x7F, 0, 0, 0, 0, 0x00, 0xFF, 0xFF, 0xFB], deadline: Deadline(seconds: 10))
        case (_, "drop"?):
            return
        case (_, let command?) where command.hasPrefix("big:"):
            let size = Int(command.dropFirst(4))!
            try send(socket, Frame(opcode: Opcode.binary, payload: (0..<size).map { UInt8(truncatingIfNeeded: $0) }))
        default:
            try send(socket, Frame(opcode: frame.opcode, payload: frame.payload, fin: frame.fin))
        }
    }
}

/// An HTTP/1.1 server for HTTPClient tests; the path picks the response shape.
func httpTestServer(_ socket: TCPSocket) throws {
    guard let request = try readRequest(socket) else { return }
    var body: [UInt8] = []
    if let length = Int(request.headers["content-length"] ?? "0"), length > 0 {
        while socket.buffered.count < length {
            guard try socket.fill(deadline: Deadline(seconds: 10)) else { return }
        }
        body = socket.consume(length)
    }
    let parts = request.line.split(separator: " ")
    let method = parts.first.map(String.init) ?? ""
    let path = parts.count > 1 ? String(parts[1]) : ""
    let write = { (text: String) in try socket.write(Array(text.utf8), deadline: Deadline(seconds: 10)) }

    switch path {
    case "/hello":
        try write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
    case "/chunked":
        try write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n6;ext=1\r\nlo wor\r\n")
        try write("2\r\nld\r\n0\r\nX-Trailer: t\r\n\r\n")
    case "/eof":
        try write("HTTP/1.0 404 Not Found\r\n\r\nno length, ends at close")
    case "/head":
        try write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    case "/short":
        try write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
    case "/silent":
        return
    default:
        let echo = "\(method) \(path)\n\(request.head)\n\n" + String(decoding: body, as: UTF8.self)
        try write("HTTP/1.1 201 Created\r\nContent-Length: \(echo.utf8.count)\r\n\r\n\(echo)")
    }
}
