import CartDomain
import Diagnostics
import JSON
import Mail
import Persistence
import Postgres
import Redis
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// Orders on the hub, whatever transport asked (socket, REST, webhook, admin). Redis work
/// goes through `lua/stock.lua` on the loop; Postgres work runs on the database thread.
///
/// Create: the same idempotency key returns the same order; otherwise the cart is read,
/// checked against the catalog (a deleted book or a new price changes the cart and stops
/// the checkout with CART_CHANGED), all lines are reserved in one script (which also
/// schedules the expiry), and only then is the order written, in one transaction; if that
/// fails, or another request with the same key won, the reservation is released.
/// A hub that dies between the two leaves a reservation without an order: its expiry
/// job (or the worker's recovery pass) finds no order and releases it.
///
/// Status changes to CONFIRMED, CANCELLED and SHIPPED queue their order mail
/// (`OrderMail`) after the commit, next to the `order.updated` publish; the recipient is
/// read on the database thread. A repeat of the same change (a duplicate webhook, a
/// cancel or PATCH sent again) queues it again under the same Message-ID, which the
/// mail queue sends once. Each change's transaction also records its Redis follow-ups
/// (`order_followups`); the row goes once they all succeeded, and the worker redoes
/// those of a row left behind (this hub died after the commit, or Redis refused them).
final class OrderService {
    let redis: RedisConnection
    let stock: CartScript
    let carts: CartService
    let catalog: CatalogCache
    let database: DatabaseThread
    let configuration: HubConfiguration
    /// The Redis generation the hub serves (nil until known): the stock must be built for it.
    var generation: () -> String? = { nil }

    init(redis: RedisConnection, stock: CartScript, carts: CartService, catalog: CatalogCache, database: DatabaseThread, configuration: HubConfiguration) {
        self.redis = redis
        self.stock = stock
        self.carts = carts
        self.catalog = catalog
        self.database = database
        self.configuration = configuration
    }

    typealias Completion = (Result<Order, CartError>) -> Void

    // MARK: Commands

    /// A socket command; completes with the reply's `data` object.
    func perform(_ command: OrderCommand, userId: String, origin: CartService.Origin, now: Int64, _ completion: @escaping (Result<String, CartError>) -> Void) {
        let wrapped: Completion = { completion($0.map { #"{"order":"# + $0.json + "}" }) }
        switch command {
        case .create(let key): create(userId: userId, idempotencyKey: key, origin: origin, now: now, wrapped)
        case .cancel(let id): cancel(userId: userId, orderId: id, wrapped)
        case .get(let id): get(userId: userId, orderId: id, wrapped)
        case .list(let limit, let cursor): list(userId: userId, status: nil, limit: limit, cursor: cursor) { completion($0.map(\.json)) }
        }
    }

    func create(userId: String, idempotencyKey: String, origin: CartService.Origin, now: Int64, _ completion: @escaping Completion) {
        database.run({ try OrderStore.find($0, userId: userId, idempotencyKey: idempotencyKey) }) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): completion(.failure(Self.unavailable(error)))
            case .success(let existing?): completion(.success(existing))
            case .success(nil): checkOut(userId: userId, idempotencyKey: idempotencyKey, now: now, completion)
            }
        }
    }

