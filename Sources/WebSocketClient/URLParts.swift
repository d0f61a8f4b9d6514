/// The pieces of a `ws://` or `http://` URL that a plain TCP client needs.
struct URLParts: Equatable {
    var host: String
    var port: Int
    /// Path plus query, as sent in the request line; never empty.
    var target: String
    static let defaultPort = 80

    /// The Host header value: the port is omitted when it is the default.
    var hostHeader: String { port == Self.defaultPort ? host : "\(host):\(port)" }

    init(_ string: String, scheme expected: String) throws {
        guard let schemeEnd = string.firstRange(of: "://") else { throw WebSocketClientError.invalidURL(string) }
        guard string[..<schemeEnd.lowerBound].lowercased() == expected else {
            throw WebSocketClientError.invalidURL("\(string) (only \(expected):// is supported)")
        }
        var rest = string[schemeEnd.upperBound...]
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }

        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let target = rest[authorityEnd...]
        self.target = target.isEmpty ? "/" : target.first == "?" ? "/" + target : String(target)

        guard !authority.contains("@"), !authority.contains("[") else { throw WebSocketClientError.invalidURL(string) }
        if let colon = authority.firstIndex(of: ":") {
            host = String(authority[..<colon])
            guard let port = Int(authority[authority.index(after: colon)...]), (1...65535).contains(port) else {
                throw WebSocketClientError.invalidURL(string)
            }
            self.port = port
        } else {
            host = String(authority)
            port = Self.defaultPort
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else {
            throw WebSocketClientError.invalidURL(string)
        }
        guard !self.target.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else {
            throw WebSocketClientError.invalidURL(string)
        }
    }
}
