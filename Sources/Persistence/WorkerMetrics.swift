import CartDomain
import Foundation

/// Counters and histograms the worker adds to the `carthub:metrics` hash; the hubs
/// serve them at /metrics. Buffered and written with the batch's acknowledgements.
struct WorkerMetrics {
    /// Histogram bucket bounds, in milliseconds.
    static let bucketsMs: [Double] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]

    private var counts: [String: Int64] = [:]

    mutating func add(_ name: String, _ n: Int) {
        guard n != 0 else { return }
        counts[name, default: 0] += Int64(n)
    }

    /// Records one observation into histogram `name` (fields `name:le:B`, `name:sum_us`, `name:count`).
    mutating func observe(_ name: String, milliseconds: Double) {
        let bucket = Self.bucketsMs.first { milliseconds <= $0 }.map { Self.label($0) } ?? "+Inf"
        counts["\(name):le:\(bucket)", default: 0] += 1
        counts["\(name):sum_us", default: 0] += Int64(max(0, milliseconds) * 1000)
        counts["\(name):count", default: 0] += 1
    }

    static func label(_ bound: Double) -> String { String(format: "%g", bound) }

    /// HINCRBY commands for everything recorded since the last call.
    mutating func drain() -> [[String]] {
        defer { counts.removeAll(keepingCapacity: true) }
        return counts.map { ["HINCRBY", CartKeys.metrics, $0.key, String($0.value)] }
    }
}
