import CartDomain
import Postgres

/// What a payment or a status change did to an order.
public enum OrderChange: Sendable, Equatable {
    /// The status moved now: publish it, then act on Redis.
    case changed(Order)
    /// Nothing to do: the order already is where the call wanted it (a duplicate).
    case unchanged(Order)
    /// The order's status does not allow this (409).
    case refused(Order)
    case notFound
}

/// A reservation Postgres says must exist: a PAYMENT_PENDING order's lines.
public struct PendingOrder: Sendable, Equatable {
    public var orderId: String
    public var userId: String
    public var expiresAtMs: Int64
    public var items: [(bookId: String, quantity: Int64)]

    public static func == (a: PendingOrder, b: PendingOrder) -> Bool {
        a.orderId == b.orderId && a.userId == b.userId && a.expiresAtMs == b.expiresAtMs
            && a.items.map(\.bookId) == b.items.map(\.bookId) && a.items.map(\.quantity) == b.items.map(\.quantity)
    }
}

/// The `orders`, `order_items`, `late_payments` and `stock_adjustments` tables.
/// Every status change is a conditional update on the status it leaves, so two
/// racing causes (a webhook and the expiry, two workers) end in exactly one winner.
public enum OrderStore {
    static let columns = """
        o.id, o.user_id, o.status, o.total_cents, o.payment_ref, (extract(epoch from o.created_at) * 1000)::bigint,
        (extract(epoch from o.updated_at) * 1000)::bigint, (extract(epoch from o.expires_at) * 1000)::bigint,
        (extract(epoch from o.created_at) * 1000000)::bigint
        """

    // MARK: Reads

    public static func load(_ c: PostgresConnection, id: String) throws -> Order? {
        try orders(c, "select \(columns) from orders o where o.id = $1", [id]).first?.order
    }

    /// The order a user made with this idempotency key, if any.
    public static func find(_ c: PostgresConnection, userId: String, idempotencyKey: String) throws -> Order? {
        try orders(c, "select \(columns) from orders o where o.user_id = $1 and o.idempotency_key = $2", [userId, idempotencyKey]).first?.order
    }

    /// Newest first; `userId` nil lists everyone's (admin), `status` nil every status.
    public static func list(_ c: PostgresConnection, userId: String?, status: OrderStatus?, limit: Int, cursor: String?) throws -> OrderPage {
        var conditions: [String] = []
        var params: [String?] = []
        if let userId {
            params.append(userId)
            conditions.append("o.user_id = $\(params.count)")
        }
        if let status {
            params.append(status.rawValue)
            conditions.append("o.status = $\(params.count)")
        }
        if let cursor, let (micros, id) = OrderPage.parseCursor(cursor) {
            params += [String(micros), id]
            conditions.append("(o.created_at, o.id) < (timestamptz 'epoch' + $\(params.count - 1)::bigint * interval '1 microsecond', $\(params.count))")
        }
        params.append(String(limit + 1))
        let filter = conditions.isEmpty ? "" : "where " + conditions.joined(separator: " and ")
        var found = try orders(c, "select \(columns) from orders o \(filter) order by o.created_at desc, o.id desc limit $\(params.count)::int", params)
        let more = found.count > limit
        if more { found.removeLast() }
        let next = more ? found.last.map { OrderPage.cursor(createdAtMicros: $0.createdMicros, id: $0.order.id) } : nil
        return OrderPage(orders: found.map(\.order), nextCursor: next)
    }

    // MARK: Create

    /// Writes a new PAYMENT_PENDING order and its items in one transaction. When the
    /// user already has an order with this key (a race of two retries), writes nothing
    /// and returns that one with `created` false.
    public static func insert(_ c: PostgresConnection, _ order: Order, idempotencyKey: String) throws -> (order: Order, created: Bool) {
        try c.transaction { c in
            let inserted = try c.query("""
                insert into orders (id, user_id, idempotency_key, status, total_cents, expires_at)
                values ($1, $2, $3, 'PAYMENT_PENDING', $4::bigint, timestamptz 'epoch' + $5::bigint * interval '1 millisecond')
                on conflict (user_id, idempotency_key) do nothing returning id
                """, [order.id, order.userId, idempotencyKey, String(order.totalCents), String(order.expiresAtMs)])
            guard inserted.count == 1 else {
                guard let existing = try find(c, userId: order.userId, idempotencyKey: idempotencyKey) else {
                    throw StorageError("order key \(idempotencyKey) conflicted but no order holds it")
                }
                return (existing, false)
            }
            try c.query("""
                insert into order_items (order_id, book_id, title, unit_price_cents, quantity)
                select $1, * from unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[])
                """, [order.id, PostgresArray.literal(order.items.map(\.bookId)), PostgresArray.literal(order.items.map(\.title)),
                      PostgresArray.literal(order.items.map(\.unitPriceCents)), PostgresArray.literal(order.items.map(\.quantity))])
            guard let stored = try load(c, id: order.id) else { throw StorageError("order \(order.id) vanished after insert") }
            return (stored, true)
        }
    }