    private func checkOut(userId: String, idempotencyKey: String, now: Int64, _ completion: @escaping Completion) {
        guard catalog.isLoaded else { return completion(.failure(CartError(.unavailable, "the catalog is not loaded yet; retry shortly"))) }
        carts.execute(.get, userId: userId, origin: .init(requestId: "", connectionId: nil, via: "order"), now: now) { [weak self] result in
            guard let self else { return }
            let lines: [OrderItem]
            switch result.flatMap(Self.lines) {
            case .failure(let error): return completion(.failure(error))
            case .success(let found): lines = found
            }
            guard !lines.isEmpty else { return completion(.failure(CartError(.cartEmpty, "the cart is empty; add books before ordering"))) }
            var items: [OrderItem] = []
            var changes: [(command: CartCommand, detail: String)] = []
            for line in lines {
                guard let book = catalog.book(line.bookId) else {
                    changes.append((.remove(bookId: line.bookId), #"{"bookId":\#(JSONString.quoted(line.bookId)),"change":"REMOVED","reason":"BOOK_DELETED"}"#))
                    continue
                }
                if book.priceCents != line.unitPriceCents {
                    changes.append((.setQuantity(bookId: line.bookId, quantity: line.quantity),
                                    #"{"bookId":\#(JSONString.quoted(line.bookId)),"change":"REPRICED","oldUnitPriceCents":\#(line.unitPriceCents),"unitPriceCents":\#(book.priceCents)}"#))
                    continue
                }
                items.append(OrderItem(bookId: book.id, title: book.title, unitPriceCents: book.priceCents, quantity: line.quantity))
            }
            if !changes.isEmpty { return applyChanges(changes, userId: userId, now: now, completion) }
            reserve(items, userId: userId, idempotencyKey: idempotencyKey, now: now, completion)
        }
    }

    /// Updates the cart for what the catalog changed (each change reaches the user's
    /// devices as `cart.updated` with via "order"), then stops the checkout.
    private func applyChanges(_ changes: [(command: CartCommand, detail: String)], userId: String, now: Int64, _ completion: @escaping Completion) {
        var left = changes[...]
        func next() {
            guard let change = left.popFirst() else {
                let details = #"{"changes":["# + changes.map(\.detail).joined(separator: ",") + "]}"
                let books = changes.compactMap { $0.command.bookId }.joined(separator: ", ")
                return completion(.failure(CartError(.cartChanged, "the catalog changed (\(books)): your cart was updated; review it and order again", details: details)))
            }
            let origin = CartService.Origin(requestId: "checkout-" + String(UInt64.random(in: 0...UInt64.max), radix: 36), connectionId: nil, via: "order")
            carts.execute(change.command, userId: userId, origin: origin, now: now) { result in
                if case .failure(let error) = result, error.code != .notInCart { return completion(.failure(error)) }
                next()
            }
        }
        next()
    }

    private func reserve(_ items: [OrderItem], userId: String, idempotencyKey: String, now: Int64, _ completion: @escaping Completion) {
        guard let generation = generation() else { return completion(.failure(Self.stockUnbuilt)) }
        let total = items.reduce(0) { $0 + $1.lineTotalCents }
        let order = Order(id: Order.newId(), userId: userId, status: .paymentPending, items: items, totalCents: total, createdAtMs: now, updatedAtMs: now,
                          expiresAtMs: now + Int64(configuration.reservationTTL) * 1000, paymentRef: nil)
        let args = ["reserve", generation] + StockScript.reserveArguments(orderId: order.id, userId: userId, dueMs: order.expiresAtMs, nowMs: now, items: items)
        stock.run(on: redis, keys: StockKeys.scriptKeys, args: args) { [weak self] result in
            guard let self else { return }
            let parts = (try? result.get())?.arrayValue ?? []
            switch parts.first?.stringValue {
            case "ok":
                break
            case "short":
                let book = parts.count > 1 ? parts[1].stringValue ?? "" : ""
                let available = parts.count > 2 ? parts[2].intValue ?? 0 : 0
                return completion(.failure(CartError(.insufficientStock, "only \(max(available, 0)) of \(book) available",
                                                     details: #"{"bookId":\#(JSONString.quoted(book)),"available":\#(max(available, 0))}"#)))
            case "unbuilt":
                return completion(.failure(Self.stockUnbuilt))
            default:
                Log.warning("stock.lua reserve: \(result)")
                return completion(.failure(CartError(.unavailable, "the stock store is unavailable; retry shortly")))
            }
            if configuration.testCrashAfterReserve {
                // Test-only (CARTHUB_TEST_CRASH_AFTER_RESERVE=1): die between the reservation and the order write.
                Log.warning("CARTHUB_TEST_CRASH_AFTER_RESERVE: exiting after reserving \(order.id)")
                _exit(137)
            }
            database.run({ try OrderStore.insert($0, order, idempotencyKey: idempotencyKey) }) { [weak self] result in
                guard let self else { return }
                switch result {
                case .success(let (stored, created)):
                    if created {
                        publish(stored)
                    } else {
                        release(order.id)
                    }
                    completion(.success(stored))
                case .failure(let error):
                    release(order.id)
                    completion(.failure(Self.unavailable(error)))
                }
            }
        }
    }

    func cancel(userId: String, orderId: String, _ completion: @escaping Completion) {
        statusChange(mailing: .cancelled, { try OrderStore.transition($0, id: orderId, userId: userId, from: .paymentPending, to: .cancelled, already: [.cancelled]) }) {
            [weak self] result in self?.changed(result, orderId: orderId, completion)
        }
    }

    func get(userId: String?, orderId: String, _ completion: @escaping Completion) {
        database.run({ try OrderStore.load($0, id: orderId) }) { result in
            switch result {
            case .success(let order?) where userId == nil || order.userId == userId: completion(.success(order))
            case .success: completion(.failure(Self.notFound(orderId)))
            case .failure(let error): completion(.failure(Self.unavailable(error)))
            }
        }
    }

    func list(userId: String?, status: OrderStatus?, limit: Int, cursor: String?, _ completion: @escaping (Result<OrderPage, CartError>) -> Void) {
        database.run({ try OrderStore.list($0, userId: userId, status: status, limit: limit, cursor: cursor) }) { result in
            completion(result.mapError(Self.unavailable))
        }
    }

    /// An administrator's change: CONFIRMED → SHIPPED → DELIVERED, or PAYMENT_PENDING →
    /// CANCELLED (stock released). CONFIRMED and EXPIRED are left to payments and expiry;
    /// everything else is ILLEGAL_TRANSITION. The status the order already has is a no-op.
    func setStatus(orderId: String, to next: OrderStatus, _ completion: @escaping Completion) {
        statusChange(mailing: next, { c -> OrderChange in
            guard let order = try OrderStore.load(c, id: orderId) else { return .notFound }
            guard order.status != next else { return .unchanged(order) }
            guard order.status.canMove(to: next), next != .confirmed, next != .expired else { return .refused(order) }
            return try OrderStore.transition(c, id: orderId, from: order.status, to: next)
        }) { [weak self] result in
            self?.changed(result, orderId: orderId, wanted: next, completion)
        }
    }

    // MARK: Payments

    /// A verified payment notification. `succeeded`: CONFIRMED with books.stock lowered in
    /// the same transaction, then the reservation committed, the ordered quantities taken
    /// out of the cart and the books' new stock announced. `failed`: CANCELLED, released.
    /// Repeats answer the same and change nothing more (the Redis steps are idempotent and
    /// are run again, in case the first call died before them).
    func payment(orderId: String, succeeded: Bool, paymentRef: String, now: Int64, _ completion: @escaping Completion) {
        guard succeeded else {
            statusChange(mailing: .cancelled, { try OrderStore.transition($0, id: orderId, from: .paymentPending, to: .cancelled, already: [.cancelled, .expired], paymentRef: paymentRef) }) {
                [weak self] result in self?.changed(result, orderId: orderId, completion)
            }
            return
        }
        statusChange(mailing: .confirmed, { try OrderStore.confirm($0, id: orderId, paymentRef: paymentRef) }) { [weak self] outcome in
            guard let self else { return }
            let result = outcome.map(\.change)
            switch result {
            case .success(.changed(let order)), .success(.unchanged(let order)):
                if case .success(.changed) = result {
                    let done = followUps(of: order, count: 3)
                    publish(order, done: done)
                    queueMail(of: outcome, done: done)
                    commit(order.id, done: done)
                } else {
                    queueMail(of: outcome)
                    commit(order.id)
                }
                let origin = CartService.Origin(requestId: "pay-" + order.id, connectionId: nil, via: "order")
                carts.execute(.deduct(order.items), userId: order.userId, origin: origin, now: now) { result in
                    if case .failure(let error) = result { Log.warning("order \(order.id): the paid quantities stay in the cart: \(error.message)") }
                }
                for item in order.items { redis.send(CartKeys.catalogChanged(item.bookId)) { _ in } }
                completion(.success(order))
            case .success(.refused(let order)) where order.status == .expired || order.status == .cancelled:
                Log.warning("order \(order.id): payment \(paymentRef) arrived for a \(order.status.rawValue) order; recorded for refund")
                completion(.failure(CartError(.latePayment, "order \(order.id) is \(order.status.rawValue); the payment is refused and recorded for a refund")))
            case .success(.refused(let order)):
                completion(.failure(CartError(.illegalTransition, "order \(order.id) is already paid with another payment reference")))
            case .success(.notFound):
                completion(.failure(Self.notFound(orderId)))
            case .failure(let error):
                completion(.failure(Self.unavailable(error)))
            }
        }
    }

    // MARK: Helpers

    /// A status change as the database thread reports it, with the order mail to queue.
    struct StatusChange: Sendable {
        var change: OrderChange
        /// The mail of the `mailing` status when the order has it now (changed, or already
        /// there); nil when that status is not mailed or the user has no account with an email.
        var mail: MailJob?
        /// The recipient could not be read: the mail is left to the worker's follow-up pass.
        var mailUnread = false
    }

    /// Runs `work` on the database thread, then reads the recipient of the order's mail.
    /// Failing to read it never fails the committed change: the worker mails it later.
    private func statusChange(mailing status: OrderStatus, _ work: @escaping @Sendable (PostgresConnection) throws -> OrderChange,
                              _ completion: @escaping (Result<StatusChange, Error>) -> Void) {
        database.run({ c in
            let change = try work(c)
            switch change {
            case .changed(let order) where order.status == status, .unchanged(let order) where order.status == status:
                do {
                    return StatusChange(change: change, mail: try OrderMail.job(c, order))
                } catch {
                    Log.warning("order \(order.id): its \(order.status.rawValue) mail waits for the worker: cannot read its user: \(error)")
                    return StatusChange(change: change, mail: nil, mailUnread: true)
                }
            default:
                return StatusChange(change: change, mail: nil)
            }
        }, completion: completion)
    }

    /// Finishes a status change: a real one releases the reservation when the order will
    /// not be paid, and is published; it and a repeat queue the order's mail; a refusal
    /// is ILLEGAL_TRANSITION.
    private func changed(_ outcome: Result<StatusChange, Error>, orderId: String, wanted: OrderStatus? = nil, _ completion: Completion) {
        switch outcome.map(\.change) {
        case .success(.changed(let order)):
            let done = followUps(of: order, count: 3)
            queueMail(of: outcome, done: done)
            if order.status == .cancelled || order.status == .expired { release(order.id, done: done) } else { done(true) }
            publish(order, done: done)
            completion(.success(order))
        case .success(.unchanged(let order)):
            queueMail(of: outcome)
            completion(.success(order))
        case .success(.refused(let order)):
            let target = wanted.map { " to \($0.rawValue)" } ?? ""
            completion(.failure(CartError(.illegalTransition, "order \(order.id) is \(order.status.rawValue): it cannot move\(target)",
                                          details: #"{"status":"\#(order.status.rawValue)"}"#)))
        case .success(.notFound):
            completion(.failure(Self.notFound(orderId)))
        case .failure(let error):
            completion(.failure(Self.unavailable(error)))
        }
    }

    /// Counts the Redis follow-ups of a committed change; once `count` have reported and
    /// all succeeded, its `order_followups` row goes. Otherwise the row stays, and the
    /// worker redoes them.
    private func followUps(of order: Order, count: Int) -> (Bool) -> Void {
        var left = count, succeeded = true
        let (id, status) = (order.id, order.status)
        return { [weak self] ok in
            succeeded = succeeded && ok
            left -= 1
            guard left == 0, succeeded, let self else { return }
            database.run({ try OrderStore.followedUp($0, id: id, status: status) }) { result in
                if case .failure(let error) = result { Log.warning("order \(id): the worker will redo its \(status.rawValue) follow-ups: \(error)") }
            }
        }
    }

    /// Gives a reservation back; if Redis does not answer, the worker will.
    private func release(_ orderId: String, done: @escaping (Bool) -> Void = { _ in }) {
        settle("release", orderId, done: done)
    }

    /// Makes a paid order's reservation final.
    private func commit(_ orderId: String, done: @escaping (Bool) -> Void = { _ in }) {
        settle("commit", orderId, done: done)
    }

    private func settle(_ op: String, _ orderId: String, done: @escaping (Bool) -> Void) {
        stock.run(on: redis, keys: StockKeys.scriptKeys, args: [op, "", orderId]) { result in
            if case .failure(let error) = result { Log.warning("order \(orderId): \(op) deferred to the worker: \(error.message)") }
            done(Self.succeeded(result))
        }
    }

    /// `order.updated` to every device of the user, on every hub.
    private func publish(_ order: Order, done: @escaping (Bool) -> Void = { _ in }) {
        redis.send(["PUBLISH", CartKeys.channel(userId: order.userId), order.updatedEvent]) { done(Self.succeeded($0)) }
    }

    /// Puts the change's order mail (if any) on `mail:jobs`. Not taken (Redis down), or
    /// its recipient unread, the worker queues it again from the change's follow-up row.
    private func queueMail(of outcome: Result<StatusChange, Error>, done: @escaping (Bool) -> Void = { _ in }) {
        guard case .success(let change) = outcome, !change.mailUnread else { return done(false) }
        guard let mail = change.mail else { return done(true) }
        redis.send(MailQueue.enqueueCommand(mail)) { result in
            switch result {
            case .success(.string): break
            case .success(let reply): Log.warning("order mail \(mail.messageId) not queued: \(reply)")
            case .failure(let error): Log.warning("order mail \(mail.messageId) not queued: \(error.message)")
            }
            done(Self.succeeded(result))
        }
    }

    private static func succeeded(_ result: Result<RedisValue, RedisError>) -> Bool {
        switch result {
        case .success(.error), .failure: false
        case .success: true
        }
    }

    /// The cart's lines from its snapshot JSON.
    private static func lines(_ cart: String) -> Result<[OrderItem], CartError> {
        guard let items = (try? JSONValue.parse(cart))?["items"]?.arrayValue else { return .failure(CartError(.internal, "unreadable cart")) }
        return .success(items.compactMap { item in
            guard let id = item["bookId"]?.stringValue, let quantity = item["quantity"]?.intValue, let price = item["unitPriceCents"]?.intValue else { return nil }
            return OrderItem(bookId: id, title: item["title"]?.stringValue ?? "", unitPriceCents: price, quantity: quantity)
        })
    }

    static let stockUnbuilt = CartError(.unavailable, "the stock is being rebuilt; retry shortly")

    static func notFound(_ id: String) -> CartError { CartError(.orderNotFound, "no order \(id)") }

    static func unavailable(_ error: Error) -> CartError {
        if let error = error as? CartError { return error }
        Log.warning("order store: \(error)")
        return CartError(.unavailable, "the order store is unavailable; retry shortly")
    }
}
