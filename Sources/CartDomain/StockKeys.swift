/// Redis keys of stock and reservations. They all carry the hash tag `{stock}`, so one
/// `lua/stock.lua` call reserves several books atomically (one slot).
public enum StockKeys {
    /// Hash: bookId -> units available to reserve.
    public static let available = "stock:{stock}:available"
    /// Set: ids of the orders holding a reservation.
    public static let reservations = "reservations:{stock}"
    /// Prefix of a reservation hash (`reservation:{stock}:<orderId>`): bookId -> quantity,
    /// and `@user`, `@due` (expiry, ms), `@at` (made, ms); `@` is no book-id character.
    public static let reservationPrefix = "reservation:{stock}:"
    public static func reservation(orderId: String) -> String { reservationPrefix + orderId }
    /// Sorted set of delayed jobs (`expire:<orderId>`), scored by their due time (ms).
    public static let delayed = "delayed:{stock}"
    /// Stream of due jobs, read by the `orders` consumer group of the workers.
    public static let jobs = "orderjobs:{stock}"
    public static let jobsGroup = "orders"
    /// Hash: `g` the Redis generation the stock was built for, `adj` the highest
    /// `stock_adjustments` id applied.
    public static let meta = "stockmeta:{stock}"
    /// Taken by the one process that rebuilds (or repairs) the stock from Postgres.
    public static let rebuildLock = "carthub:stock-rebuild-lock"
    /// Taken by the one worker that moves due jobs and applies stock adjustments.
    public static let schedulerLease = "carthub:order-scheduler"

    /// In the order `lua/stock.lua` expects them as KEYS.
    public static let scriptKeys = [available, reservations, delayed, meta, reservationPrefix, jobs]
}