    // MARK: Status changes

    /// Moves the order from `from` to `to` when it is in `from` (and belongs to `userId`
    /// when given). `already` statuses count as done (a retry); anything else is refused.
    public static func transition(_ c: PostgresConnection, id: String, userId: String? = nil, from: OrderStatus, to: OrderStatus,
                                  already: Set<OrderStatus> = [], paymentRef: String? = nil) throws -> OrderChange {
        try c.transaction { c in
            guard let order = try lock(c, id: id), userId == nil || order.userId == userId else { return .notFound }
            guard order.status == from else { return already.contains(order.status) ? .unchanged(order) : .refused(order) }
            try c.query("update orders set status = $2, updated_at = now(), payment_ref = coalesce($3, payment_ref) where id = $1",
                        [id, to.rawValue, paymentRef])
            try recordFollowUp(c, id: id, status: to)
            return .changed(try load(c, id: id)!)
        }
    }

    /// A successful payment: PAYMENT_PENDING → CONFIRMED and `books.stock` minus each
    /// item's quantity, in one transaction. The same payment again is `unchanged`; a
    /// success for an EXPIRED or CANCELLED order is refused and kept in `late_payments`
    /// for a refund (once per payment reference).
    public static func confirm(_ c: PostgresConnection, id: String, paymentRef: String) throws -> OrderChange {
        try c.transaction { c in
            guard let order = try lock(c, id: id) else { return .notFound }
            switch order.status {
            case .paymentPending:
                try c.query("update orders set status = 'CONFIRMED', payment_ref = $2, updated_at = now() where id = $1", [id, paymentRef])
                try c.query("""
                    update books b set stock = b.stock - i.quantity, updated_at = now()
                    from order_items i where i.order_id = $1 and b.id = i.book_id
                    """, [id])
                try recordFollowUp(c, id: id, status: .confirmed)
                return .changed(try load(c, id: id)!)
            case .confirmed, .shipped, .delivered:
                return order.paymentRef == paymentRef ? .unchanged(order) : .refused(order)
            case .expired, .cancelled:
                try c.query("""
                    insert into late_payments (order_id, payment_ref, status_at_arrival) values ($1, $2, $3)
                    on conflict (order_id, payment_ref) do nothing
                    """, [id, paymentRef, order.status.rawValue])
                return .refused(order)
            }
        }
    }

    // MARK: Follow-ups

    /// Every status change records, in its transaction, that its Redis follow-ups are due.
    private static func recordFollowUp(_ c: PostgresConnection, id: String, status: OrderStatus) throws {
        try c.query("insert into order_followups (order_id, status) values ($1, $2) on conflict do nothing", [id, status.rawValue])
    }

    /// The follow-ups of the order's change to `status` are done.
    public static func followedUp(_ c: PostgresConnection, id: String, status: OrderStatus) throws {
        try c.query("delete from order_followups where order_id = $1 and status = $2", [id, status.rawValue])
    }

    /// Follow-ups recorded at least `olderThanSeconds` ago and not done yet, oldest first.
    public static func pendingFollowUps(_ c: PostgresConnection, olderThanSeconds: Int, limit: Int) throws -> [(orderId: String, status: OrderStatus)] {
        try c.query("""
            select order_id, status from order_followups where created_at <= now() - make_interval(secs => $1::int)
            order by created_at limit $2::int
            """, [String(olderThanSeconds), String(limit)]).rows.map {
            guard let id = $0[0], let status = $0[1].flatMap(OrderStatus.init(rawValue:)) else { throw StorageError("unreadable order_followups row \($0)") }
            return (id, status)
        }
    }

    /// Late payments waiting for a refund, oldest first: (order id, payment reference, status then).
    public static func latePayments(_ c: PostgresConnection) throws -> [(orderId: String, paymentRef: String, status: String)] {
        try c.query("select order_id, payment_ref, status_at_arrival from late_payments where refunded_at is null order by id").rows.map {
            ($0[0] ?? "", $0[1] ?? "", $0[2] ?? "")
        }
    }

    // MARK: Stock truth

