import CartDomain
import JSON
import WebSocketServer

/// A REST request being served: its path parameters, helpers to read its query and
/// JSON body, and the one JSON response it gets with the API's common headers.
final class APICall {
    let request: HTTPRequest
    let parameters: [String: String]
    /// The request's Origin when it is allowed: responses then carry CORS headers.
    let corsOrigin: String?

    init(request: HTTPRequest, parameters: [String: String], corsOrigin: String?) {
        self.request = request
        self.parameters = parameters
        self.corsOrigin = corsOrigin
    }

    var head: RequestHead { request.head }
    func header(_ name: String) -> String? { request.head.header(name) }

    func respond(_ status: Int, json: String, headers: [(String, String)] = []) {
        request.respond(.json(status, json, headers: commonHeaders + headers))
    }

    func respond(_ status: Int, headers: [(String, String)] = []) {
        request.respond(HTTPResponse(status: status, headers: commonHeaders + headers))
    }

    /// `{"error":{"code","message"}}` with the code's status.
    func fail(_ error: CartError, headers: [(String, String)] = []) {
        respond(error.code.httpStatus, json: Self.errorBody(error), headers: headers)
    }

    func fail(_ code: ErrorCode, _ message: String, headers: [(String, String)] = []) {
        fail(CartError(code, message), headers: headers)
    }

    static func errorBody(_ error: CartError) -> String {
        var out = #"{"error":"#
        ServerFrame.appendError(error, to: &out)
        out += "}"
        return out
    }

    /// The query's parameters; answers 400 and returns nil for an unknown or repeated one.
    func query(allowed names: Set<String>) -> [String: String]? {
        var query: [String: String] = [:]
        for item in head.queryItems {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            guard names.contains(name) else {
                fail(.badRequest, "unknown query parameter \(JSONString.quoted(String(name.prefix(64))))")
                return nil
            }
            guard query.updateValue(parts.count > 1 ? String(parts[1]) : "", forKey: name) == nil else {
                fail(.badRequest, "query parameter \(name) given twice")
                return nil
            }
        }
        return query
    }

    /// The body as a JSON object; answers 415 or 400 and returns nil otherwise.
    func jsonObject() -> [String: JSONValue]? {
        jsonObject(request.body, contentType: header("content-type"))
    }

    /// `body` (sent with `contentType`) as a JSON object; answers 415 or 400 and returns nil otherwise.
    func jsonObject(_ body: [UInt8], contentType: String?) -> [String: JSONValue]? {
        guard let type = contentType, Self.isJSON(type) else {
            fail(.unsupportedMediaType, "send the body as Content-Type: application/json")
            return nil
        }
        guard !body.isEmpty else {
            fail(.badRequest, "a JSON object body is required")
            return nil
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            fail(.badRequest, "invalid JSON: \(error.message)")
            return nil
        }
        guard let object = value.objectValue else {
            fail(.badRequest, "the body must be a JSON object")
            return nil
        }
        return object
    }

    /// The string member `name` of a JSON body; answers 400 and returns nil when it is
    /// missing or not a string.
    func string(_ body: [String: JSONValue], _ name: String) -> String? {
        guard let value = body[name] else {
            fail(.badRequest, "\(JSONString.quoted(name)) is required")
            return nil
        }
        guard let string = value.stringValue else {
            fail(.badRequest, "\(JSONString.quoted(name)) must be a string, not \(value.typeName)")
            return nil
        }
        return string
    }

    /// `application/json`, with or without parameters such as `charset=utf-8`.
    static func isJSON(_ contentType: String) -> Bool {
        let media = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingSpaces.lowercased() }
        return media == "application/json"
    }

    private var commonHeaders: [(String, String)] {
        var headers = [("cache-control", "no-store"), ("x-content-type-options", "nosniff")]
        if let corsOrigin {
            headers += [("access-control-allow-origin", corsOrigin), ("access-control-allow-credentials", "true"), ("vary", "Origin")]
        }
        return headers
    }
}
