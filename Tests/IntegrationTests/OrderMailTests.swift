import CartDomain
import Foundation
import JSON
import Mail
import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Order mails end to end (issue #7): real hubs and a real `carthub worker` on private
/// Redis and Postgres (`OrderWorld`), aiosmtpd on loopback (`SMTPSink`). Mails are
/// counted by unique Message-ID and in total.
@Suite("Order mails: CONFIRMED, CANCELLED, EXPIRED, SHIPPED; no reminder for ordered lines", .serialized)
struct OrderMailTests {
    final class MailWorld: @unchecked Sendable {
        let sink: SMTPSink
        let clockFile: String
        let world: OrderWorld

        init() throws {
            sink = try SMTPSink()
            clockFile = NSTemporaryDirectory() + "carthub-clock-\(UUID().uuidString.prefix(8).lowercased())"
            try "0".write(toFile: clockFile, atomically: true, encoding: .utf8)
            world = try OrderWorld(stocks: [50, 50, 50], extra: [
                "SMTP_URL": sink.url, "MAIL_FROM": "Carthub Books <shop@example.com>", "CARTHUB_PUBLIC_URL": "https://books.example.com/",
                "CARTHUB_CLOCK_FILE": clockFile, "CARTHUB_MAIL_RETRY_DELAY": "200ms", "CARTHUB_SMTP_TIMEOUT": "8",
            ])
        }

        deinit { try? FileManager.default.removeItem(atPath: clockFile) }

        /// A registered user (an account with an email) and a socket of theirs on `hub`.
        func customer(_ name: String, hub: HubProcess? = nil) throws -> (id: String, email: String, socket: CartSocket) {
            let id = "u-" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
            let email = "\(id)@example.com"
            _ = try UserStore.create(world.postgres(), id: id, email: email, name: name, passwordHash: "unused", role: "customer")
            return (id, email, try CartSocket(hub ?? world.hubs[0], user: id))
        }

        func add(_ socket: CartSocket, _ lines: [(Int, Int64)]) throws {
            for (book, quantity) in lines {
                let reply = try socket.call("cart.add", ["bookId": .string(world.catalog[book].id), "quantity": .int(quantity)])
                #expect(reply.isOK, "\(reply.encoded)")
            }
        }

        /// `order.create` of the socket's cart; the order's id.
        func order(_ socket: CartSocket) throws -> String {
            let reply = try world.checkout(socket)
            #expect(reply.order?["status"]?.stringValue == "PAYMENT_PENDING", "\(reply.encoded)")
            return try #require(reply.orderId)
        }

        func mails() -> [StoredMail] { sink.messages() }

        /// The mail with this Message-ID, once the SMTP server has it.
        func mail(_ messageId: String, within seconds: Double = 45) throws -> StoredMail {
            try eventually(within: seconds, "the mail \(messageId) at the SMTP server (have \(mails().map(\.messageId)))") {
                mails().first { $0.messageId == messageId }
            }
        }

        /// Jobs ever added to `mail:jobs` (XINFO STREAM entries-added).
        func jobsQueued() throws -> Int64? {
            let info = try world.redis().command(["XINFO", "STREAM", MailKeys.stream]).arrayValue ?? []
            let index = info.firstIndex { $0.stringValue == "entries-added" }
            return index.flatMap { info.index(after: $0) < info.count ? info[info.index(after: $0)].intValue : nil }
        }

        func setClock(_ content: String) throws { try content.write(toFile: clockFile, atomically: true, encoding: .utf8) }

        func finishedRuns(_ schedule: String) throws -> Int {
            try ScheduleStore.recent(world.postgres(), schedule: schedule, limit: 1000).filter { $0.status == "ok" }.count
        }

        func waitForRuns(_ schedule: String, _ count: Int, within seconds: Double = 30) throws {
            _ = try eventually(within: seconds, "\(count) finished \(schedule) run(s)") { try finishedRuns(schedule) >= count ? true : nil }
        }

        /// The mail lists exactly these (catalog index, quantity) lines and their total.
        func expectLines(_ mail: StoredMail, _ lines: [(Int, Int64)], sourceLocation: SourceLocation = #_sourceLocation) {
            let text = mail.part("text/plain") ?? ""
            let html = mail.part("text/html") ?? ""
            var total: Int64 = 0
            for (index, quantity) in lines {
                let book = world.catalog[index]
                total += quantity * book.priceCents
                #expect(text.contains("\(quantity) × \(book.title) — \(MailFormat.money(book.priceCents)) each, \(MailFormat.money(quantity * book.priceCents))"),
                        "text lacks \(book.title):\n\(text)", sourceLocation: sourceLocation)
                #expect(html.contains(MailFormat.html(book.title)), "HTML lacks \(book.title)", sourceLocation: sourceLocation)
            }
            #expect(text.components(separatedBy: " × ").count - 1 == lines.count, "other lines listed:\n\(text)", sourceLocation: sourceLocation)
            #expect(text.contains("Total: \(MailFormat.money(total))"), "\(text)", sourceLocation: sourceLocation)
            #expect(html.contains(MailFormat.money(total)), sourceLocation: sourceLocation)
            #expect(text.contains("https://books.example.com/") && html.contains("href=\"https://books.example.com/\""), sourceLocation: sourceLocation)
        }
    }

    @Test("one mail per status: CONFIRMED (webhook, sent twice), SHIPPED (admin), CANCELLED (socket, REST repeat, webhook failed), EXPIRED; to opted-out users too; none without an account")
    func mailPerStatus() throws {
        let s = try MailWorld()
        let world = s.world
        // An order expires on this hub within seconds; the other hub keeps them 15 minutes.
        let shortHub = try HubProcess(environment: world.environment.merging(["CARTHUB_RESERVATION_TTL": "2"]) { $1 })
        let ada = try s.customer("Ada Lovelace")
        // Order mails are transactional: marketing mail off changes nothing.
        _ = try UserStore.setMarketingEmails(world.postgres(), id: ada.id, false)
        let api = REST(world.hubs[0])
        let admin = Tokens.make(user: "admin-\(UUID().uuidString.prefix(6))", role: "admin")

        // CONFIRMED through the webhook; the same notification again: still one mail.
        try s.add(ada.socket, [(0, 2), (1, 1)])
        let paid = try s.order(ada.socket)
        #expect(try world.pay(paid).status == 200)
        #expect(try world.pay(paid).status == 200, "a duplicate webhook is answered the same")
        let confirmed = try s.mail(OrderMail.messageId(orderId: paid, status: .confirmed))
        #expect(confirmed.header("To")?.contains("<\(ada.email)>") == true, "\(confirmed.header("To") ?? "")")
        #expect(confirmed.header("Subject")?.contains(paid) == true)
        #expect(confirmed.part("text/plain")?.contains("is confirmed") == true)
        s.expectLines(confirmed, [(0, 2), (1, 1)])

        // SHIPPED by an administrator (asked twice).
        for _ in 0..<2 {
            let answer = try api.call("PATCH", "/api/admin/orders/\(paid)", token: admin, json: ["status": "SHIPPED"])
            #expect(answer.status == 200, "\(answer.response.bodyText)")
        }
        let shipped = try s.mail(OrderMail.messageId(orderId: paid, status: .shipped))
        #expect(shipped.part("text/plain")?.contains("on its way") == true)
        s.expectLines(shipped, [(0, 2), (1, 1)])

        // CANCELLED from the socket, then the same cancel over REST (a repeat).
        try s.add(ada.socket, [(2, 1)])
        let cancelled = try s.order(ada.socket)
        #expect(try ada.socket.call("order.cancel", ["orderId": .string(cancelled)]).isOK)
        #expect(try api.call("POST", "/api/orders/\(cancelled)/cancel", token: Tokens.make(user: ada.id)).status == 200)
        let cancelMail = try s.mail(OrderMail.messageId(orderId: cancelled, status: .cancelled))
        #expect(cancelMail.part("text/plain")?.contains("was cancelled") == true)
        s.expectLines(cancelMail, [(2, 1)])

        // CANCELLED by a failed payment.
        let failed = try s.order(ada.socket)
        #expect(try world.pay(failed, "failed").status == 200)
        s.expectLines(try s.mail(OrderMail.messageId(orderId: failed, status: .cancelled)), [(2, 1)])

        // EXPIRED by the worker, for an order made on the short hub.
        let device = try CartSocket(shortHub, user: ada.id)
        let expired = try s.order(device)
        _ = try device.orderUpdate("EXPIRED", id: expired, timeout: 45)
        let expiredMail = try s.mail(OrderMail.messageId(orderId: expired, status: .expired))
        #expect(expiredMail.part("text/plain")?.contains("expired") == true)
        s.expectLines(expiredMail, [(2, 1)])

        // No account, no mail: a paid order of a user the hub only knows from a token.
        let stranger = try world.shopper("no-account", world.catalog[1])
        let strangerOrder = try #require(try world.checkout(stranger).orderId)
        #expect(try world.pay(strangerOrder).status == 200)
        _ = try stranger.orderUpdate("CONFIRMED", id: strangerOrder)

        // Give duplicates time to show up: exactly one mail per (order, status).
        usleep(3_000_000)
        let ids = s.mails().map(\.messageId)
        let expected: Set<String> = [
            OrderMail.messageId(orderId: paid, status: .confirmed), OrderMail.messageId(orderId: paid, status: .shipped),
            OrderMail.messageId(orderId: cancelled, status: .cancelled), OrderMail.messageId(orderId: failed, status: .cancelled),
            OrderMail.messageId(orderId: expired, status: .expired),
        ]
        #expect(ids.count == expected.count && Set(ids) == expected, "\(ids)")
        #expect(s.mails().allSatisfy { $0.header("X-Envelope-To") == ada.email }, "\(s.mails().map { $0.header("X-Envelope-To") ?? "" })")
        // The repeats were queued again (two CONFIRMED, two SHIPPED, two CANCELLED jobs) and sent once.
        #expect(try s.jobsQueued() == 8)
        _ = shortHub
    }

    @Test("an abandoned cart whose only lines are in a pending order gets no reminder; another's reminder leaves its ordered line out")
    func noReminderForOrderedLines() throws {
        let s = try MailWorld()
        // Only lines that became a (still unpaid) order.
        let ordered = try s.customer("All Ordered")
        try s.add(ordered.socket, [(0, 1), (1, 2)])
        let pending = try s.order(ordered.socket)
        // One line ordered, one added after the checkout.
        let partly = try s.customer("Partly Ordered")
        try s.add(partly.socket, [(0, 1)])
        _ = try s.order(partly.socket)
        try s.add(partly.socket, [(2, 3)])
        try s.world.stack.waitForConvergence([ordered.id, partly.id])

        try s.waitForRuns("cart-reminders", 1)
        let runs = try s.finishedRuns("cart-reminders")
        try s.setClock("+8d")
        try s.waitForRuns("cart-reminders", runs + 1)
        let reminder = try eventually(within: 45, "a reminder for \(partly.email)") { s.mails().first { $0.header("X-Envelope-To") == partly.email } }
        s.expectLines(reminder, [(2, 3)])
        usleep(2_000_000)
        #expect(s.mails().count == 1, "\(s.mails().map { $0.header("X-Envelope-To") ?? "" })")
        #expect(try s.world.order(pending)?.status == .paymentPending, "the order was still pending during the scan")
    }
}
