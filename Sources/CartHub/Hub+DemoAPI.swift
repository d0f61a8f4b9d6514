import CartDomain
import JSON

/// The browser client's settings (`GET /api/config`) and the demo's payment button
/// (`POST /api/demo/pay/{id}`). Demo payments are off unless `CARTHUB_DEMO_PAYMENTS=1`;
/// off, the route answers 404 like any unknown path. On, the order's owner (a cookie
/// call needs an allowed Origin, like every cookie change) gets a success notification
/// for the order, signed with `PAYMENT_WEBHOOK_SECRET` and handed to the webhook's own
/// code (`receivePayment`): the same checks, transitions and events as a provider's call.
extension Hub {
    /// The flag, and a key to sign with (`carthub serve` refuses the flag without one).
    var demoPaymentsEnabled: Bool { configuration.demoPayments && configuration.paymentWebhookSecret != nil }

    func getConfig(_ call: APICall) {
        call.respond(200, json: #"{"demoPayments":\#(demoPaymentsEnabled)}"#)
    }

    func demoPay(_ call: APICall) {
        guard demoPaymentsEnabled, let secret = configuration.paymentWebhookSecret else { return call.fail(.notFound, "no such endpoint") }
        guard let claims = authenticate(call, mutating: true) else { return }
        let id = call.parameters["id"] ?? ""
        guard Order.isValidId(id) else { return call.fail(.badRequest, "an order id is 1-64 characters of A-Z a-z 0-9 _ . -") }
        // Only the owner may pay (another user's order is ORDER_NOT_FOUND, as everywhere).
        orders.get(userId: claims.subject, orderId: id) { [weak self] result in
            guard let self else { return }
            if case .failure = result { return answer(call, "demo.pay", result) }
            let notification = JSONValue.object(["orderId": .string(id), "status": .string("succeeded"), "paymentRef": .string("demo-" + id)])
            let body = Array(notification.encoded.utf8)
            receivePayment(body: body, contentType: "application/json", signature: Self.signature(body: body, secret: secret), call, type: "demo.pay")
        }
    }
}
