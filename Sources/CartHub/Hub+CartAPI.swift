import Auth
import CartDomain
import JSON

/// The cart over REST: the same commands, checks and error codes as the socket, and
/// every change reaches the user's sockets as `cart.updated` with `via: "rest"`.
extension Hub {
    func getCart(_ call: APICall) {
        guard let claims = authenticate(call, mutating: false) else { return }
        run(.get, for: claims, call) { call.respond(200, json: $0) }
    }

    func getCartTotal(_ call: APICall) {
        guard let claims = authenticate(call, mutating: false) else { return }
        run(.get, for: claims, call) { cart in
            guard let fields = try? JSONValue.parse(cart).objectValue else {
                return call.fail(.internal, "unreadable cart")
            }
            let total: JSONValue = .object(fields.filter { ["userId", "epoch", "version", "totalCents", "itemCount"].contains($0.key) })
            call.respond(200, json: total.encoded)
        }
    }

    func addCartItem(_ call: APICall) {
        guard let claims = authenticate(call, mutating: true), let body = call.jsonObject() else { return }
        command(call, claims, fields: body, type: "cart.add")
    }

    func setCartItem(_ call: APICall) {
        guard let claims = authenticate(call, mutating: true), let body = call.jsonObject() else { return }
        command(call, claims, fields: body, type: "cart.setQuantity")
    }

    func removeCartItem(_ call: APICall) {
        guard let claims = authenticate(call, mutating: true) else { return }
        command(call, claims, fields: [:], type: "cart.remove")
    }

    func clearCart(_ call: APICall) {
        guard let claims = authenticate(call, mutating: true) else { return }
        command(call, claims, fields: [:], type: "cart.clear")
    }

    /// Validates like a socket frame: the path's `bookId` wins over one in the body.
    private func command(_ call: APICall, _ claims: JWTClaims, fields: [String: JSONValue], type: String) {
        var fields = fields
        fields["type"] = .string(type)
        if let bookId = call.parameters["bookId"] { fields["bookId"] = .string(bookId) }
        switch CommandParser.command(fields, limits: configuration.limits) {
        case .failure(let error):
            countCommand("invalid", error.code.rawValue)
            call.fail(error)
        case .success(let command):
            run(command, for: claims, call) { call.respond(200, json: $0) }
        }
    }

    /// `Idempotency-Key` is a change's requestId, so a retried request is applied once;
    /// reads are not remembered, so they ignore it.
    private func run(_ command: CartCommand, for claims: JWTClaims, _ call: APICall, _ respond: @escaping (String) -> Void) {
        let requestId: String
        if command != .get, let key = call.header("idempotency-key") {
            guard CommandParser.isValidRequestId(key) else {
                return call.fail(.badRequest, "Idempotency-Key must be 1-\(CartLimits.maxRequestIdLength) characters")
            }
            requestId = key
        } else {
            requestId = "rest-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        }
        let origin = CartService.Origin(requestId: requestId, connectionId: nil, via: "rest")
        carts.execute(command, userId: claims.subject, origin: origin, now: wallClockMilliseconds()) { [weak self] result in
            switch result {
            case .success(let cart):
                self?.countCommand(command.type, "ok")
                respond(cart)
            case .failure(let error):
                self?.countCommand(command.type, error.code.rawValue)
                call.fail(error)
            }
        }
    }
}
