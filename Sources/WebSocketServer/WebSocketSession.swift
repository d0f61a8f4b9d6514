import DequeModule

/// One WebSocket connection: frames go out at once while the socket keeps up, and
/// otherwise wait in a bounded queue drained by writeable callbacks.
public final class WebSocketSession {
    public let id: UInt64
    public var attachment: AnyObject?
    /// Nil once lws closed the connection; sends then go nowhere.
    var wsi: OpaquePointer?
    weak var server: WebSocketServer?
    var opened = false

    var queue = Deque<[UInt8]>()
    var queuedBytes = 0
    var pendingClose: (code: UInt16, reason: String)?

    // Reassembly of fragmented messages; empty unless one is in progress.
    var partial: [UInt8] = []
    var partialIsBinary = false
    /// Bytes of the message in progress so far, text or binary (binary is not kept).
    var partialBytes = 0

    init(id: UInt64, server: WebSocketServer) {
        self.id = id
        self.server = server
    }

    public var isOpen: Bool { wsi != nil && pendingClose == nil }

    /// Queues a text frame. A peer that lets more than the server's queue bound pile
    /// up is too slow to serve: its queue is dropped and it is closed with `slowConsumerCloseCode`.
    public func send(_ text: String) {
        guard let server, wsi != nil, pendingClose == nil else { return }
        if server.writeNow(self, text) { return }
        let bytes = Array(text.utf8)
        if queue.count >= server.limits.maxQueuedFrames || queuedBytes + bytes.count > server.limits.maxQueuedBytes {
            queue.removeAll()
            queuedBytes = 0
            close(code: server.limits.slowConsumerCloseCode, reason: "send queue overflow: client too slow", flush: false)
            return
        }
        queuedBytes += bytes.count
        queue.append(bytes)
        server.requestWrite(self)
    }

    /// Closes with `code` after the queued frames (`flush`) or at once.
    public func close(code: UInt16, reason: String, flush: Bool = true) {
        guard let server, wsi != nil, pendingClose == nil else { return }
        if !flush {
            queue.removeAll()
            queuedBytes = 0
        }
        pendingClose = (code, reason)
        server.requestWrite(self)
        // A peer that never reads never becomes writeable: bound how long we wait for it.
        server.armCloseTimeout(self)
    }
}