    /// Every PAYMENT_PENDING order with its lines: the reservations Redis must hold.
    public static func pending(_ c: PostgresConnection) throws -> [PendingOrder] {
        let rows = try c.query("""
            select o.id, o.user_id, (extract(epoch from o.expires_at) * 1000)::bigint, i.book_id, i.quantity
            from orders o join order_items i on i.order_id = o.id where o.status = 'PAYMENT_PENDING' order by o.id, i.book_id
            """).rows
        var result: [PendingOrder] = []
        for row in rows {
            guard let id = row[0], let user = row[1], let due = row[2].flatMap({ Int64($0) }), let book = row[3],
                  let quantity = row[4].flatMap({ Int64($0) }) else { throw StorageError("unreadable pending order row \(row)") }
            if result.last?.orderId != id { result.append(PendingOrder(orderId: id, userId: user, expiresAtMs: due, items: [])) }
            result[result.count - 1].items.append((book, quantity))
        }
        return result
    }

    /// The books in a user's PAYMENT_PENDING orders (lines that became an order not yet paid).
    public static func pendingBooks(_ c: PostgresConnection, userId: String) throws -> Set<String> {
        Set(try c.query("""
            select distinct i.book_id from orders o join order_items i on i.order_id = o.id
            where o.user_id = $1 and o.status = 'PAYMENT_PENDING'
            """, [userId]).rows.compactMap { $0[0] })
    }

    /// `books.stock` of every book, deleted ones included (their reservations still count).
    public static func stock(_ c: PostgresConnection) throws -> [String: Int64] {
        var stock: [String: Int64] = [:]
        for row in try c.query("select id, stock from books").rows {
            guard let id = row[0], let units = row[1].flatMap({ Int64($0) }) else { throw StorageError("unreadable books row \(row)") }
            stock[id] = units
        }
        return stock
    }

    /// Stock adjustments after `id`, oldest first.
    public static func adjustments(_ c: PostgresConnection, after id: Int64, limit: Int) throws -> [(id: Int64, bookId: String, delta: Int64)] {
        try c.query("select id, book_id, delta from stock_adjustments where id > $1::bigint order by id limit $2::int", [String(id), String(limit)]).rows.map {
            guard let id = $0[0].flatMap({ Int64($0) }), let book = $0[1], let delta = $0[2].flatMap({ Int64($0) }) else {
                throw StorageError("unreadable stock_adjustments row \($0)")
            }
            return (id, book, delta)
        }
    }

    public static func lastAdjustment(_ c: PostgresConnection) throws -> Int64 {
        try c.query("select coalesce(max(id), 0) from stock_adjustments").rows.first?.first.flatMap { $0 }.flatMap { Int64($0) } ?? 0
    }

    /// The status of each of these orders that exists.
    public static func statuses(_ c: PostgresConnection, ids: [String]) throws -> [String: OrderStatus] {
        guard !ids.isEmpty else { return [:] }
        var found: [String: OrderStatus] = [:]
        for row in try c.query("select id, status from orders where id = any($1::text[])", [PostgresArray.literal(ids)]).rows {
            if let id = row[0], let status = row[1].flatMap(OrderStatus.init(rawValue:)) { found[id] = status }
        }
        return found
    }

    // MARK: Helpers

    private static func lock(_ c: PostgresConnection, id: String) throws -> Order? {
        try orders(c, "select \(columns) from orders o where o.id = $1 for update", [id]).first?.order
    }

    /// Rows of `columns`, with their items.
    private static func orders(_ c: PostgresConnection, _ sql: String, _ params: [String?]) throws -> [(order: Order, createdMicros: Int64)] {
        var found: [(order: Order, createdMicros: Int64)] = []
        for row in try c.query(sql, params).rows {
            guard row.count == 9, let id = row[0], let user = row[1], let status = row[2].flatMap(OrderStatus.init(rawValue:)),
                  let total = row[3].flatMap({ Int64($0) }), let created = row[5].flatMap({ Int64($0) }),
                  let updated = row[6].flatMap({ Int64($0) }), let expires = row[7].flatMap({ Int64($0) }), let micros = row[8].flatMap({ Int64($0) })
            else { throw StorageError("unreadable orders row \(row)") }
            found.append((Order(id: id, userId: user, status: status, items: [], totalCents: total, createdAtMs: created, updatedAtMs: updated,
                                expiresAtMs: expires, paymentRef: row[4]), micros))
        }
        guard !found.isEmpty else { return [] }
        let index = Dictionary(uniqueKeysWithValues: found.enumerated().map { ($0.element.order.id, $0.offset) })
        let items = try c.query("""
            select order_id, book_id, title, unit_price_cents, quantity from order_items where order_id = any($1::text[]) order by order_id, book_id
            """, [PostgresArray.literal(found.map(\.order.id))]).rows
        for row in items {
            guard let id = row[0], let i = index[id], let book = row[1], let title = row[2], let price = row[3].flatMap({ Int64($0) }),
                  let quantity = row[4].flatMap({ Int64($0) }) else { throw StorageError("unreadable order_items row \(row)") }
            found[i].order.items.append(OrderItem(bookId: book, title: title, unitPriceCents: price, quantity: quantity))
        }
        return found
    }
}
