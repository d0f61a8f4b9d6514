import WebSocketServer

/// The browser client's files (`WebAssets`): `GET`/`HEAD` of `/` and `/assets/…`, each
/// with its type, an ETag (`If-None-Match` answers 304) and `Cache-Control: no-cache`
/// (no build step fingerprints the names, so every use revalidates), and the security
/// headers of every page: a CSP that allows no inline script or style and no framing,
/// `nosniff`, `Referrer-Policy: same-origin`. Not part of the REST API (nor of its
/// OpenAPI document).
extension Hub {
    func serveWeb(_ request: HTTPRequest) {
        let head = request.head
        let headers = webSecurityHeaders
        guard head.method == "GET" || head.method == "HEAD" else {
            return request.respond(.json(405, #"{"error":{"code":"METHOD_NOT_ALLOWED","message":"\#(head.method) is not allowed here; use GET, HEAD"}}"#,
                                         headers: headers + [("cache-control", "no-store"), ("allow", "GET, HEAD")]))
        }
        guard let asset = web.assets[head.path] else {
            return request.respond(.json(404, #"{"error":{"code":"NOT_FOUND","message":"no such file"}}"#, headers: headers + [("cache-control", "no-store")]))
        }
        let common = headers + [("cache-control", "no-cache"), ("etag", asset.etag)]
        if let wanted = head.header("if-none-match"), Self.matches(wanted, asset.etag) {
            return request.respond(HTTPResponse(status: 304, headers: common))
        }
        request.respond(HTTPResponse(status: 200, headers: [("content-type", asset.contentType)] + common, body: asset.body))
    }

    /// `If-None-Match`: `*` or a list of (possibly weak) tags.
    static func matches(_ ifNoneMatch: String, _ etag: String) -> Bool {
        ifNoneMatch.split(separator: ",").contains { candidate in
            let tag = candidate.trimmingSpaces
            return tag == "*" || tag == etag || tag == "W/" + etag
        }
    }

    /// The socket may go to this hub's own origins (ws:// or wss:// for each allowed
    /// http:// or https:// origin); everything else is `'self'` only.
    var webSecurityHeaders: [(String, String)] {
        let sockets = (authenticator?.allowedOrigins ?? []).sorted().compactMap { origin -> String? in
            if origin.hasPrefix("https://") { return "wss://" + origin.dropFirst("https://".count) }
            if origin.hasPrefix("http://") { return "ws://" + origin.dropFirst("http://".count) }
            return nil
        }
        let csp = [
            "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
            "connect-src " + (["'self'"] + sockets).joined(separator: " "),
            "font-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'",
        ].joined(separator: "; ")
        return [
            ("content-security-policy", csp), ("x-content-type-options", "nosniff"), ("referrer-policy", "same-origin"),
            ("x-frame-options", "DENY"), ("cross-origin-opener-policy", "same-origin"),
        ]
    }
}
