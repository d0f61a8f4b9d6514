internal import CLibWebSockets
import Diagnostics
import EventLoop

public struct WebSocketServerConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    /// 0 picks a free port; `WebSocketServer.port` tells which.
    public var port: Int = 8080
    /// The subprotocol; clients that name none are accepted too.
    public var subprotocol: String = "carthub.v1"
    public var maxMessageBytes: Int = 64 * 1024
    public var maxRequestBodyBytes: Int = 64 * 1024
    public var maxQueuedFrames: Int = 1024
    public var maxQueuedBytes: Int = 4 << 20
    public var slowConsumerCloseCode: UInt16 = 4008
    /// Seconds a peer that cannot take its close frame is given before the TCP connection is cut.
    public var closeGraceSeconds: Int = 10
    public var pingIntervalSeconds: UInt16 = 20
    public var pongTimeoutSeconds: UInt16 = 50
    public var fdLimit: UInt32 = 0
    /// PEM certificate (chain) and private key. Both set make the listener TLS only:
    /// https:// and wss://, TLS 1.2 or newer, ALPN http/1.1 (never h2).
    public var tlsCertificatePath: String?
    public var tlsPrivateKeyPath: String?

    public var isTLS: Bool { tlsCertificatePath != nil && tlsPrivateKeyPath != nil }

    public init() {}
}

/// What a TLS vhost offers. ALPN is only http/1.1: lws 4.1.6 has HTTP/2 compiled in
/// and would negotiate h2 by default, and its h2 and upgrade paths are not for us.
enum TLSPolicy {
    static let alpn = "http/1.1"
    /// TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 keeps OpenSSL's defaults, all AEAD).
    static let tls12Ciphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")
}

/// libwebsockets on the shared libuv loop: HTTP and WebSocket on one listener.
///
/// Only the loop thread touches it. Swift owns every lws-facing allocation (the
/// protocol table, the retry policy, the write buffer) for the context's lifetime.
public final class WebSocketServer {
    public let limits: WebSocketServerConfiguration
    public weak var delegate: WebSocketServerDelegate?
    public private(set) var port = 0
    public private(set) var sessionCount = 0
    /// Whether the listener speaks TLS (https/wss): callers mark cookies `Secure` then.
    public var isTLS: Bool { limits.isTLS }

    let loop: EventLoop
    private var context: OpaquePointer?
    private let protocols: UnsafeMutablePointer<lws_protocols>
    private let protocolName: UnsafeMutablePointer<CChar>
    private let retryPolicy: UnsafeMutablePointer<lws_retry_bo_t>
    private let foreignLoops: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// The TLS strings handed to lws (paths, ALPN, ciphers). Like the protocol name they
    /// stay allocated as long as the server: lws keeps pointers into its creation info,
    /// and with a foreign loop it finishes tearing the context down on later loop turns.
    private var tlsStrings: [UnsafeMutablePointer<CChar>] = []
    private var nextSessionId: UInt64 = 0
    private var writeBuffer: UnsafeMutableRawBufferPointer
    let pre = carthub_lws_pre()

