import CartDomain
import JSON
@testable import Mail
import Scheduling
import Testing

@Suite("Schedules, durations, Message-IDs and mail formatting")
struct MailAndScheduleTests {
    @Test("durations as operators write them")
    func durations() {
        #expect(DurationText.milliseconds("7d") == 604_800_000)
        #expect(DurationText.milliseconds("36h") == 129_600_000)
        #expect(DurationText.milliseconds("2s") == 2000)
        #expect(DurationText.milliseconds("1d12h") == 129_600_000)
        #expect(DurationText.milliseconds("90") == 90_000)
        #expect(DurationText.milliseconds("200ms") == 200)
        for bad in ["", "7x", "d", "-1d", "1.5h", "99999999999999999999d"] { #expect(DurationText.milliseconds(bad) == nil, "\(bad)") }
        #expect(DurationText.describe(5_400_000) == "1h30m")
    }

    @Test("occurrences: the latest due one, the next one; daily in UTC")
    func occurrences() throws {
        let hourly = try #require(ScheduleTiming("every 1h"))
        let t: Int64 = 1_796_000_000_000 + 1234   // some instant
        let due = hourly.latest(atOrBefore: t)
        #expect(due <= t && t - due < 3_600_000 && due % 3_600_000 == 0)
        #expect(hourly.next(after: t) == due + 3_600_000)
        // After three days of downtime exactly one occurrence is due: the latest.
        #expect(hourly.latest(atOrBefore: t + 3 * 86_400_000) == due + 72 * 3_600_000)
        let daily = try #require(ScheduleTiming("daily 03:00"))
        let day: Int64 = 86_400_000
        let midnight = (t / day) * day
        #expect(daily.latest(atOrBefore: midnight + 3 * 3_600_000) == midnight + 3 * 3_600_000)
        #expect(daily.latest(atOrBefore: midnight + 3 * 3_600_000 - 1) == midnight - day + 3 * 3_600_000)
        #expect(daily.description == "daily 03:00 UTC")
        for bad in ["every 0s", "daily 24:00", "daily 3:00", "weekly 03:00", "every"] { #expect(ScheduleTiming(bad) == nil, "\(bad)") }
    }

    @Test("Message-IDs are stable, derived from the event, and valid whatever the ids hold")
    func messageIds() {
        #expect(MessageID.cartReminder(userId: "u-abc", epoch: 3, version: 17) == "<reminder.u-abc.e3.v17@carthub>")
        let odd = MessageID.cartReminder(userId: "a.b@c:d", epoch: 1, version: 2)
        #expect(odd == "<reminder.a=2Eb=40c=3Ad.e1.v2@carthub>")
        #expect(MessageID.isValid(odd))
        #expect(MessageID.make(["order", "o-1", "confirmed"]) == "<order.o-1.confirmed@carthub>")
    }

    @Test("a reminder renders lines with prices, escaped HTML and CRLF-only MIME with every required header")
    func rendering() throws {
        let lines = [OrderItem(bookId: "b1", title: "Tom & <Jerry>", unitPriceCents: 1299, quantity: 2),
                     OrderItem(bookId: "b2", title: "Émile", unitPriceCents: 5, quantity: 1)]
        let job = MailJob(kind: CartReminder.kind, messageId: "<reminder.u-1.e1.v2@carthub>", to: "ada@example.com", name: "Ada \"Countess\"",
                          data: CartReminder.data(lines: lines, totalCents: 2603), eventMs: 1_796_000_000_000)
        let rendered = try MailTemplates.render(job, context: MailContext(publicURL: "http://127.0.0.1:8080/?a=1&b=2"))
        #expect(rendered.text.contains("2 × Tom & <Jerry> — 12.99 each, 25.98"))
        #expect(rendered.text.contains("1 × Émile — 0.05 each, 0.05"))
        #expect(rendered.text.contains("Total: 26.03"))
        #expect(rendered.html.contains("Tom &amp; &lt;Jerry&gt;") && !rendered.html.contains("<Jerry>"))
        #expect(rendered.html.contains("href=\"http://127.0.0.1:8080/?a=1&amp;b=2\""))
        let message = MailMessage(from: ("Shop", "shop@example.com"), to: (job.name, job.to), messageId: job.messageId, dateMs: job.eventMs, content: rendered)
        let text = message.text
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n") && !text.replacingOccurrences(of: "\r\n", with: "").contains("\r"))
        for header in ["Date: ", "From: \"Shop\" <shop@example.com>", "To: \"Ada \\\"Countess\\\"\" <ada@example.com>", "Subject: ",
                       "Message-ID: <reminder.u-1.e1.v2@carthub>", "MIME-Version: 1.0", "Content-Type: multipart/alternative"] {
            #expect(text.contains("\r\n" + header) || text.hasPrefix(header), "missing \(header)")
        }
        #expect(text.split(separator: "\r\n", omittingEmptySubsequences: false).allSatisfy { $0.utf8.count <= 998 })
        #expect(MailMessage.headerText("Café") == "=?UTF-8?B?Q2Fmw6k=?=")
        #expect(throws: MailError.self) { try MailTemplates.render(MailJob(kind: "order.nope", messageId: job.messageId, to: job.to, name: "", data: .object([:]), eventMs: 0), context: MailContext(publicURL: "x")) }
    }

    @Test("order mails: one template per mailed status, with the lines, the total, the wording and the link; one Message-ID per (order, status)")
    func orderMails() throws {
        let lines = [OrderItem(bookId: "b1", title: "Tom & <Jerry>", unitPriceCents: 1299, quantity: 2)]
        let data = JSONValue.object(["orderId": .string("o-1"), "lines": .array(lines.map(\.mailJSON)), "totalCents": .int(2598)])
        let expected: [(OrderStatus, String)] = [(.confirmed, "is confirmed"), (.cancelled, "was cancelled"), (.expired, "expired"), (.shipped, "on its way")]
        for (status, words) in expected {
            let kind = try #require(OrderMail.kinds[status])
            let id = OrderMail.messageId(orderId: "o-1", status: status)
            #expect(id == "<order.o-1.\(status.rawValue.lowercased())@carthub>" && MessageID.isValid(id))
            let job = MailJob(kind: kind, messageId: id, to: "ada@example.com", name: "Ada", data: data, eventMs: 0)
            let rendered = try MailTemplates.render(job, context: MailContext(publicURL: "https://books.example.com/"))
            #expect(rendered.subject.contains("o-1"), "\(rendered.subject)")
            #expect(rendered.text.contains(words) && rendered.text.contains("2 × Tom & <Jerry> — 12.99 each, 25.98") && rendered.text.contains("Total: 25.98"),
                    "\(rendered.text)")
            #expect(rendered.text.contains("https://books.example.com/") && rendered.html.contains("href=\"https://books.example.com/\""))
            #expect(rendered.html.contains("Tom &amp; &lt;Jerry&gt;") && rendered.html.contains("25.98"))
        }
        #expect(OrderMail.kinds[.paymentPending] == nil && OrderMail.kinds[.delivered] == nil)
        #expect(Set(OrderMail.kinds.values).count == 4)
        let noLines = MailJob(kind: "order.shipped", messageId: "<order.o-1.shipped@carthub>", to: "ada@example.com", name: "",
                              data: .object(["orderId": .string("o-1"), "lines": .array([])]), eventMs: 0)
        #expect(throws: MailError.self) { try MailTemplates.render(noLines, context: MailContext(publicURL: "x")) }
    }

    @Test("a reminder leaves out the books of pending orders")
    func reminderLines() {
        let cart = CartSnapshot(userId: "u-1", version: CartVersion(epoch: 1, version: 3), totalCents: 0, updatedAt: nil, lines: [
            "b1": CartLineState(quantity: 1, unitPriceCents: 100, title: "Zola"),
            "b2": CartLineState(quantity: 2, unitPriceCents: 200, title: "Austen"),
        ])
        #expect(AbandonedCarts.linesToRemind(cart, ordered: []).map(\.bookId) == ["b2", "b1"])
        #expect(AbandonedCarts.linesToRemind(cart, ordered: ["b2", "b9"]).map(\.bookId) == ["b1"])
        #expect(AbandonedCarts.linesToRemind(cart, ordered: ["b1", "b2"]).isEmpty)
    }

    @Test("addresses and MAIL_FROM forms")
    func addresses() {
        #expect(MailAddress.parse("Carthub Books <shop@example.com>")! == ("Carthub Books", "shop@example.com"))
        #expect(MailAddress.parse("shop@example.com")! == ("", "shop@example.com"))
        #expect(MailAddress.parse("not an address") == nil)
        #expect(!MailAddress.isPlausible("a@b>c"))
    }
}
