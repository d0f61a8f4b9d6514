/// One REST endpoint: a method, a path pattern such as `/api/cart/items/{bookId}`,
/// and what serves it. The table of routes is also what the OpenAPI document is
/// checked against.
struct Route: Sendable {
    let method: String
    let pattern: String
    let serve: @Sendable (Hub, APICall) -> Void

    init(_ method: String, _ pattern: String, _ serve: @escaping @Sendable (Hub, APICall) -> Void) {
        self.method = method
        self.pattern = pattern
        self.serve = serve
    }

    /// The path parameters when `segments` (a request path split at `/`) fits the pattern.
    func match(_ segments: [Substring]) -> [String: String]? {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (part, segment) in zip(parts, segments) {
            if part.first == "{" && part.last == "}" {
                guard !segment.isEmpty, let decoded = PercentDecoding.decode(segment) else { return nil }
                parameters[String(part.dropFirst().dropLast())] = decoded
            } else if part != segment {
                return nil
            }
        }
        return parameters
    }
}

/// Finds the route for a method and path, or says why there is none.
struct Router: Sendable {
    let routes: [Route]

    enum Outcome {
        case found(Route, [String: String])
        /// The path exists with other methods (the `Allow` header's list).
        case methodNotAllowed([String])
        case notFound
    }

    func resolve(method: String, path: String) -> Outcome {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var allowed: [String] = []
        for route in routes {
            guard let parameters = route.match(segments) else { continue }
            // HEAD is GET without a body (the server drops it).
            if route.method == method || (method == "HEAD" && route.method == "GET") { return .found(route, parameters) }
            allowed.append(route.method)
        }
        guard !allowed.isEmpty else { return .notFound }
        if allowed.contains("GET") { allowed.append("HEAD") }
        return .methodNotAllowed(allowed + ["OPTIONS"])
    }
}

/// `%XX` escapes of a URL path segment or query component.
enum PercentDecoding {
    /// Nil for a broken escape or bytes that are not UTF-8. `plusIsSpace` for query strings.
    static func decode(_ text: Substring, plusIsSpace: Bool = false) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// `a=1&b=x%20y` as a dictionary; nil when malformed or a name repeats.
    static func query(_ text: String) -> [String: String]? {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0], plusIsSpace: true), !name.isEmpty,
                let value = decode(parts.count > 1 ? parts[1] : "", plusIsSpace: true),
                result.updateValue(value, forKey: name) == nil
            else { return nil }
        }
        return result
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
