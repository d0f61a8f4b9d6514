/// Latency buckets shared by every histogram carthub exposes, in milliseconds.
public enum LatencyBuckets {
    public static let milliseconds: [Double] = [0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]

    /// The bucket label of one observation: the first bound it fits under, or "+Inf".
    public static func label(for ms: Double) -> String {
        milliseconds.first { ms <= $0 }.map(format) ?? "+Inf"
    }

    public static func format(_ bound: Double) -> String {
        bound == bound.rounded() ? String(Int(bound)) : String(bound)
    }
}

/// A latency histogram kept as per-bucket counts (not cumulative).
public struct LatencyHistogram: Sendable {
    public private(set) var counts: [String: Int64] = [:]
    public private(set) var sumMicroseconds: Int64 = 0
    public private(set) var count: Int64 = 0

    public init() {}

    public init(counts: [String: Int64], sumMicroseconds: Int64, count: Int64) {
        self.counts = counts
        self.sumMicroseconds = sumMicroseconds
        self.count = count
    }

    public mutating func observe(milliseconds ms: Double) {
        counts[LatencyBuckets.label(for: ms), default: 0] += 1
        sumMicroseconds += Int64(max(0, ms) * 1000)
        count += 1
    }
}

/// Prometheus text exposition (version 0.0.4).
public struct PrometheusText {
    public private(set) var text = ""

    public init() {}

    public mutating func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        for sample in samples {
            text += sample.labels.isEmpty ? "\(name) \(sample.value)\n" : "\(name){\(sample.labels)} \(sample.value)\n"
        }
    }

    public mutating func gauge(_ name: String, _ help: String, _ value: some Numeric) {
        metric(name, "gauge", help, [("", "\(value)")])
    }

    public mutating func counter(_ name: String, _ help: String, _ value: some Numeric) {
        metric(name, "counter", help, [("", "\(value)")])
    }

    /// Seconds-based histogram from millisecond buckets.
    public mutating func histogram(_ name: String, _ help: String, _ h: LatencyHistogram) {
        var samples: [(String, String)] = []
        var cumulative: Int64 = 0
        for bound in LatencyBuckets.milliseconds {
            cumulative += h.counts[LatencyBuckets.format(bound)] ?? 0
            samples.append(("le=\"\(bound / 1000)\"", String(cumulative)))
        }
        samples.append(("le=\"+Inf\"", String(h.count)))
        text += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        for (labels, value) in samples { text += "\(name)_bucket{\(labels)} \(value)\n" }
        text += "\(name)_sum \(Double(h.sumMicroseconds) / 1_000_000)\n\(name)_count \(h.count)\n"
    }
}
