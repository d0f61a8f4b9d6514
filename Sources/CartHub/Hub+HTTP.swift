import Auth
import CartDomain
import WebSocketServer

extension Hub {
    /// Every REST endpoint. `/api/openapi.json` documents exactly these (a test checks).
    static let router = Router(routes: [
        Route("GET", "/api/cart") { $0.getCart($1) },
        Route("DELETE", "/api/cart") { $0.clearCart($1) },
        Route("GET", "/api/cart/total") { $0.getCartTotal($1) },
        Route("POST", "/api/cart/items") { $0.addCartItem($1) },
        Route("PATCH", "/api/cart/items/{bookId}") { $0.setCartItem($1) },
        Route("DELETE", "/api/cart/items/{bookId}") { $0.removeCartItem($1) },
        Route("GET", "/api/books") { $0.listBooks($1) },
        Route("GET", "/api/books/{id}") { $0.getBook($1) },
        Route("POST", "/api/books") { $0.createBook($1) },
        Route("PATCH", "/api/books/{id}") { $0.updateBook($1) },
        Route("DELETE", "/api/books/{id}") { $0.deleteBook($1) },
        Route("POST", "/api/auth/register") { $0.register($1) },
        Route("POST", "/api/auth/login") { $0.login($1) },
        Route("POST", "/api/auth/refresh") { $0.refresh($1) },
        Route("POST", "/api/auth/logout") { $0.logout($1) },
        Route("GET", "/api/me") { $0.getMe($1) },
        Route("PATCH", "/api/me") { $0.patchMe($1) },
        Route("POST", "/api/orders") { $0.createOrder($1) },
        Route("GET", "/api/orders") { $0.listOrders($1) },
        Route("GET", "/api/orders/{id}") { $0.getOrder($1) },
        Route("POST", "/api/orders/{id}/cancel") { $0.cancelOrder($1) },
        Route("POST", "/api/payments/webhook") { $0.paymentWebhook($1) },
        Route("GET", "/api/admin/orders") { $0.listAllOrders($1) },
        Route("PATCH", "/api/admin/orders/{id}") { $0.updateOrderStatus($1) },
        Route("GET", "/api/config") { $0.getConfig($1) },
        Route("POST", "/api/demo/pay/{id}") { $0.demoPay($1) },
        Route("GET", "/api/openapi.json") { hub, call in call.respond(200, json: hub.openAPIDocument) },
    ])

    /// The REST routes as (method, path pattern) pairs, e.g. `("PATCH", "/api/cart/items/{bookId}")`;
    /// HEAD and OPTIONS are implied (HEAD wherever GET is).
    public static var restRoutes: [(method: String, path: String)] {
        router.routes.map { ($0.method, $0.pattern) }
    }

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
        case (_, let path) where WebAssets.claims(path):
            serveWeb(request)
        default:
            route(request)
        }
    }

    private func route(_ request: HTTPRequest) {
        let origin = request.head.header("origin")
        let corsOrigin = origin.flatMap { authenticator?.allowedOrigins.contains($0) == true ? $0 : nil }
        switch Self.router.resolve(method: request.head.method, path: request.head.path) {
        case .found(let route, let parameters):
            route.serve(self, APICall(request: request, parameters: parameters, corsOrigin: corsOrigin))
        case .methodNotAllowed(let allowed):
            let call = APICall(request: request, parameters: [:], corsOrigin: corsOrigin)
            let allow = ("allow", allowed.joined(separator: ", "))
            guard request.head.method == "OPTIONS" else {
                return call.fail(.methodNotAllowed, "\(request.head.method) is not allowed here; use \(allowed.joined(separator: ", "))", headers: [allow])
            }
            // CORS preflight: answered for allowed origins only, so other sites' scripts cannot call us.
            if origin != nil && corsOrigin == nil { return call.fail(.forbidden, "origin \(origin!) is not allowed") }
            call.respond(204, headers: [
                allow, ("access-control-allow-methods", allowed.joined(separator: ", ")),
                ("access-control-allow-headers", "authorization, content-type, idempotency-key"), ("access-control-max-age", "600"),
            ])
        case .notFound:
            APICall(request: request, parameters: [:], corsOrigin: corsOrigin).fail(.notFound, "no such endpoint")
        }
    }

    /// The caller's verified claims, or nil after answering 401, 403, 429 or 503.
    func authenticate(_ call: APICall, mutating: Bool) -> JWTClaims? {
        guard let authenticator = serving(call) else { return nil }
        let result = authenticator.authenticateRequest(
            authorization: call.header("authorization"), cookie: call.header("cookie"), origin: call.header("origin"),
            referer: call.header("referer"), mutating: mutating, now: wallClockMilliseconds() / 1000)
        switch result {
        case .failure(.unauthorized(let message)):
            call.fail(.unauthorized, message, headers: [("www-authenticate", "Bearer")])
            return nil
        case .failure(.forbidden(let message)):
            call.fail(.forbidden, message)
            return nil
        case .success(let claims) where isRevoked(claims):
            call.fail(.unauthorized, Self.revokedMessage, headers: [("www-authenticate", "Bearer")])
            return nil
        case .success(let claims):
            guard admitREST(userId: claims.subject) else {
                call.fail(.rateLimited, "too many requests; slow down", headers: [("retry-after", "1")])
                return nil
            }
            return claims
        }
    }

    /// The authenticator while the hub serves requests; nil after answering 503 when it drains.
    func serving(_ call: APICall) -> Authenticator? {
        guard let authenticator, !draining else {
            call.fail(.shuttingDown, "server is shutting down; retry on another instance")
            return nil
        }
        return authenticator
    }

    /// `authenticate` for admin endpoints: anyone else gets 403. The role is the token's
    /// `role` claim, fixed when the token was issued (login or refresh).
    func authenticateAdmin(_ call: APICall) -> JWTClaims? {
        guard let claims = authenticate(call, mutating: !["GET", "HEAD"].contains(call.head.method)) else { return nil }
        guard claims.role == "admin" else {
            call.fail(.forbidden, "this endpoint is for administrators")
            return nil
        }
        return claims
    }

    /// REST calls share one bucket per user on this instance, sized like a socket's.
    private func admitREST(userId: String) -> Bool {
        let now = loop.now
        var entry = restBuckets[userId] ?? (TokenBucket(rate: configuration.commandsPerSecond, burst: configuration.commandBurst, now: now), now)
        let admitted = entry.bucket.take(now: now)
        entry.lastUsed = now
        restBuckets[userId] = entry
        return admitted
    }

    /// Buckets idle long enough to have refilled are dropped: a new one is the same.
    func pruneRESTBuckets() {
        let now = loop.now
        let refill = configuration.commandBurst / configuration.commandsPerSecond
        restBuckets = restBuckets.filter { now - $0.value.lastUsed < refill }
    }
}
