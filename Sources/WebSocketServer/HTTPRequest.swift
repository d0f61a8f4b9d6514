/// One HTTP transaction; answer it once with `respond` (now or later, on the loop thread).
public final class HTTPRequest {
    public let head: RequestHead
    public internal(set) var body: [UInt8] = []
    var wsi: OpaquePointer?
    weak var server: WebSocketServer?
    var response: HTTPResponse?
    var headersSent = false
    /// Given to the delegate already: lws may still report a body completion for a
    /// request without a body (POST with Content-Length: 0) that is being answered later.
    var dispatched = false

    init(head: RequestHead, wsi: OpaquePointer, server: WebSocketServer) {
        self.head = head
        self.wsi = wsi
        self.server = server
    }

    public var isAnswered: Bool { response != nil }

    public func respond(_ response: HTTPResponse) {
        guard self.response == nil else { return }
        self.response = response
        server?.requestWrite(self)
    }
}
