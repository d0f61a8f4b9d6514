import CartDomain
import Postgres

/// The `carts` and `cart_items` tables: Postgres's durable copy of the Redis carts.
/// Every write is guarded by (epoch, version), so a stale writer can never go back in time.
public enum CartStore {
    /// Stored versions of these carts, locked until the transaction ends so the
    /// decisions made on them hold.
    public static func lockVersions(_ c: PostgresConnection, userIds: some Collection<String>) throws -> [String: CartVersion] {
        try versions(c, userIds: userIds, lock: true)
    }

    /// Stored versions of these carts, unlocked.
    public static func versions(_ c: PostgresConnection, userIds: some Collection<String>, lock: Bool = false) throws -> [String: CartVersion] {
        guard !userIds.isEmpty else { return [:] }
        let rows = try c.prepared(
            "select user_id, epoch, version from carts where user_id = any($1::text[]) order by user_id" + (lock ? " for update" : ""),
            [PostgresArray.literal(userIds)])
        var versions: [String: CartVersion] = [:]
        for row in rows.rows {
            guard let user = row[0], let epoch = row[1].flatMap({ Int64($0) }), let version = row[2].flatMap({ Int64($0) }) else {
                throw StorageError("unreadable carts row \(row)")
            }
            versions[user] = CartVersion(epoch: epoch, version: version)
        }
        return versions
    }

    /// Writes planned change sets with a handful of set-based statements, whatever their number.
    public static func apply(_ c: PostgresConnection, _ changes: [CartChangeSet]) throws {
        guard !changes.isEmpty else { return }
        try upsertHeaders(c, changes.map { ($0.userId, $0.version, $0.totalCents, Timestamp.iso8601(milliseconds: $0.updatedAtMs)) })
        let cleared = changes.filter(\.clearFirst).map(\.userId)
        if !cleared.isEmpty {
            try c.prepared("delete from cart_items where user_id = any($1::text[])", [PostgresArray.literal(cleared)])
        }
        let removes = changes.flatMap { change in change.removes.map { (change.userId, $0) } }
        if !removes.isEmpty {
            try c.prepared(
                "delete from cart_items i using unnest($1::text[], $2::text[]) as r(user_id, book_id) where i.user_id = r.user_id and i.book_id = r.book_id",
                [PostgresArray.literal(removes.map(\.0)), PostgresArray.literal(removes.map(\.1))])
        }
        try upsertLines(c, changes.flatMap { change in change.puts.map { (change.userId, $0.key, $0.value) } })
    }

    /// Replaces a cart with a Redis snapshot unless Postgres already holds that
    /// version or a newer one. True when it wrote.
    @discardableResult
    public static func replace(_ c: PostgresConnection, with snapshot: CartSnapshot) throws -> Bool {
        let written = try upsertHeaders(c, [(snapshot.userId, snapshot.version, snapshot.totalCents, snapshot.updatedAt ?? Timestamp.iso8601(milliseconds: 0))])
        guard written > 0 else { return false }
        try c.query("delete from cart_items where user_id = $1", [snapshot.userId])
        try upsertLines(c, snapshot.lines.map { (snapshot.userId, $0.key, $0.value) })
        return true
    }

    /// True when Postgres holds no cart at all (a fresh deployment).
    public static func isEmpty(_ c: PostgresConnection) throws -> Bool {
        try c.query("select not exists (select 1 from carts)").rows.first?.first == "t"
    }

    /// The stored cart, or nil if Postgres never saw it.
    public static func load(_ c: PostgresConnection, userId: String) throws -> CartSnapshot? {
        let header = try c.query(
            "select epoch, version, total_cents, to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') from carts where user_id = $1",
            [userId])
        guard let row = header.rows.first else { return nil }
        guard let epoch = row[0].flatMap({ Int64($0) }), let version = row[1].flatMap({ Int64($0) }), let total = row[2].flatMap({ Int64($0) }) else {
            throw StorageError("unreadable carts row for \(userId)")
        }
        var lines: [String: CartLineState] = [:]
        for item in try c.query("select book_id, quantity, unit_price_cents, title from cart_items where user_id = $1", [userId]).rows {
            guard let book = item[0], let quantity = item[1].flatMap({ Int64($0) }), let price = item[2].flatMap({ Int64($0) }), let title = item[3] else {
                throw StorageError("unreadable cart_items row for \(userId)")
            }
            lines[book] = CartLineState(quantity: quantity, unitPriceCents: price, title: title)
        }
        return CartSnapshot(userId: userId, version: CartVersion(epoch: epoch, version: version), totalCents: total, updatedAt: row[3], lines: lines)
    }

    /// Inserts or advances cart headers; a row already at or past the given version is left alone.
    @discardableResult
    private static func upsertHeaders(_ c: PostgresConnection, _ rows: [(String, CartVersion, Int64, String)]) throws -> Int {
        try c.prepared("""
            insert into carts (user_id, epoch, version, total_cents, updated_at)
            select * from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::timestamptz[])
            on conflict (user_id) do update set
                epoch = excluded.epoch, version = excluded.version,
                total_cents = excluded.total_cents, updated_at = excluded.updated_at
            where (carts.epoch, carts.version) < (excluded.epoch, excluded.version)
            """,
            [PostgresArray.literal(rows.map(\.0)), PostgresArray.literal(rows.map(\.1.epoch)), PostgresArray.literal(rows.map(\.1.version)),
             PostgresArray.literal(rows.map(\.2)), PostgresArray.literal(rows.map(\.3))]).affectedRows
    }

    private static func upsertLines(_ c: PostgresConnection, _ lines: [(String, String, CartLineState)]) throws {
        guard !lines.isEmpty else { return }
        try c.prepared("""
            insert into cart_items (user_id, book_id, quantity, unit_price_cents, title)
            select * from unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::text[])
            on conflict (user_id, book_id) do update set
                quantity = excluded.quantity, unit_price_cents = excluded.unit_price_cents, title = excluded.title
            """,
            [PostgresArray.literal(lines.map(\.0)), PostgresArray.literal(lines.map(\.1)), PostgresArray.literal(lines.map(\.2.quantity)),
             PostgresArray.literal(lines.map(\.2.unitPriceCents)), PostgresArray.literal(lines.map(\.2.title))])
    }
}

/// The `redis_generations` table.
public enum GenerationStore {
    /// Records a new Redis generation and returns its number.
    public static func next(_ c: PostgresConnection, fresh: Bool) throws -> Int64 {
        guard let id = try c.query("insert into redis_generations (fresh) values ($1) returning id", [fresh ? "true" : "false"]).rows.first?.first.flatMap({ $0 }).flatMap({ Int64($0) }) else {
            throw StorageError("could not record a new Redis generation")
        }
        return id
    }
}
