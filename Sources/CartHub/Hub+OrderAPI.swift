import Auth
import CartDomain
import JSON

/// Orders over REST: the same service as the socket's `order.*` commands; every status
/// change reaches the user's sockets as `order.updated`.
extension Hub {
    func createOrder(_ call: APICall) {
        guard let claims = authenticate(call, mutating: true) else { return }
        guard let key = call.header("idempotency-key") else {
            return call.fail(.badRequest, "an Idempotency-Key header is required: the same key returns the same order")
        }
        guard OrderCommand.isValidKey(key) else { return call.fail(.badRequest, "Idempotency-Key must be 1-\(CartLimits.maxRequestIdLength) characters") }
        let origin = CartService.Origin(requestId: key, connectionId: nil, via: "rest")
        orders.create(userId: claims.subject, idempotencyKey: key, origin: origin, now: wallClockMilliseconds()) { [weak self] result in
            self?.answer(call, "order.create", result, status: 201)
        }
    }

    func listOrders(_ call: APICall) {
        guard let claims = authenticate(call, mutating: false), let query = call.query(allowed: ["limit", "cursor"]),
              let (limit, cursor) = page(call, query) else { return }
        orders.list(userId: claims.subject, status: nil, limit: limit, cursor: cursor) { [weak self] in self?.answer(call, "order.list", $0) }
    }

    func getOrder(_ call: APICall) {
        guard let claims = authenticate(call, mutating: false), let id = orderId(call) else { return }
        orders.get(userId: claims.subject, orderId: id) { [weak self] in self?.answer(call, "order.get", $0) }
    }

    func cancelOrder(_ call: APICall) {
        guard let claims = authenticate(call, mutating: true), let id = orderId(call) else { return }
        orders.cancel(userId: claims.subject, orderId: id) { [weak self] in self?.answer(call, "order.cancel", $0) }
    }

    func listAllOrders(_ call: APICall) {
        guard authenticateAdmin(call) != nil, let query = call.query(allowed: ["status", "limit", "cursor"]), let (limit, cursor) = page(call, query) else { return }
        var status: OrderStatus?
        if let text = query["status"] {
            guard let known = OrderStatus(rawValue: text) else {
                return call.fail(.badRequest, "status must be one of \(OrderStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = known
        }
        orders.list(userId: nil, status: status, limit: limit, cursor: cursor) { [weak self] in self?.answer(call, "admin.orders", $0) }
    }

    func updateOrderStatus(_ call: APICall) {
        guard authenticateAdmin(call) != nil, let body = call.jsonObject(), let id = orderId(call), let text = call.string(body, "status") else { return }
        guard let status = OrderStatus(rawValue: text) else {
            return call.fail(.badRequest, "status must be one of \(OrderStatus.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard body.keys.allSatisfy({ $0 == "status" }) else { return call.fail(.badRequest, "only status may be changed") }
        orders.setStatus(orderId: id, to: status) { [weak self] in self?.answer(call, "admin.order", $0) }
    }

    // MARK: Helpers

    private func orderId(_ call: APICall) -> String? {
        let id = call.parameters["id"] ?? ""
        guard Order.isValidId(id) else {
            call.fail(.badRequest, "an order id is 1-64 characters of A-Z a-z 0-9 _ . -")
            return nil
        }
        return id
    }

    private func page(_ call: APICall, _ query: [String: String]) -> (Int, String?)? {
        do throws(CartError) {
            let limit = try OrderCommand.limit(query["limit"])
            if let cursor = query["cursor"], OrderPage.parseCursor(cursor) == nil {
                throw CartError(.badRequest, "cursor must be a nextCursor of an earlier page")
            }
            return (limit, query["cursor"])
        } catch {
            call.fail(error)
            return nil
        }
    }

    func answer(_ call: APICall, _ type: String, _ result: Result<Order, CartError>, status: Int = 200) {
        countCommand(type, (try? result.get()).map { _ in "ok" } ?? result.failureCode)
        switch result {
        case .success(let order): call.respond(status, json: #"{"order":"# + order.json + "}")
        case .failure(let error): call.fail(error, headers: error.code == .unavailable ? [("retry-after", "1")] : [])
        }
    }

    private func answer(_ call: APICall, _ type: String, _ result: Result<OrderPage, CartError>) {
        countCommand(type, (try? result.get()).map { _ in "ok" } ?? result.failureCode)
        switch result {
        case .success(let page): call.respond(200, json: page.json)
        case .failure(let error): call.fail(error, headers: error.code == .unavailable ? [("retry-after", "1")] : [])
        }
    }
}

extension Result where Failure == CartError {
    var failureCode: String {
        if case .failure(let error) = self { return error.code.rawValue }
        return "ok"
    }
}