    public init(loop: EventLoop, configuration: WebSocketServerConfiguration, delegate: WebSocketServerDelegate) throws {
        self.loop = loop
        self.limits = configuration
        self.delegate = delegate
        writeBuffer = .allocate(byteCount: 16 * 1024 + carthub_lws_pre(), alignment: 16)
        protocolName = strdup(configuration.subprotocol)!
        protocols = .allocate(capacity: 2)
        protocols.initialize(repeating: lws_protocols(), count: 2)
        // One protocol serves HTTP and WebSocket, so a client naming no subprotocol lands on it.
        protocols[0].name = UnsafePointer(protocolName)
        protocols[0].callback = serverCallback
        protocols[0].per_session_data_size = MemoryLayout<UnsafeMutableRawPointer?>.size
        // lws keeps a receive buffer of this size for every socket for its whole life; commands
        // are a few hundred bytes, and larger messages simply arrive in several callbacks.
        protocols[0].rx_buffer_size = 512
        // Without this lws cuts every send() to rx_buffer_size bytes and sends the rest on
        // later POLLOUT turns: a 2 KiB cart would cost four sends and four epoll_ctl round trips.
        protocols[0].tx_packet_size = 256 * 1024
        retryPolicy = .allocate(capacity: 1)
        retryPolicy.initialize(to: lws_retry_bo_t(
            retry_ms_table: nil, retry_ms_table_count: 0, conceal_count: 0,
            secs_since_valid_ping: configuration.pingIntervalSeconds,
            secs_since_valid_hangup: configuration.pongTimeoutSeconds, jitter_percent: 0))
        foreignLoops = .allocate(capacity: 1)
        foreignLoops.initialize(to: loop.rawLoop)

        lws_set_log_level(Int32(LLL_ERR | LLL_WARN), logEmitter)
        var info = lws_context_creation_info()
        info.port = Int32(configuration.port)
        info.protocols = UnsafePointer(protocols)
        info.options = carthub_lws_option_libuv() | carthub_lws_option_validate_utf8() | carthub_lws_option_no_signals()
        if !configuration.host.contains(":") { info.options |= carthub_lws_option_disable_ipv6() }
        info.foreign_loops = foreignLoops
        info.retry_and_idle_policy = UnsafePointer(retryPolicy)
        info.timeout_secs = 10
        info.keepalive_timeout = 5
        info.max_http_header_data = 8192
        info.fd_limit_per_thread = configuration.fdLimit
        info.user = Unmanaged.passUnretained(self).toOpaque()
        if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsPrivateKeyPath {
            info.options |= carthub_lws_option_ssl_init()
            info.ssl_cert_filepath = ownedCString(certificate)
            info.ssl_private_key_filepath = ownedCString(key)
            info.alpn = ownedCString(TLSPolicy.alpn)
            info.ssl_cipher_list = ownedCString(TLSPolicy.tls12Ciphers)
            info.ssl_options_set = carthub_ssl_options_tls12_minimum()
        }
        context = configuration.host.withCString { iface in
            info.iface = iface
            return lws_create_context(&info)
        }
        let failure = configuration.isTLS
            ? "cannot listen with TLS on \(configuration.host):\(configuration.port) (address in use, or the certificate or key unusable: see the lws errors above)"
            : "cannot listen on \(configuration.host):\(configuration.port) (address in use?)"
        guard let context else {
            // Nothing refers to the TLS strings once creation failed.
            for string in tlsStrings { free(string) }
            tlsStrings = []
            throw WebSocketServerError(failure)
        }
        // lws 4.1.6 returns a context even when its default vhost failed (a certificate
        // it cannot load, for one): without a vhost nothing listens.
        guard let vhost = lws_get_vhost_by_name(context, "default"), lws_get_vhost_listen_port(vhost) > 0 else {
            self.context = nil
            lws_context_destroy(context)
            throw WebSocketServerError(failure)
        }
        port = Int(lws_get_vhost_listen_port(vhost))
    }

    private func ownedCString(_ text: String) -> UnsafePointer<CChar> {
        let copy = strdup(text)!
        tlsStrings.append(copy)
        return UnsafePointer(copy)
    }

    /// Closes every connection at once and frees lws; the loop must run a little
    /// afterwards so libuv can finish closing lws's handles.
    public func shutdown() {
        guard let context else { return }
        self.context = nil
        lws_context_destroy(context)
    }

    // MARK: Write scheduling

    func requestWrite(_ session: WebSocketSession) {
        guard let wsi = session.wsi else { return }
        lws_callback_on_writable(wsi)
    }

    func requestWrite(_ request: HTTPRequest) {
        guard let wsi = request.wsi else { return }
        lws_callback_on_writable(wsi)
    }

