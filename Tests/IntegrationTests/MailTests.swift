import CartDomain
import Foundation
import JSON
import Mail
import Postgres
import Redis
import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Abandoned-cart reminders end to end: real hub, real `carthub worker`s, a private
/// Redis and Postgres per test (the scheduler's rows and the mail stream are global),
/// aiosmtpd on loopback, and the worker's clock moved through `CARTHUB_CLOCK_FILE`.
/// Mails are counted by unique Message-ID.
@Suite("Mail: scheduler, abandoned-cart reminders, SMTP delivery", .serialized)
struct MailTests {
    final class MailStack: @unchecked Sendable {
        let stack: PersistenceTests.Stack
        let catalog: TestCatalog
        let hub: HubProcess
        let sink: SMTPSink
        let clockFile: String

        init(sinkRunning: Bool = true) throws {
            stack = try PersistenceTests.Stack()
            catalog = try TestCatalog("mail", stocks: [50, 50, 50], database: stack.postgres.connect())
            hub = try HubProcess(environment: stack.environment)
            sink = try SMTPSink(start: sinkRunning)
            clockFile = NSTemporaryDirectory() + "carthub-clock-\(UUID().uuidString.prefix(8).lowercased())"
            try setClock("0")
        }

        deinit { try? FileManager.default.removeItem(atPath: clockFile) }

        var workerEnvironment: [String: String] {
            stack.environment.merging([
                "SMTP_URL": sink.url, "MAIL_FROM": "Carthub Books <shop@example.com>", "CARTHUB_PUBLIC_URL": "https://books.example.com/",
                "CARTHUB_CLOCK_FILE": clockFile, "CARTHUB_MAIL_RETRY_DELAY": "200ms", "CARTHUB_MAIL_CLAIM_IDLE": "1s",
                "CARTHUB_SMTP_TIMEOUT": "8", "CARTHUB_LEASE_MS": "2000",
            ]) { $1 }
        }

        func worker() throws -> WorkerProcess { try WorkerProcess(environment: workerEnvironment) }

        func setClock(_ content: String) throws { try content.write(toFile: clockFile, atomically: true, encoding: .utf8) }

        /// A registered user (marketing mail on) whose cart holds `lines` (catalog index, quantity), persisted to Postgres.
        func user(_ name: String, lines: [(Int, Int64)]) throws -> (id: String, email: String) {
            let id = "u-" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
            let email = "\(id)@example.com"
            _ = try UserStore.create(stack.postgres.connect(), id: id, email: email, name: name, passwordHash: "unused", role: "customer")
            try change(id, lines: lines)
            return (id, email)
        }

        func change(_ user: String, lines: [(Int, Int64)]) throws {
            let socket = try CartSocket(hub, user: user)
            for (book, quantity) in lines {
                let reply = try socket.call("cart.add", ["bookId": .string(catalog[book].id), "quantity": .int(quantity)])
                #expect(reply.isOK, "\(reply.encoded)")
            }
            try stack.waitForConvergence([user])
        }

        func mails() -> [StoredMail] { sink.messages() }
        func uniqueIds() -> Set<String> { Set(mails().map(\.messageId)) }

        func waitForMails(_ count: Int, within seconds: Double = 30) throws {
            _ = try eventually(within: seconds, "\(count) mail(s) at the SMTP server (have \(mails().count))") { mails().count >= count ? true : nil }
        }

        /// Finished runs of a schedule.
        func finishedRuns(_ schedule: String) throws -> Int {
            try ScheduleStore.recent(stack.postgres.connect(), schedule: schedule, limit: 1000).filter { $0.status == "ok" }.count
        }

        func waitForRuns(_ schedule: String, _ count: Int, within seconds: Double = 20) throws {
            _ = try eventually(within: seconds, "\(count) finished \(schedule) run(s)") { try finishedRuns(schedule) >= count ? true : nil }
        }

        func mailState(_ messageId: String) throws -> (state: String, attempts: Int)? {
            try stack.postgres.connect().query("select state, attempts from mail_sends where message_id = $1", [messageId]).rows.first
                .map { ($0[0] ?? "", Int($0[1] ?? "") ?? 0) }
        }

        func cartVersion(_ user: String) throws -> CartVersion {
            let stored = try CartStore.load(stack.postgres.connect(), userId: user)
            return try #require(stored).version
        }
    }

