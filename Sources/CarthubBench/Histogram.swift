/// A latency histogram in microseconds with log-linear buckets (HdrHistogram's
/// layout with 64 sub-buckets per power of two): every value is kept within
/// 1/64 (≈1.6 %) of its true value, exact below 128 µs, in a fixed 4,096-slot
/// array. Recording is O(1) and allocation-free.
struct Histogram {
    private static let subBits = 6
    private static let subCount = 1 << subBits // 64
    private static let slots = 2 * subCount + 62 * subCount

    private(set) var counts: [UInt64]
    private(set) var count: UInt64 = 0
    private(set) var sumMicros: UInt64 = 0
    private(set) var maxMicros: UInt64 = 0
    private(set) var minMicros: UInt64 = .max

    init() { counts = [UInt64](repeating: 0, count: Self.slots) }

    static func index(of value: UInt64) -> Int {
        if value < UInt64(2 * subCount) { return Int(value) }
        let msb = 63 - value.leadingZeroBitCount // ≥ 7
        let shift = msb - subBits
        return 2 * subCount + (shift - 1) * subCount + Int(value >> UInt64(shift)) - subCount
    }

    /// The smallest value that falls into slot `index`, and the slot's width.
    static func bounds(of index: Int) -> (low: UInt64, width: UInt64) {
        if index < 2 * subCount { return (UInt64(index), 1) }
        let shift = (index - 2 * subCount) / subCount + 1
        let sub = (index - 2 * subCount) % subCount + subCount
        return (UInt64(sub) << UInt64(shift), 1 << UInt64(shift))
    }

    mutating func record(micros: UInt64) {
        let i = min(Self.index(of: micros), Self.slots - 1)
        counts[i] &+= 1
        count &+= 1
        sumMicros &+= micros
        if micros > maxMicros { maxMicros = micros }
        if micros < minMicros { minMicros = micros }
    }

    mutating func record(nanos: UInt64) { record(micros: nanos / 1000) }

    mutating func merge(_ other: Histogram) {
        for i in 0..<counts.count where other.counts[i] != 0 { counts[i] &+= other.counts[i] }
        count &+= other.count
        sumMicros &+= other.sumMicros
        maxMicros = max(maxMicros, other.maxMicros)
        minMicros = min(minMicros, other.minMicros)
    }

    mutating func reset() {
        for i in 0..<counts.count { counts[i] = 0 }
        count = 0
        sumMicros = 0
        maxMicros = 0
        minMicros = .max
    }

    /// The value at percentile `p` (0...100) in milliseconds, or nil when empty:
    /// the middle of the slot holding the rank, capped by the largest value seen.
    func percentileMs(_ p: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = max(1, UInt64((p / 100 * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() where c != 0 {
            seen += c
            if seen >= rank {
                let (low, width) = Self.bounds(of: i)
                let mid = Double(low) + Double(width - 1) / 2
                return min(mid, Double(maxMicros)) / 1000
            }
        }
        return Double(maxMicros) / 1000
    }

    var meanMs: Double? { count == 0 ? nil : Double(sumMicros) / Double(count) / 1000 }
    var maxMs: Double? { count == 0 ? nil : Double(maxMicros) / 1000 }
}

/// Percentile of a histogram given as (upper bound ms, count) buckets, the last
/// bound possibly infinite, by linear interpolation inside the bucket that holds
/// the rank (Prometheus' `histogram_quantile`). Returns nil for an empty histogram;
/// a rank in the +Inf bucket answers the highest finite bound.
func bucketPercentile(_ buckets: [(upper: Double, count: Int64)], _ p: Double) -> Double? {
    let total = buckets.reduce(Int64(0)) { $0 + max(0, $1.count) }
    guard total > 0 else { return nil }
    let rank = p / 100 * Double(total)
    var cumulative = 0.0
    var lower = 0.0
    for bucket in buckets {
        let c = Double(max(0, bucket.count))
        if cumulative + c >= rank, c > 0 {
            guard bucket.upper.isFinite else { return lower }
            return lower + (bucket.upper - lower) * (rank - cumulative) / c
        }
        cumulative += c
        if bucket.upper.isFinite { lower = bucket.upper }
    }
    return lower
}
