import CartDomain
import Diagnostics
import JSON
import Postgres
import Redis
import Storage

/// The order mails: one per (order, status) for CONFIRMED, CANCELLED, EXPIRED and
/// SHIPPED, to the order's user when they have an account with an email. They are
/// transactional: sent whatever `marketing_emails` says.
///
/// Each is enqueued where its status change was committed (the hub for payments,
/// cancels and admin changes; the worker for the expiry), after the commit, and again
/// when the same change is asked for once more (a duplicate webhook, a repeated cancel
/// or PATCH, a redelivered expiry job): the Message-ID is fixed by (order, status), so a
/// repeat is sent at most once (`mail_sends`) and a lost first enqueue is made good.
///
/// Data: `{"orderId","lines":[{bookId,title,quantity,unitPriceCents}],"totalCents"}`.
public enum OrderMail {
    /// The job kind of each mailed status.
    public static let kinds: [OrderStatus: String] = [
        .confirmed: "order.confirmed", .cancelled: "order.cancelled", .expired: "order.expired", .shipped: "order.shipped",
    ]

    /// `<order.o-0k2x9c1m4q7za.confirmed@carthub>`.
    public static func messageId(orderId: String, status: OrderStatus) -> String {
        MessageID.make(["order", orderId, status.rawValue.lowercased()])
    }

    /// The mail of the order's current status to `user`; nil when that status is not
    /// mailed, or there is no account or no usable email (the job would only be parked).
    public static func job(_ order: Order, to user: UserAccount?) -> MailJob? {
        guard let kind = kinds[order.status], let user, MailAddress.isPlausible(user.email) else { return nil }
        let data = JSONValue.object(["orderId": .string(order.id), "lines": .array(order.items.map(\.mailJSON)), "totalCents": .int(order.totalCents)])
        return MailJob(kind: kind, messageId: messageId(orderId: order.id, status: order.status), to: user.email, name: user.name,
                       data: data, eventMs: order.updatedAtMs)
    }

    /// The same, with the user read from `users` (only when the status is mailed).
    public static func job(_ c: PostgresConnection, _ order: Order) throws -> MailJob? {
        guard kinds[order.status] != nil else { return nil }
        return job(order, to: try UserStore.find(c, id: order.userId))
    }

    /// Looks the recipient up and enqueues the order's mail (the worker's way; the hub
    /// sends `MailQueue.enqueueCommand` on its async connection). False when none is due.
    @discardableResult
    public static func enqueue(_ redis: BlockingRedisConnection, _ postgres: PostgresConnection, _ order: Order) throws -> Bool {
        guard let job = try job(postgres, order) else { return false }
        try MailQueue.enqueue(redis, job)
        return true
    }

    // MARK: The template

    @Sendable
    public static func render(_ job: MailJob, _ context: MailContext) throws -> RenderedMail {
        guard let status = kinds.first(where: { $0.value == job.kind })?.key else { throw MailError("\(job.kind) is not an order mail") }
        guard let orderId = job.data["orderId"]?.stringValue, !orderId.isEmpty else { throw MailError("an order mail needs its orderId") }
        let (lines, total) = try OrderItem.mailLinesAndTotal(of: job.data, for: "an order mail")
        let (subject, news, after) = wording(status, orderId: orderId)
        let text = """
            \(MailFormat.greeting(job.name))

            \(news)

            \(MailFormat.textRows(lines))

            Total: \(MailFormat.money(total))

            \(after)
            Your orders: \(context.publicURL)

            You get this mail because it is about an order of your account.
            """
        let body = """
            <p>\(MailFormat.html(MailFormat.greeting(job.name)))</p>
            <p>\(MailFormat.html(news))</p>
            \(MailFormat.htmlTable(lines, totalCents: total))
            <p>\(MailFormat.html(after))</p>
            <p><a href="\(MailFormat.html(context.publicURL))">Your orders</a></p>
            <p style="color:#666;font-size:small">You get this mail because it is about an order of your account.</p>
            """
        return RenderedMail(subject: subject, text: text, html: MailFormat.htmlDocument(title: subject, body: body))
    }

    /// Subject, the news (before the lines) and what follows (after the total).
    static func wording(_ status: OrderStatus, orderId: String) -> (subject: String, news: String, after: String) {
        switch status {
        case .confirmed:
            ("Order \(orderId) is confirmed", "Thank you: we received your payment, and order \(orderId) is confirmed:",
             "We will write again when it ships.")
        case .cancelled:
            ("Order \(orderId) is cancelled", "Order \(orderId) was cancelled before it was paid:",
             "Nothing is charged for it, and its books are back on sale.")
        case .expired:
            ("Order \(orderId) expired unpaid", "Order \(orderId) was not paid in time, so it expired:",
             "Nothing is charged for it, and its books are back on sale. To buy them, order again.")
        case .shipped:
            ("Order \(orderId) has shipped", "Good news: order \(orderId) is on its way:",
             "It should reach you soon.")
        case .paymentPending, .delivered:
            ("Order \(orderId)", "Order \(orderId) is \(status.rawValue):", "")
        }
    }
}
