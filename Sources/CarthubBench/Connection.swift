import CLibUV
import WebSocketClient
#if canImport(Glibc)
import Glibc
#endif

/// One client WebSocket on the shared libuv loop: a `uv_tcp_t`, the upgrade
/// handshake, and RFC 6455 framing with the WebSocketClient `Frame` codec
/// (client frames masked). Everything runs on the loop thread.
final class Connection {
    enum State { case waiting, connecting, handshaking, open, closed }

    let index: Int
    let user: Int
    let hub: Int
    unowned let bench: Bench
    private(set) var state = State.waiting
    /// The socket received its `hello`.
    var greeted = false
    var connectStartedNs: UInt64 = 0
    private var tcp: UnsafeMutablePointer<uv_tcp_t>?
    private var key = ""
    /// Bytes received but not yet consumed (a partial frame or handshake head).
    private var inbound: [UInt8] = []
    private var fragmentOpcode: UInt8?
    private var fragments: [UInt8] = []

    init(index: Int, user: Int, hub: Int, bench: Bench) {
        self.index = index
        self.user = user
        self.hub = hub
        self.bench = bench
    }

    private var stream: UnsafeMutablePointer<uv_stream_t>? {
        tcp.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: uv_stream_t.self) }
    }

    // MARK: Connecting

    func connect(to address: sockaddr_in) {
        precondition(state == .waiting)
        state = .connecting
        connectStartedNs = uv_hrtime()
        let tcp = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
        uv_tcp_init(bench.uvLoop, tcp)
        tcp.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        self.tcp = tcp
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        var address = address
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { addr in
                uv_tcp_connect(request, tcp, addr) { request, status in
                    let connection = Unmanaged<Connection>.fromOpaque(request!.pointee.data).takeUnretainedValue()
                    request!.deallocate()
                    connection.connected(status: status)
                }
            }
        }
        if rc != 0 {
            request.deallocate()
            fail("CONNECT_FAILED", detail: uvError(rc))
        }
    }

    private func connected(status: Int32) {
        guard state == .connecting else { return }
        guard status == 0 else { return fail("CONNECT_FAILED", detail: uvError(status)) }
        uv_tcp_nodelay(tcp, 1)
        state = .handshaking
        var nonce = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { nonce[i] = UInt8(truncatingIfNeeded: bench.random.next()) }
        key = Base64.encode(nonce)
        let url = bench.urls[hub]
        let head = "GET \(url.path) HTTP/1.1\r\nHost: \(url.hostHeader)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: carthub.v1\r\n"
            + "Authorization: Bearer \(bench.token(forUser: user))\r\n\r\n"
        write(Array(head.utf8))
        let rc = uv_read_start(stream, { handle, _, buf in
            let connection = Unmanaged<Connection>.fromOpaque(handle!.pointee.data).takeUnretainedValue()
            buf!.pointee = uv_buf_init(connection.bench.readBuffer, UInt32(Bench.readBufferSize))
        }, { stream, nread, buf in
            let connection = Unmanaged<Connection>.fromOpaque(stream!.pointee.data).takeUnretainedValue()
            if nread > 0 {
                connection.received(UnsafeRawBufferPointer(start: buf!.pointee.base, count: nread))
            } else if nread < 0 {
                connection.peerClosed(Int32(nread))
            }
        })
        if rc != 0 { fail("CONNECT_FAILED", detail: uvError(rc)) }
    }

    // MARK: Receiving

    private func received(_ bytes: UnsafeRawBufferPointer) {
        inbound.append(contentsOf: bytes)
        if state == .handshaking {
            guard let headEnd = findHeadEnd() else {
                if inbound.count > 16384 { fail("HANDSHAKE_INVALID", detail: "response head over 16 KiB") }
                return
            }
            guard acceptHandshake(head: inbound[..<headEnd]) else { return }
            inbound.removeFirst(headEnd + 4)
            state = .open
            bench.opened(self)
        }
        guard state == .open else { return }
        var consumed = 0
        while state == .open {
            let decoded: (frame: Frame, byteCount: Int)?
            do {
                decoded = try Frame.decode(inbound[consumed...], maxPayload: 16 << 20)
            } catch {
                return fail("PROTOCOL_ERROR", detail: "bad frame from the hub")
            }
            guard let decoded else { break }
            consumed += decoded.byteCount
            handle(decoded.frame)
        }
        guard state == .open else { return }
        if consumed == inbound.count {
            inbound.removeAll(keepingCapacity: true)
        } else if consumed > 0 {
            inbound.removeFirst(consumed)
        }
    }

    private func findHeadEnd() -> Int? {
        guard inbound.count >= 4 else { return nil }
        for i in 0...(inbound.count - 4) where inbound[i] == 13 && inbound[i + 1] == 10 && inbound[i + 2] == 13 && inbound[i + 3] == 10 {
            return i
        }
        return nil
    }

    private func acceptHandshake(head: ArraySlice<UInt8>) -> Bool {
        let lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            fail("HANDSHAKE_INVALID", detail: "no status line")
            return false
        }
        guard status == 101 else {
            fail("HANDSHAKE_\(status)", detail: String(lines.first ?? ""))
            return false
        }
        var accept: Substring?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].lowercased() == "sec-websocket-accept" {
                accept = line[line.index(after: colon)...].drop { $0 == " " }
            }
        }
        let expected = Base64.encode(SHA1.hash(Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8)))
        guard accept.map(String.init) == expected else {
            fail("HANDSHAKE_INVALID", detail: "Sec-WebSocket-Accept does not match")
            return false
        }
        return true
    }

    private func handle(_ frame: Frame) {
        switch frame.opcode {
        case Opcode.text, Opcode.binary:
            if frame.fin {
                if frame.opcode == Opcode.text { bench.receivedText(frame.payload, on: self) }
            } else {
                fragmentOpcode = frame.opcode
                fragments = frame.payload
            }
        case Opcode.continuation:
            fragments.append(contentsOf: frame.payload)
            if frame.fin {
                if fragmentOpcode == Opcode.text { bench.receivedText(fragments, on: self) }
                fragmentOpcode = nil
                fragments = []
            }
        case Opcode.ping:
            sendFrame(opcode: Opcode.pong, payload: frame.payload)
        case Opcode.close:
            let code = frame.payload.count >= 2 ? Int(frame.payload[0]) << 8 | Int(frame.payload[1]) : 1005
            sendFrame(opcode: Opcode.close, payload: Array(frame.payload.prefix(2)))
            let reason = String(decoding: frame.payload.dropFirst(2), as: UTF8.self)
            fail("CLOSED_\(code)", detail: reason)
        default:
            break
        }
    }

    private func peerClosed(_ status: Int32) {
        if state == .handshaking {
            fail("HANDSHAKE_EOF", detail: uvError(status))
        } else {
            fail(status == Int32(UV_EOF.rawValue) ? "CLOSED_EOF" : "CLOSED_ERROR", detail: uvError(status))
        }
    }

    // MARK: Sending

    func sendText(_ payload: [UInt8]) {
        sendFrame(opcode: Opcode.text, payload: payload)
    }

    private func sendFrame(opcode: UInt8, payload: [UInt8]) {
        guard state == .open || state == .handshaking else { return }
        let mask = bench.random.next()
        let key: [UInt8] = [UInt8(truncatingIfNeeded: mask), UInt8(truncatingIfNeeded: mask >> 8),
                            UInt8(truncatingIfNeeded: mask >> 16), UInt8(truncatingIfNeeded: mask >> 24)]
        write(Frame(opcode: opcode, payload: payload, maskingKey: key).encoded())
    }

    /// Writes at once when the kernel takes it all (the usual case); otherwise
    /// queues a copy of the rest behind libuv's write queue, preserving order.
    private func write(_ bytes: [UInt8]) {
        guard let stream else { return }
        bytes.withUnsafeBufferPointer { p in
            var buf = uv_buf_init(UnsafeMutableRawPointer(mutating: p.baseAddress!).assumingMemoryBound(to: CChar.self), UInt32(p.count))
            let n = uv_try_write(stream, &buf, 1)
            if n == Int32(p.count) { return }
            if n < 0 && n != -EAGAIN {
                fail("WRITE_FAILED", detail: uvError(n))
                return
            }
            let done = Int(max(n, 0))
            let rest = p.count - done
            let copy = UnsafeMutableRawPointer.allocate(byteCount: rest, alignment: 1)
            copy.copyMemory(from: p.baseAddress! + done, byteCount: rest)
            let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
            request.pointee.data = copy
            var restBuf = uv_buf_init(copy.assumingMemoryBound(to: CChar.self), UInt32(rest))
            let rc = uv_write(request, stream, &restBuf, 1) { request, _ in
                request!.pointee.data.deallocate()
                request!.deallocate()
            }
            if rc != 0 {
                copy.deallocate()
                request.deallocate()
                fail("WRITE_FAILED", detail: uvError(rc))
            }
        }
    }

    // MARK: Closing

    /// Closes politely (close frame 1000), then drops TCP.
    func close() {
        guard state == .open || state == .handshaking || state == .connecting else { return }
        if state == .open { sendFrame(opcode: Opcode.close, payload: [0x03, 0xE8]) }
        release()
        state = .closed
    }

    /// Gives up on a socket that did not open in time.
    func abandon(code: String) { fail(code, detail: "gave up waiting") }

    /// Never connected: the run gave up before its turn.
    func markSkipped() { state = .closed }

    private func fail(_ code: String, detail: String) {
        let previous = state
        guard previous != .closed else { return }
        release()
        state = .closed
        bench.connectionFailed(self, code: code, detail: detail, wasOpen: previous == .open)
    }

    private func release() {
        inbound = []
        guard let tcp else { return }
        self.tcp = nil
        uv_close(UnsafeMutableRawPointer(tcp).assumingMemoryBound(to: uv_handle_t.self)) { handle in
            handle!.deallocate()
        }
    }
}

func uvError(_ code: Int32) -> String {
    String(cString: uv_strerror(code))
}
