import Foundation

/// The OpenAPI 3.1 document of the REST API (`Resources/openapi.json`), served at
/// `GET /api/openapi.json`. It describes exactly the routes of `Hub.router` (a test
/// checks both directions), so a route added there is documented there too.
public enum OpenAPIDocument {
    /// The resource's text, unchanged; throws a clear error when the resource is missing or is not UTF-8.
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
        guard let text = String(data: data, encoding: .utf8), !text.isEmpty else {
            throw OpenAPIDocumentError("the OpenAPI document \(url.path) is empty or not UTF-8")
        }
        return text
    }
}

public struct OpenAPIDocumentError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
