import WebSocketServer

extension Hub {
    public func handle(_ request: HTTPRequest) {
        let head = request.head
        switch (head.method, head.path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            request.respond(.json(200, #"{"status":"ok"}"#))
        case ("GET", "/readyz"), ("HEAD", "/readyz"):
            request.respond(.json(isReady ? 200 : 503, isReady ? #"{"status":"ready"}"# : #"{"status":"not ready","redis":\#(redis.isReady),"pubsub":\#(subscriber.isReady),"postgres":\#(postgresReachable),"catalog":\#(catalog.isLoaded),"generation":\#(generation != nil),"draining":\#(draining)}"#))
        case ("GET", "/metrics"):
            serveMetrics(request)
        case (_, "/ws"):
            request.respond(.json(426, #"{"error":{"code":"BAD_REQUEST","message":"this endpoint only speaks WebSocket (Upgrade: websocket)"}}"#, headers: [("upgrade", "websocket")]))
        default:
            request.respond(.json(404, #"{"error":{"code":"NOT_FOUND","message":"no such endpoint"}}"#))
        }
    }
}
