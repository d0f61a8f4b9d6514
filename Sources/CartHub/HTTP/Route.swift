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

    /// The path parameters when `segments` (a request path split at `/`, already
    /// percent-decoded by lws) fits the pattern.
    func match(_ segments: [Substring]) -> [String: String]? {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (part, segment) in zip(parts, segments) {
            if part.first == "{" && part.last == "}" {
                guard !segment.isEmpty else { return nil }
                parameters[String(part.dropFirst().dropLast())] = String(segment)
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
