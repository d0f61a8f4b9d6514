import Auth
import Foundation
import JSON
import Testing
import WebSocketClient

/// REST calls to a hub's account endpoints from one client address. Each test takes its
/// own random loopback address (127.x.y.z), so per-address limits of different tests and
/// runs never meet.
struct AccountClient {
    let hub: HubProcess
    let address: String

    init(_ hub: HubProcess, address: String = AccountClient.randomAddress()) {
        self.hub = hub
        self.address = address
    }

    static func randomAddress() -> String {
        "127.\(Int.random(in: 1...254)).\(Int.random(in: 0...255)).\(Int.random(in: 1...254))"
    }

    /// An email no other test or run uses; `label` keeps it readable in failures.
    static func uniqueEmail(_ label: String) -> String {
        "\(TestEnvironment.uniquePrefix(label))@Example.com"
    }

    func request(_ method: String, _ path: String, json: String? = nil, headers: [(String, String)] = []) throws -> HTTPResponse {
        var all = headers
        if json != nil, !headers.contains(where: { $0.0.lowercased() == "content-type" }) { all.append(("Content-Type", "application/json")) }
        return try HTTPClient.request(method, hub.httpBase + path, headers: all, body: Array((json ?? "").utf8), timeout: 20, sourceAddress: address)
    }

    func register(_ email: String, password: String = AccountClient.password, name: String = "Test User") throws -> HTTPResponse {
        try request("POST", "/api/auth/register", json: JSONValue.object(["email": .string(email), "password": .string(password), "name": .string(name)]).encoded)
    }

    func login(_ email: String, password: String = AccountClient.password) throws -> HTTPResponse {
        try request("POST", "/api/auth/login", json: JSONValue.object(["email": .string(email), "password": .string(password)]).encoded)
    }

    /// Registers and logs in; fails the test unless both succeed.
    func newSession(_ label: String) throws -> Login {
        let email = Self.uniqueEmail(label)
        let registered = try register(email)
        try #require(registered.status == 201, "register: \(registered.status) \(registered.bodyText)")
        return try logIn(email)
    }

    /// Logs in; fails the test unless it succeeds.
    func logIn(_ email: String, password: String = AccountClient.password) throws -> Login {
        let response = try login(email, password: password)
        try #require(response.status == 200, "login: \(response.status) \(response.bodyText)")
        return try Login(response, email: email)
    }

    func me(_ headers: [(String, String)]) throws -> HTTPResponse {
        try request("GET", "/api/me", headers: headers)
    }

    static let password = "correct horse battery"
}

/// What a successful login (or refresh) handed out.
struct Login {
    let email: String
    let body: JSONValue
    let accessToken: String
    let refreshToken: String
    let claims: JWTClaims

    init(_ response: HTTPResponse, email: String) throws {
        self.email = email
        body = try JSONValue.parse(response.bodyText)
        accessToken = try #require(body["accessToken"]?.stringValue)
        let cookie = try #require(response.cookie("accessToken"), "no accessToken cookie")
        #expect(cookie.value == accessToken)
        refreshToken = try #require(response.cookie("refreshToken")?.value, "no refreshToken cookie")
        claims = try Tokens.codec.verify(accessToken, now: Int64(Date().timeIntervalSince1970))
    }

    var userId: String { claims.subject }
    var bearer: [(String, String)] { [("Authorization", "Bearer \(accessToken)")] }
    var accessCookie: [(String, String)] { [("Cookie", "accessToken=\(accessToken)")] }
    var refreshCookie: [(String, String)] { [("Cookie", "refreshToken=\(refreshToken)")] }
}

extension HTTPResponse {
    var json: JSONValue { (try? JSONValue.parse(bodyText)) ?? .null }
    var errorCode: String? { json["error"]?["code"]?.stringValue }

    /// A `Set-Cookie` of this response: its value and its attributes (names lower-cased).
    func cookie(_ name: String) -> (value: String, attributes: [String: String])? {
        for header in headers(named: "set-cookie") {
            let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let first = parts.first, first.hasPrefix(name + "=") else { continue }
            var attributes: [String: String] = [:]
            for part in parts.dropFirst() {
                let pair = part.split(separator: "=", maxSplits: 1)
                attributes[pair[0].lowercased()] = pair.count > 1 ? String(pair[1]) : ""
            }
            return (String(first.dropFirst(name.count + 1)), attributes)
        }
        return nil
    }
}
