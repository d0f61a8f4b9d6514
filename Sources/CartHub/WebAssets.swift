import CryptoPrimitives
import Foundation

/// The browser client (`Sources/CartHub/Web/`), read once at start into a fixed table:
/// `/` is `index.html`, every other file is `/assets/<its path under Web/>`. Requests are
/// looked up in the table and never touch the file system, so no path can reach
/// anything else. Only the extensions below are shipped; any other file in `Web/` stops
/// the hub at start (a typo'd asset should not be silently missing).
public struct WebAssets: Sendable {
    public struct Asset: Sendable {
        public let path: String
        public let contentType: String
        public let body: [UInt8]
        /// A strong validator: the first 16 bytes of the body's SHA-256, quoted.
        public let etag: String
    }

    /// Request path → asset.
    public let assets: [String: Asset]

    static let indexFile = "index.html"
    static let assetPrefix = "/assets/"

    static let contentTypes: [String: String] = [
        "html": "text/html; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "js": "text/javascript; charset=utf-8",
        "svg": "image/svg+xml",
        "png": "image/png",
        "ico": "image/x-icon",
        "json": "application/json",
        "txt": "text/plain; charset=utf-8",
    ]

    /// The request paths served, sorted (for tests and logs).
    public var paths: [String] { assets.keys.sorted() }

    public init(directory: URL) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw WebAssetsError("the web client folder \(directory.path) is missing from the CartHub resource bundle (rebuild, or ship the bundle beside the binary)")
        }
        guard let walker = fm.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw WebAssetsError("cannot list \(directory.path)")
        }
        let root = directory.standardizedFileURL.path + "/"
        var assets: [String: Asset] = [:]
        for case let url as URL in walker {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            let full = url.standardizedFileURL.path
            guard full.hasPrefix(root) else { continue }
            let relative = String(full.dropFirst(root.count))
            if relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            let ext = url.pathExtension.lowercased()
            guard let type = Self.contentTypes[ext] else {
                throw WebAssetsError("\(full): .\(ext) files are not served; add the type to WebAssets.contentTypes or remove the file")
            }
            guard let data = fm.contents(atPath: full) else { throw WebAssetsError("cannot read \(full)") }
            let body = [UInt8](data)
            let etag = "\"" + Hex.encode(Array(SHA256.hash(body).prefix(16))) + "\""
            let path = relative == Self.indexFile ? "/" : Self.assetPrefix + relative
            assets[path] = Asset(path: path, contentType: type, body: body, etag: etag)
        }
        guard assets["/"] != nil else { throw WebAssetsError("\(directory.path) has no \(Self.indexFile)") }
        self.assets = assets
    }

    /// The bundled client: `Web/` of the CartHub resource bundle.
    public static func load() throws -> WebAssets {
        let bundle = Bundle.module
        // Foundation may take the bundle's `Resources` folder for its resource folder; `Web` sits beside it.
        let candidates = [bundle.bundleURL.appendingPathComponent("Web"), bundle.resourceURL?.appendingPathComponent("Web")].compactMap { $0 }
        let directory = candidates.first { FileManager.default.fileExists(atPath: $0.path) } ?? candidates[0]
        return try WebAssets(directory: directory)
    }

    /// Whether a request path belongs to the client (so the hub answers it, found or not,
    /// as a static file rather than as an API route).
    static func claims(_ path: String) -> Bool {
        path == "/" || path.hasPrefix(assetPrefix)
    }
}

public struct WebAssetsError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
