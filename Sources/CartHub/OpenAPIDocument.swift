import Foundation
import JSON

/// The OpenAPI 3.1 document of the REST API (`Resources/openapi.json`), served at
/// `GET /api/openapi.json`. It describes exactly the routes of `Hub.router` (a test
/// checks both directions), so a route added there is documented there too.
public enum OpenAPIDocument {
    /// The resource's text, unchanged; throws a clear error when it is missing or not a JSON object with `openapi`.
    public static func load() throws -> String {
        // Foundation takes a bundle holding a `Resources` folder for one whose resources
        // live in it (so the file is at the top), but accept either layout.
        let bundle = Bundle.module
        guard let url = bundle.url(forResource: "openapi", withExtension: "json")
            ?? bundle.url(forResource: "openapi", withExtension: "json", subdirectory: "Resources"),
            let data = FileManager.default.contents(atPath: url.path)
        else {
            throw OpenAPIDocumentError("the OpenAPI document openapi.json is missing from the CartHub resource bundle \(bundle.bundlePath) (rebuild, or ship the bundle beside the binary)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw OpenAPIDocumentError("the OpenAPI document \(url.path) is not UTF-8")
        }
        do {
            guard try JSONValue.parse(text, maxDepth: 64).objectValue?["openapi"] != nil else {
                throw OpenAPIDocumentError("the OpenAPI document \(url.path) is not an OpenAPI object")
            }
        } catch let error as JSONParseError {
            throw OpenAPIDocumentError("the OpenAPI document \(url.path) is not valid JSON: \(error.message)")
        }
        return text
    }
}

public struct OpenAPIDocumentError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
