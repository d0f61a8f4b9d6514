import CartDomain
import Diagnostics
import Redis

/// The persistence pipeline as /metrics shows it: what the workers counted (from
/// the `carthub:metrics` hash) and each shard stream's backlog.
public enum PersistenceMetrics {
    /// Commands that fetch everything `render` needs, in its order.
    public static func queries(shards: Int) -> [[String]] {
        [["HGETALL", CartKeys.metrics]] + (0..<shards).flatMap { shard in
            [["XLEN", CartKeys.outbox(shard: shard)], ["XPENDING", CartKeys.outbox(shard: shard), CartKeys.persistGroup]]
        }
    }

    public static func render(_ replies: [RedisValue], shards: Int, nowMs: Int64, into out: inout PrometheusText) {
        guard replies.count == 1 + 2 * shards else { return }
        var hash: [String: Int64] = [:]
        let flat = replies[0].arrayValue ?? []
        for i in stride(from: 0, to: flat.count - 1, by: 2) {
            if let key = flat[i].stringValue, let value = flat[i + 1].intValue { hash[key] = value }
        }
        var lengths: [(String, String)] = []
        var pending: [(String, String)] = []
        var ages: [(String, String)] = []
        for shard in 0..<shards {
            let label = "shard=\"\(shard)\""
            lengths.append((label, String(replies[1 + 2 * shard].intValue ?? 0)))
            let summary = replies[2 + 2 * shard].arrayValue ?? []
            let count = summary.first?.intValue ?? 0
            pending.append((label, String(count)))
            var age = 0.0
            if count > 0, let oldest = summary[1].stringValue, let ms = Int64(oldest.split(separator: "-").first ?? "") {
                age = max(0, Double(nowMs - ms) / 1000)
            }
            ages.append((label, String(age)))
        }
        out.metric("carthub_stream_length", "gauge", "Entries in each shard's outbox stream.", lengths)
        out.metric("carthub_stream_pending", "gauge", "Entries delivered to a worker and not yet acknowledged, per shard.", pending)
        out.metric("carthub_stream_oldest_pending_age_seconds", "gauge", "Age of the oldest unacknowledged entry, per shard.", ages)
        out.counter("carthub_jobs_applied_total", "Outbox jobs applied to Postgres incrementally.", hash["jobs_applied"] ?? 0)
        out.counter("carthub_jobs_skipped_total", "Outbox jobs skipped as duplicates or covered by a full sync.", hash["jobs_skipped"] ?? 0)
        out.counter("carthub_full_syncs_total", "Carts copied whole from Redis to Postgres (version gaps, dead letters, reconciliation).", hash["full_syncs"] ?? 0)
        out.counter("carthub_jobs_dead_lettered_total", "Outbox jobs parked in dead_letters.", hash["dead_lettered"] ?? 0)
        out.counter("carthub_catalog_books_walked_total", "Catalog changes walked into every cart that holds the book.", hash["catalog_books_walked"] ?? 0)
        out.counter("carthub_catalog_carts_changed_total", "Carts changed by catalog walks (price, title, stock mark or deletion).", hash["catalog_carts_changed"] ?? 0)
        out.histogram("carthub_db_write_seconds", "Time to write one batch to Postgres.", WorkerMetrics.histogram("db_write", from: hash))
        out.histogram("carthub_persistence_lag_seconds", "From a cart change to its Postgres commit.", WorkerMetrics.histogram("lag", from: hash))
    }
}
