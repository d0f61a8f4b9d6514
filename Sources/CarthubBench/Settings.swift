/// The cart commands the bench sends.
enum Op: Int, CaseIterable {
    case get, add, setQuantity, remove, clear

    var name: String {
        switch self {
        case .get: "get"
        case .add: "add"
        case .setQuantity: "setQuantity"
        case .remove: "remove"
        case .clear: "clear"
        }
    }

    var wireType: StaticString {
        switch self {
        case .get: "cart.get"
        case .add: "cart.add"
        case .setQuantity: "cart.setQuantity"
        case .remove: "cart.remove"
        case .clear: "cart.clear"
        }
    }

    var mutates: Bool { self != .get }

    init?(name: String) {
        guard let op = Op.allCases.first(where: { $0.name.lowercased() == name.lowercased() || "cart.\($0.name)".lowercased() == name.lowercased() }) else { return nil }
        self = op
    }
}

enum Mode: Equatable {
    case open(rate: Double)
    case closed(inFlight: Int)
    case idle

    var name: String {
        switch self {
        case .open: "open"
        case .closed: "closed"
        case .idle: "idle"
        }
    }
}

/// Everything one run is told (validated).
struct Settings {
    var urls: [String] = []
    var users = 500
    var devices = 2
    var secret = ""
    var userPrefix = ""
    var mix: [(op: Op, weight: Int)] = []
    var books: [String] = []
    /// Stock per book when a catalog file was given (commands stay under it).
    var stock: [String: Int] = [:]
    var cartLines = 5
    var maxQuantity = 99
    var mode = Mode.open(rate: 1000)
    var duration = 10.0
    var warmup = 2.0
    var persistence = false
    var redisURL: String?
    var hubPids: [Int32] = []
    var watch: [(name: String, pid: Int32)] = []
    var json = false
    var connectConcurrency = 200
    var connectTimeout = 120.0
    var drain = 5.0
    var persistenceDrain = 30.0
    var settle = 2.0
    var seed: UInt64 = 1
    var label: String?
    var progress = true

    var sockets: Int { users * devices }

    static func parseMix(_ text: String) throws -> [(op: Op, weight: Int)] {
        var out: [(op: Op, weight: Int)] = []
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let op = Op(name: String(kv[0]).trimmingSet(" ")), let w = Int(String(kv[1]).trimmingSet(" ")), w >= 0 else {
                throw UsageError("--mix wants op=weight pairs of get, add, setQuantity, remove, clear (got \(part))")
            }
            out.append((op, w))
        }
        guard out.contains(where: { $0.weight > 0 }) else { throw UsageError("--mix has no positive weight") }
        return out
    }

    /// `bk-0001..bk-0050` (a zero-padded numeric range) or a comma list.
    static func parseBooks(_ text: String) throws -> [String] {
        if let dots = text.range(of: "..") {
            let first = String(text[..<dots.lowerBound]), last = String(text[dots.upperBound...])
            func split(_ s: String) -> (prefix: String, digits: String)? {
                let digits = String(s.reversed().prefix { $0.isNumber }.reversed())
                guard !digits.isEmpty else { return nil }
                return (String(s.dropLast(digits.count)), digits)
            }
            guard let a = split(first), let b = split(last), a.prefix == b.prefix, let lo = Int(a.digits), let hi = Int(b.digits), lo <= hi else {
                throw UsageError("--books range must look like bk-0001..bk-0050 (got \(text))")
            }
            let width = a.digits.count
            return (lo...hi).map { n in
                let s = String(n)
                return a.prefix + String(repeating: "0", count: max(0, width - s.count)) + s
            }
        }
        let list = text.split(separator: ",").map { String($0).trimmingSet(" ") }.filter { !$0.isEmpty }
        guard !list.isEmpty else { throw UsageError("--books is empty") }
        return list
    }
}

extension StringProtocol {
    func trimmingSet(_ set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }

    func range(of needle: String) -> Range<Index>? {
        let hay = Array(self.indices)
        let n = Array(needle)
        guard !n.isEmpty, hay.count >= n.count else { return nil }
        for start in 0...(hay.count - n.count) {
            var match = true
            for j in 0..<n.count where self[hay[start + j]] != n[j] { match = false; break }
            if match {
                let lower = hay[start]
                let upper = start + n.count < hay.count ? hay[start + n.count] : endIndex
                return lower..<upper
            }
        }
        return nil
    }
}