    func armCloseTimeout(_ session: WebSocketSession) {
        guard let wsi = session.wsi else { return }
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, Int32(limits.closeGraceSeconds))
    }

    /// Writes a text frame at once when nothing is waiting before it, which spares the
    /// POLLOUT round trip (two `epoll_ctl` calls and a loop turn) of a writeable callback.
    /// lws keeps whatever the kernel does not take (`lws_partial_buffered`) and asks for
    /// writeable itself; until that is flushed, frames queue. False: queue it instead.
    func writeNow(_ session: WebSocketSession, _ text: String) -> Bool {
        guard session.opened, session.queue.isEmpty, let wsi = session.wsi, lws_partial_buffered(wsi) == 0 else { return false }
        var text = text
        let written = text.withUTF8 { write(wsi, UnsafeRawBufferPointer($0), LWS_WRITE_TEXT) }
        // Outside a callback lws cannot be told to drop the connection by a return value.
        if !written { lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC) }
        return true
    }

    /// Copies `bytes` after LWS_PRE bytes of headroom and writes them.
    func write(_ wsi: OpaquePointer, _ bytes: [UInt8], _ kind: lws_write_protocol) -> Bool {
        bytes.withUnsafeBytes { write(wsi, $0, kind) }
    }

    private func write(_ wsi: OpaquePointer, _ bytes: UnsafeRawBufferPointer, _ kind: lws_write_protocol) -> Bool {
        if writeBuffer.count < pre + bytes.count {
            writeBuffer.deallocate()
            writeBuffer = .allocate(byteCount: pre + max(bytes.count, 2 * writeBuffer.count), alignment: 16)
        }
        let start = writeBuffer.baseAddress! + pre
        if let base = bytes.baseAddress { start.copyMemory(from: base, byteCount: bytes.count) }
        return lws_write(wsi, start.assumingMemoryBound(to: UInt8.self), bytes.count, kind) >= bytes.count
    }

    // MARK: Callback dispatch

    fileprivate func callback(_ wsi: OpaquePointer, _ reason: lws_callback_reasons, _ user: UnsafeMutableRawPointer?, _ input: UnsafeMutableRawPointer?, _ length: Int) -> Int32 {
        switch reason {
        case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
            // CVE-2025-11677: `input` may point into freed header memory. Re-read the header ourselves.
            return headerValue(wsi, WSI_TOKEN_UPGRADE)?.lowercased() == "websocket" ? 0 : -1
        case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            return filterUpgrade(wsi, user)
        case LWS_CALLBACK_ESTABLISHED:
            guard let session = stored(user, as: WebSocketSession.self) else { return -1 }
            session.opened = true
            sessionCount += 1
            delegate?.sessionOpened(session)
            return 0
        case LWS_CALLBACK_RECEIVE:
            guard let session = stored(user, as: WebSocketSession.self) else { return -1 }
            return receive(session, wsi, input, length)
        case LWS_CALLBACK_SERVER_WRITEABLE:
            guard let session = stored(user, as: WebSocketSession.self) else { return -1 }
            return writeable(session, wsi)
        case LWS_CALLBACK_CLOSED:
            if let session = release(user, as: WebSocketSession.self) { closed(session) }
            return 0
        case LWS_CALLBACK_WSI_DESTROY:
            // An accepted handshake that never became ESTABLISHED still holds its session.
            if let session = release(user, as: WebSocketSession.self) { closed(session) }
            _ = release(user, as: HTTPRequest.self)
            return 0
        case LWS_CALLBACK_HTTP:
            return startHTTP(wsi, user)
        case LWS_CALLBACK_HTTP_BODY:
            guard let request = stored(user, as: HTTPRequest.self) else { return -1 }
            if request.body.count + length > limits.maxRequestBodyBytes {
                request.respond(.json(413, #"{"error":{"code":"PAYLOAD_TOO_LARGE","message":"request body exceeds \#(limits.maxRequestBodyBytes) bytes"}}"#, headers: [("connection", "close")]))
                return 0
            }
            if let input, length > 0, !request.isAnswered {
                request.body.append(contentsOf: UnsafeRawBufferPointer(start: input, count: length))
            }
            return 0
        case LWS_CALLBACK_HTTP_BODY_COMPLETION:
            guard let request = stored(user, as: HTTPRequest.self) else { return -1 }
            dispatch(request)
            return 0
        case LWS_CALLBACK_HTTP_WRITEABLE:
            guard let request = stored(user, as: HTTPRequest.self) else { return 0 }
            return writeHTTP(request, wsi, user)
        case LWS_CALLBACK_CLOSED_HTTP, LWS_CALLBACK_HTTP_DROP_PROTOCOL:
            _ = release(user, as: HTTPRequest.self)
            return 0
        default:
            return 0
        }
    }

    private func filterUpgrade(_ wsi: OpaquePointer, _ user: UnsafeMutableRawPointer?) -> Int32 {
        guard let user, let delegate else { return -1 }
        switch delegate.authorizeUpgrade(readHead(wsi, method: "GET")) {
        case .accept(let attachment):
            nextSessionId += 1
            let session = WebSocketSession(id: nextSessionId, server: self)
            session.attachment = attachment
            session.wsi = wsi
            user.storeBytes(of: Unmanaged.passRetained(session).toOpaque(), as: UnsafeMutableRawPointer?.self)
            return 0
        case .reject(let status, let message):
            _ = message.withCString { lws_return_http_status(wsi, UInt32(status), $0) }
            return -1
        }
    }

    private func receive(_ session: WebSocketSession, _ wsi: OpaquePointer, _ input: UnsafeMutableRawPointer?, _ length: Int) -> Int32 {
        let first = lws_is_first_fragment(wsi) != 0
        let final = lws_is_final_fragment(wsi) != 0
        if first {
            session.partial.removeAll()
            session.partialBytes = 0
            session.partialIsBinary = lws_frame_is_binary(wsi) != 0
        }
        let remaining = Int(lws_remaining_packet_payload(wsi))
        if session.partialBytes + length + remaining > limits.maxMessageBytes {
            let reason = "message exceeds \(limits.maxMessageBytes) bytes"
            reason.withCString { lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, UnsafeMutableRawPointer(mutating: $0).assumingMemoryBound(to: UInt8.self), strlen($0)) }
            return -1
        }
        session.partialBytes += length
        if session.partialIsBinary {
            // Binary content is never read; the whole message gets one error reply.
            if final { delegate?.sessionReceivedBinary(session) }
            return 0
        }
        let chunk = UnsafeRawBufferPointer(start: input, count: input == nil ? 0 : length)
        if first && final {
            delegate?.session(session, received: chunk)
            return 0
        }
        session.partial.append(contentsOf: chunk)
        if final {
            let message = session.partial
            session.partial = []
            message.withUnsafeBytes { delegate?.session(session, received: $0) }
        }
        return 0
    }

    private func writeable(_ session: WebSocketSession, _ wsi: OpaquePointer) -> Int32 {
        // Several frames per callback save a POLLOUT round trip (two epoll_ctl calls)
        // each; lws allows it as long as no write was left partly buffered.
        var written = 0
        while written < Self.framesPerWriteable, let frame = session.queue.popFirst() {
            session.queuedBytes -= frame.count
            guard write(wsi, frame, LWS_WRITE_TEXT) else { return -1 }
            written += 1
            if lws_partial_buffered(wsi) != 0 { break }
        }
        if !session.queue.isEmpty || (session.pendingClose != nil && written > 0) {
            lws_callback_on_writable(wsi)
            return 0
        }
        guard let close = session.pendingClose else { return 0 }
        // Returning -1 from a writeable callback makes lws drop the socket as failed,
        // without the close frame lws_close_reason prepares; so write it ourselves first
        // (opcode 4 is LWS_WRITE_CLOSE, which lws keeps out of its public enum).
        let frame = [UInt8(close.code >> 8), UInt8(close.code & 0xff)] + Array(close.reason.utf8.prefix(123))
        _ = write(wsi, frame, lws_write_protocol(rawValue: 4))
        return -1
    }

    /// A bound per callback, so one busy socket cannot hold the loop.
    private static let framesPerWriteable = 16

    private func closed(_ session: WebSocketSession) {
        session.wsi = nil
        session.queue.removeAll()
        session.queuedBytes = 0
        guard session.opened else { return }
        session.opened = false
        sessionCount -= 1
        delegate?.sessionClosed(session)
    }

    // MARK: HTTP

    private func startHTTP(_ wsi: OpaquePointer, _ user: UnsafeMutableRawPointer?) -> Int32 {
        guard let user else { return -1 }
        _ = release(user, as: HTTPRequest.self)
        let request = HTTPRequest(head: readHead(wsi, method: nil), wsi: wsi, server: self)
        user.storeBytes(of: Unmanaged.passRetained(request).toOpaque(), as: UnsafeMutableRawPointer?.self)
        let hasBody = (Int(request.head.header("content-length") ?? "") ?? 0) > 0 || request.head.header("transfer-encoding") != nil
        if hasBody {
            if let length = Int(request.head.header("content-length") ?? ""), length > limits.maxRequestBodyBytes {
                request.respond(.json(413, #"{"error":{"code":"PAYLOAD_TOO_LARGE","message":"request body exceeds \#(limits.maxRequestBodyBytes) bytes"}}"#, headers: [("connection", "close")]))
            }
            return 0
        }
        dispatch(request)
        return 0
    }

    /// Hands a complete request to the delegate, once.
    private func dispatch(_ request: HTTPRequest) {
        guard !request.dispatched, !request.isAnswered else { return }
        request.dispatched = true
        delegate?.handle(request)
    }

    private func writeHTTP(_ request: HTTPRequest, _ wsi: OpaquePointer, _ user: UnsafeMutableRawPointer?) -> Int32 {
        guard let response = request.response else { return 0 }
        if !request.headersSent {
            request.headersSent = true
            guard writeHeaders(response, wsi, bodyLength: response.body.count) else { return -1 }
            if !response.body.isEmpty && request.head.method != "HEAD" {
                lws_callback_on_writable(wsi)
                return 0
            }
        } else {
            guard write(wsi, response.body, LWS_WRITE_HTTP_FINAL) else { return -1 }
        }
        _ = release(user, as: HTTPRequest.self)
        request.wsi = nil
        let closeAfter = response.headers.contains { $0.0 == "connection" && $0.1 == "close" }
        return closeAfter || lws_http_transaction_completed(wsi) != 0 ? -1 : 0
    }

    private func writeHeaders(_ response: HTTPResponse, _ wsi: OpaquePointer, bodyLength: Int) -> Bool {
        var block: [UInt8] = []
        let capacity = 4096 + response.headers.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 4 }
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        var p: UnsafeMutablePointer<UInt8>? = buffer
        let end = buffer + capacity
        var ok = lws_add_http_header_status(wsi, UInt32(response.status), &p, end) == 0
        for (name, value) in response.headers where name != "connection" {
            ok = ok && (name + ":").withCString { n in
                value.withCString { v in
                    lws_add_http_header_by_name(wsi, UnsafeRawPointer(n).assumingMemoryBound(to: UInt8.self), UnsafeRawPointer(v).assumingMemoryBound(to: UInt8.self), Int32(strlen(v)), &p, end) == 0
                }
            }
        }
        ok = ok && lws_add_http_header_content_length(wsi, lws_filepos_t(bodyLength), &p, end) == 0
        ok = ok && lws_finalize_http_header(wsi, &p, end) == 0
        guard ok, let p else { return false }
        block.append(contentsOf: UnsafeBufferPointer(start: buffer, count: p - buffer))
        return write(wsi, block, LWS_WRITE_HTTP_HEADERS)
    }

    // MARK: Headers and per-session storage

    /// The headers the hub reads; lws keeps only known ones, so the list is fixed here.
    private static let readHeaders: [(String, lws_token_indexes)] = [
        ("host", WSI_TOKEN_HOST), ("origin", WSI_TOKEN_ORIGIN), ("cookie", WSI_TOKEN_HTTP_COOKIE),
        ("authorization", WSI_TOKEN_HTTP_AUTHORIZATION), ("content-type", WSI_TOKEN_HTTP_CONTENT_TYPE),
        ("content-length", WSI_TOKEN_HTTP_CONTENT_LENGTH), ("transfer-encoding", WSI_TOKEN_HTTP_TRANSFER_ENCODING),
        ("referer", WSI_TOKEN_HTTP_REFERER), ("upgrade", WSI_TOKEN_UPGRADE), ("x-forwarded-for", WSI_TOKEN_X_FORWARDED_FOR),
        ("accept", WSI_TOKEN_HTTP_ACCEPT), ("sec-websocket-protocol", WSI_TOKEN_PROTOCOL),
        ("if-none-match", WSI_TOKEN_HTTP_IF_NONE_MATCH),
    ]

    private static let methodTokens: [(String, lws_token_indexes)] = [
        ("GET", WSI_TOKEN_GET_URI), ("POST", WSI_TOKEN_POST_URI), ("PUT", WSI_TOKEN_PUT_URI),
        ("PATCH", WSI_TOKEN_PATCH_URI), ("DELETE", WSI_TOKEN_DELETE_URI), ("OPTIONS", WSI_TOKEN_OPTIONS_URI),
        ("HEAD", WSI_TOKEN_HEAD_URI),
    ]

    private func readHead(_ wsi: OpaquePointer, method: String?) -> RequestHead {
        var verb = method ?? "GET"
        var path = "/"
        for (name, token) in Self.methodTokens {
            if let uri = headerValue(wsi, token) {
                path = uri
                if method == nil { verb = name }
                break
            }
        }
        var headers: [String: String] = [:]
        for (name, token) in Self.readHeaders {
            if let value = headerValue(wsi, token) { headers[name] = value }
        }
        for name in ["idempotency-key", "x-signature"] {
            if let value = customHeader(wsi, name) { headers[name] = value }
        }
        return RequestHead(method: verb, path: path, queryItems: queryItems(wsi), headers: headers, peerAddress: peerAddress(wsi))
    }

    private func peerAddress(_ wsi: OpaquePointer) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        guard lws_get_peer_simple(wsi, &buffer, buffer.count) != nil else { return "" }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// lws keeps each `name=value` of the query as one fragment (joining them in
    /// `lws_hdr_copy` would blur the boundaries), so read them one by one.
    private func queryItems(_ wsi: OpaquePointer) -> [String] {
        let length = Int(lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS))
        guard length > 0 else { return [] }
        var buffer = [CChar](repeating: 0, count: length + 1)
        var items: [String] = []
        while items.count < Self.maxQueryItems {
            let copied = Int(lws_hdr_copy_fragment(wsi, &buffer, Int32(length + 1), WSI_TOKEN_HTTP_URI_ARGS, Int32(items.count)))
            guard copied >= 0 else { break }
            items.append(Self.text(buffer, copied))
        }
        return items
    }

    private static let maxQueryItems = 32

    private func headerValue(_ wsi: OpaquePointer, _ token: lws_token_indexes) -> String? {
        let length = Int(lws_hdr_total_length(wsi, token))
        guard length > 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: length + 1)
        let copied = Int(lws_hdr_copy(wsi, &buffer, Int32(length + 1), token))
        return copied < 0 ? nil : Self.text(buffer, copied)
    }

    private func customHeader(_ wsi: OpaquePointer, _ name: String) -> String? {
        let key = name + ":"
        let length = Int(lws_hdr_custom_length(wsi, key, Int32(key.utf8.count)))
        guard length > 0 else { return nil }
        var buffer = [CChar](repeating: 0, count: length + 1)
        let copied = Int(lws_hdr_custom_copy(wsi, &buffer, Int32(length + 1), key, Int32(key.utf8.count)))
        return copied < 0 ? nil : Self.text(buffer, min(copied, length))
    }

    private static func text(_ buffer: [CChar], _ count: Int) -> String {
        buffer.withUnsafeBytes { String(decoding: $0.prefix(count), as: UTF8.self) }
    }

    private func stored<T: AnyObject>(_ user: UnsafeMutableRawPointer?, as type: T.Type) -> T? {
        guard let pointer = user?.load(as: UnsafeMutableRawPointer?.self) else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(pointer).takeUnretainedValue() as? T
    }

    /// Takes the object out of the per-session slot and drops the slot's reference.
    private func release<T: AnyObject>(_ user: UnsafeMutableRawPointer?, as type: T.Type) -> T? {
        guard let user, let object = stored(user, as: type) else { return nil }
        user.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
        Unmanaged<AnyObject>.fromOpaque(Unmanaged.passUnretained(object).toOpaque()).release()
        return object
    }
}

public struct WebSocketServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

private let serverCallback: @convention(c) (OpaquePointer?, lws_callback_reasons, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int) -> Int32 = { wsi, reason, user, input, length in
    guard let wsi, let context = lws_get_context(wsi), let owner = lws_context_user(context) else { return 0 }
    return Unmanaged<WebSocketServer>.fromOpaque(owner).takeUnretainedValue().callback(wsi, reason, user, input, length)
}

private let logEmitter: @convention(c) (Int32, UnsafePointer<CChar>?) -> Void = { level, line in
    guard let line else { return }
    var text = String(cString: line)
    while text.last == "\n" { text.removeLast() }
    if level & Int32(LLL_ERR) != 0 { Log.error("lws: \(text)") } else { Log.warning("lws: \(text)") }
}
