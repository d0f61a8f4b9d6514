import CartDomain
import CryptoPrimitives
import JSON

/// `POST /api/payments/webhook`: the payment provider's notification
/// `{"orderId","status":"succeeded"|"failed","paymentRef"}`, signed with
/// `X-Signature: sha256=<hex HMAC-SHA256 of the raw body under PAYMENT_WEBHOOK_SECRET>`.
extension Hub {
    static let maxPaymentRefLength = 128

    func paymentWebhook(_ call: APICall) {
        guard serving(call) != nil else { return }
        receivePayment(body: call.request.body, contentType: call.header("content-type"), signature: call.header("x-signature"), call, type: "payment.webhook")
    }

    /// A payment notification, from the webhook or from the demo's own signed call
    /// (`Hub+DemoAPI`): the signature is checked, then the body, then the order moves.
    func receivePayment(body: [UInt8], contentType: String?, signature: String?, _ call: APICall, type: String) {
        guard let secret = configuration.paymentWebhookSecret else {
            // No key, no valid signature.
            return call.fail(.badSignature, "this hub has no PAYMENT_WEBHOOK_SECRET: no signature is valid")
        }
        guard Self.signatureMatches(signature, body: body, secret: secret) else {
            countCommand(type, ErrorCode.badSignature.rawValue)
            return call.fail(.badSignature, "X-Signature must be sha256=<hex HMAC-SHA256 of the body>")
        }
        guard let body = call.jsonObject(body, contentType: contentType), let orderId = call.string(body, "orderId"), let status = call.string(body, "status"),
              let paymentRef = call.string(body, "paymentRef") else { return }
        guard Order.isValidId(orderId) else { return call.fail(.badRequest, "orderId is 1-64 characters of A-Z a-z 0-9 _ . -") }
        guard status == "succeeded" || status == "failed" else { return call.fail(.badRequest, "status must be succeeded or failed") }
        guard (1...Self.maxPaymentRefLength).contains(paymentRef.count) else {
            return call.fail(.badRequest, "paymentRef must be 1-\(Self.maxPaymentRefLength) characters")
        }
        orders.payment(orderId: orderId, succeeded: status == "succeeded", paymentRef: paymentRef, now: wallClockMilliseconds()) { [weak self] in
            self?.answer(call, type, $0)
        }
    }

    /// `sha256=<64 hex digits>` of the body's HMAC under `secret`.
    static func signature(body: [UInt8], secret: [UInt8]) -> String {
        "sha256=" + Hex.encode(HMACSHA256.authenticationCode(key: secret, message: body))
    }

    /// `sha256=<64 hex digits>` equal, in constant time, to the body's HMAC.
    static func signatureMatches(_ header: String?, body: [UInt8], secret: [UInt8]) -> Bool {
        guard let header, header.hasPrefix("sha256=") else { return false }
        let given = Array(header.dropFirst("sha256=".count).lowercased().utf8)
        let expected = Array(Hex.encode(HMACSHA256.authenticationCode(key: secret, message: body)).utf8)
        return given.count == expected.count && ConstantTime.equals(given, expected)
    }
}