    @Test("a cart idle 8 days gets exactly one reminder listing its lines; touched and abandoned again, one more")
    func reminderOncePerAbandonment() throws {
        let s = try MailStack()
        let worker = try s.worker()
        let ada = try s.user("Ada <Lovelace> & Co", lines: [(0, 2), (1, 1)])
        try s.waitForRuns("cart-reminders", 1)
        #expect(s.mails().isEmpty, "a cart changed moments ago is not abandoned")

        try s.setClock("+8d")
        try s.waitForMails(1)
        let first = try #require(s.mails().first)
        let version = try s.cartVersion(ada.id)
        #expect(first.messageId == MessageID.cartReminder(userId: ada.id, epoch: version.epoch, version: version.version))
        #expect(first.header("To")?.contains("<\(ada.email)>") == true, "\(first.header("To") ?? "")")
        #expect(first.header("From") == "\"Carthub Books\" <shop@example.com>")
        for name in ["Date", "Subject", "MIME-Version"] { #expect(first.header(name) != nil, "no \(name) header") }
        #expect(first.header("Content-Type")?.hasPrefix("multipart/alternative") == true)
        let text = try #require(first.part("text/plain"), "no text part")
        let html = try #require(first.part("text/html"), "no HTML part")
        for (index, quantity) in [(0, 2), (1, 1)] {
            let book = s.catalog[index]
            let price = MailFormat.money(book.priceCents)
            #expect(text.contains("\(quantity) × \(book.title) — \(price) each"), "text lacks \(book.title):\n\(text)")
            #expect(html.contains(MailFormat.html(book.title)) && html.contains(price), "HTML lacks \(book.title)")
        }
        #expect(text.contains("Total: \(MailFormat.money(2 * s.catalog[0].priceCents + s.catalog[1].priceCents))"))
        #expect(text.contains("https://books.example.com/") && html.contains("href=\"https://books.example.com/\""))
        #expect(html.contains("Ada &lt;Lovelace&gt; &amp; Co") && !html.contains("<Lovelace>"), "the name is not escaped in the HTML")
        #expect(!first.raw.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "a bare LF in the message")

        // The next hourly occurrence: the same abandonment, no new mail.
        let runs = try s.finishedRuns("cart-reminders")
        try s.setClock("+8d1h")
        try s.waitForRuns("cart-reminders", runs + 1)
        usleep(1_500_000)
        #expect(s.mails().count == 1, "a second reminder for the same abandonment")

        // Touched (a new version), then abandoned again: one more, with a new Message-ID.
        try s.change(ada.id, lines: [(2, 1)])
        try s.setClock("+8d2h")
        try s.waitForMails(2)
        usleep(1_500_000)
        #expect(s.mails().count == 2 && s.uniqueIds().count == 2, "\(s.mails().map(\.messageId))")
        let second = try #require(s.mails().last?.part("text/plain"))
        #expect(second.contains(s.catalog[2].title))
        _ = worker
    }

    @Test("a user who opted out with PATCH /api/me gets no reminder; others still do")
    func optedOut() throws {
        let s = try MailStack()
        let worker = try s.worker()
        let out = try s.user("Opted Out", lines: [(0, 1)])
        let stays = try s.user("Stays In", lines: [(1, 1)])
        let rest = REST(s.hub)
        let bad = try rest.call("PATCH", "/api/me", token: Tokens.make(user: out.id), json: ["marketingEmails": "no"])
        #expect(bad.status == 400)
        let unknown = try rest.call("PATCH", "/api/me", token: Tokens.make(user: out.id), json: ["marketingEmails": false, "role": "admin"])
        #expect(unknown.status == 400)
        let answer = try rest.call("PATCH", "/api/me", token: Tokens.make(user: out.id), json: ["marketingEmails": false])
        #expect(answer.status == 200, "\(answer.response.bodyText)")
        #expect(try JSONValue.parse(answer.response.bodyText)["marketingEmails"] == .bool(false))

        try s.waitForRuns("cart-reminders", 1)
        let runs = try s.finishedRuns("cart-reminders")
        try s.setClock("+8d")
        try s.waitForMails(1)
        try s.waitForRuns("cart-reminders", runs + 1)
        usleep(1_500_000)
        let recipients = s.mails().compactMap { $0.header("X-Envelope-To") }
        #expect(recipients == [stays.email], "\(recipients)")
        _ = worker
    }

    @Test("two workers: each reminder is mailed once, each occurrence runs once")
    func twoWorkers() throws {
        let s = try MailStack()
        let workers = [try s.worker(), try s.worker()]
        let users = try (0..<4).map { try s.user("User \($0)", lines: [($0 % 3, 1)]) }
        try s.waitForRuns("cart-reminders", 1)
        try s.setClock("+8d")
        try s.waitForMails(users.count)
        usleep(3_000_000)
        #expect(s.mails().count == users.count, "\(s.mails().map(\.messageId))")
        #expect(s.uniqueIds().count == users.count)
        #expect(try s.finishedRuns("cart-reminders") == 2, "one run at start and one after the clock moved, across both workers")
        _ = workers
    }

    @Test("SMTP server down: the mail is retried, then delivered once when it is back")
    func smtpDown() throws {
        let s = try MailStack(sinkRunning: false)
        let worker = try s.worker()
        let ada = try s.user("Ada", lines: [(0, 1)])
        try s.setClock("+8d")
        let version = try s.cartVersion(ada.id)
        let id = MessageID.cartReminder(userId: ada.id, epoch: version.epoch, version: version.version)
        _ = try eventually(within: 30, "three failed tries of \(id)") { try s.mailState(id).flatMap { $0.attempts >= 3 && $0.state == "failed" ? true : nil } }
        try s.sink.start()
        try s.waitForMails(1)
        _ = try eventually(within: 10, "\(id) recorded as sent") { try s.mailState(id)?.state == "sent" ? true : nil }
        usleep(2_000_000)
        #expect(s.mails().map(\.messageId) == [id])
        _ = worker
    }

    @Test("a worker killed after the server took the mail, before it heard so: at most one repeat, same Message-ID")
    func killedAroundSend() throws {
        let s = try MailStack()
        try s.sink.setDelay(60)
        var first: WorkerProcess? = try s.worker()
        let ada = try s.user("Ada", lines: [(0, 1)])
        try s.setClock("+8d")
        try s.waitForMails(1)
        first?.signal(SIGKILL)
        _ = first?.waitForExit(timeout: 5)
        first = nil
        try s.sink.setDelay(nil)

        let version = try s.cartVersion(ada.id)
        let id = MessageID.cartReminder(userId: ada.id, epoch: version.epoch, version: version.version)
        #expect(try s.mailState(id)?.state == "sending", "the send is recorded before it happens")
        let second = try s.worker()
        _ = try eventually(within: 45, "\(id) sent by the second worker") { try s.mailState(id)?.state == "sent" ? true : nil }
        usleep(2_000_000)
        let ids = s.mails().map(\.messageId)
        #expect((1...2).contains(ids.count), "\(ids)")
        #expect(Set(ids) == [id], "\(ids)")
        _ = second
    }

    @Test("after downtime a missed occurrence runs once, not once per missed period; schedule run and list")
    func missedOccurrences() throws {
        let s = try MailStack()
        var worker: WorkerProcess? = try s.worker()
        try s.waitForRuns("cart-reminders", 1)
        try s.waitForRuns("reconcile", 1)
        worker?.signal(SIGKILL)
        _ = worker?.waitForExit(timeout: 5)
        worker = nil

        try s.setClock("+3d")      // 72 hourly and 3 daily occurrences missed
        worker = try s.worker()
        try s.waitForRuns("cart-reminders", 2)
        try s.waitForRuns("reconcile", 2)
        usleep(2_000_000)
        #expect(try s.finishedRuns("cart-reminders") == 2)
        #expect(try s.finishedRuns("reconcile") == 2)

        let run = try runCLI(["schedule", "run", "cart-reminders"], environment: s.workerEnvironment)
        #expect(run.status == 0 && run.output.contains("cart-reminders: ok"), "\(run.output)")
        let runs = try ScheduleStore.recent(s.stack.postgres.connect(), schedule: "cart-reminders", limit: 10)
        #expect(runs.count == 3 && runs.filter { $0.trigger == "manual" }.count == 1, "\(runs)")

        let list = try runCLI(["schedule", "list"], environment: s.workerEnvironment)
        #expect(list.status == 0)
        for expected in ["reconcile\tdaily 03:00 UTC", "cart-reminders\tevery 1h", "next: ", "ok"] {
            #expect(list.output.contains(expected), "schedule list lacks \(expected):\n\(list.output)")
        }
        _ = worker
    }
}
