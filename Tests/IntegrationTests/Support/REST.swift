import Foundation
import JSON
import Testing
import WebSocketClient

/// Blocking REST calls against a hub, with the parsed JSON body at hand.
struct REST {
    let base: String

    init(_ hub: HubProcess) { base = hub.httpBase }

    struct Answer: CustomStringConvertible {
        let response: HTTPResponse
        var status: Int { response.status }
        var json: JSONValue { (try? JSONValue.parse(response.body)) ?? .null }
        var errorCode: String? { json["error"]?["code"]?.stringValue }
        func header(_ name: String) -> String? { response.header(name) }
        var description: String { "HTTP \(status) \(response.bodyText.prefix(300))" }
    }

    /// `json` is sent with `Content-Type: application/json` unless `headers` names another type.
    func call(_ method: String, _ path: String, token: String? = nil, json: JSONValue? = nil, body: [UInt8]? = nil, headers: [(String, String)] = []) throws -> Answer {
        var all = headers
        if let token { all.append(("Authorization", "Bearer \(token)")) }
        var bytes = body ?? []
        if let json {
            bytes = Array(json.encoded.utf8)
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) { all.append(("Content-Type", "application/json")) }
        }
        return Answer(response: try HTTPClient.request(method, base + path, headers: all, body: bytes, timeout: 10))
    }
}
