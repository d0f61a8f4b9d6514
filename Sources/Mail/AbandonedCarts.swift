import CartDomain
import Diagnostics
import Postgres
import Redis
import Storage

/// The abandoned-cart reminder scan (schedule `cart-reminders`): carts Postgres last saw
/// change at least `abandonedAfterMs` before `nowMs`, of users with an email and marketing
/// mail on, not reminded at their current (epoch, version), get one `cart.reminder` each,
/// listing the lines that are not in one of the user's PAYMENT_PENDING orders.
///
/// The reminder's `cart_reminders` row and its queue entry are written together: the row
/// in a transaction that commits only after the XADD succeeded. (If the commit then
/// fails, the next run enqueues the same Message-ID again, which the queue sends once.)
public enum AbandonedCarts {
    public struct Report: Sendable, Equatable, CustomStringConvertible {
        public var candidates = 0
        public var queued = 0
        /// Redis holds a newer version than Postgres: changed since, not abandoned.
        public var changedSince = 0
        public var description: String { "\(candidates) abandoned carts, \(queued) reminders queued, \(changedSince) changed since" }
    }

    public static func run(redis: BlockingRedisConnection, postgres: PostgresConnection, shards: Int, nowMs: Int64, abandonedAfterMs: Int64, batch: Int = 200) throws -> Report {
        var report = Report()
        var after = ""
        while true {
            let carts = try ReminderStore.abandonedCarts(postgres, cutoffMs: nowMs - abandonedAfterMs, afterUser: after, limit: batch)
            guard let last = carts.last else { break }
            after = last.userId
            report.candidates += carts.count
            let metas = try redis.pipeline(carts.map { ["HMGET", CartKeys(userId: $0.userId, shards: shards).meta, "e", "v"] })
            for (cart, meta) in zip(carts, metas) {
                // A cart missing from Redis (data loss) is as Postgres has it; one Redis has at
                // another version changed after Postgres saw it.
                if let parts = meta.arrayValue, parts.count == 2, let e = parts[0].intValue, let v = parts[1].intValue,
                   (e, v) != (cart.epoch, cart.version) {
                    report.changedSince += 1
                    continue
                }
                if try remind(cart, redis: redis, postgres: postgres, nowMs: nowMs) { report.queued += 1 }
            }
            if carts.count < batch { break }
        }
        if report.queued > 0 { Log.info("cart-reminders: \(report)") }
        return report
    }

    private static func remind(_ cart: AbandonedCart, redis: BlockingRedisConnection, postgres: PostgresConnection, nowMs: Int64) throws -> Bool {
        guard let stored = try CartStore.load(postgres, userId: cart.userId),
              stored.version == CartVersion(epoch: cart.epoch, version: cart.version) else { return false }
        let lines = linesToRemind(stored, ordered: try OrderStore.pendingBooks(postgres, userId: cart.userId))
        guard !lines.isEmpty else { return false }
        let messageId = MessageID.cartReminder(userId: cart.userId, epoch: cart.epoch, version: cart.version)
        let job = MailJob(kind: CartReminder.kind, messageId: messageId, to: cart.email, name: cart.name,
                          data: CartReminder.data(lines: lines, totalCents: lines.reduce(0) { $0 + $1.quantity * $1.unitPriceCents }),
                          eventMs: nowMs)
        return try postgres.transaction { c -> Bool in
            guard try ReminderStore.record(c, userId: cart.userId, epoch: cart.epoch, version: cart.version, messageId: messageId) else { return false }
            try MailQueue.enqueue(redis, job)
            return true
        }
    }

    /// The lines a reminder lists, by title: never those that became an order. A paid
    /// order's quantities leave the cart; the books of the user's PAYMENT_PENDING orders
    /// (`ordered`) are left out here. With nothing left, there is no reminder (and none
    /// is recorded: if the order expires or is cancelled, the cart may be reminded then).
    static func linesToRemind(_ cart: CartSnapshot, ordered: Set<String>) -> [OrderItem] {
        cart.lines.filter { !ordered.contains($0.key) }
            .map { OrderItem(bookId: $0.key, title: $0.value.title, unitPriceCents: $0.value.unitPriceCents, quantity: $0.value.quantity) }
            .sorted { ($0.title, $0.bookId) < ($1.title, $1.bookId) }
    }
}
