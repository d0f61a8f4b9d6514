import CartDomain
import Diagnostics

/// Counters and histograms the worker adds to the `carthub:metrics` hash; the hubs
/// serve them at /metrics. Buffered and written after each batch.
struct WorkerMetrics {
    private var counts: [String: Int64] = [:]

    mutating func add(_ name: String, _ n: Int) {
        guard n != 0 else { return }
        counts[name, default: 0] += Int64(n)
    }

    /// Records one observation into histogram `name` (fields `name:le:B`, `name:sum_us`, `name:count`).
    mutating func observe(_ name: String, milliseconds: Double) {
        counts["\(name):le:\(LatencyBuckets.label(for: milliseconds))", default: 0] += 1
        counts["\(name):sum_us", default: 0] += Int64(max(0, milliseconds) * 1000)
        counts["\(name):count", default: 0] += 1
    }

    /// HINCRBY commands for everything recorded since the last call.
    mutating func drain() -> [[String]] {
        defer { counts.removeAll(keepingCapacity: true) }
        return counts.map { ["HINCRBY", CartKeys.metrics, $0.key, String($0.value)] }
    }

    /// Reads a histogram back from the hash's fields.
    static func histogram(_ name: String, from hash: [String: Int64]) -> LatencyHistogram {
        var buckets: [String: Int64] = [:]
        let prefix = "\(name):le:"
        for (key, value) in hash where key.hasPrefix(prefix) { buckets[String(key.dropFirst(prefix.count))] = value }
        return LatencyHistogram(counts: buckets, sumMicroseconds: hash["\(name):sum_us"] ?? 0, count: hash["\(name):count"] ?? 0)
    }
}
