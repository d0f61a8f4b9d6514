import CartDomain
import CartHub
import Foundation
import JSON
import Testing
#if canImport(FoundationXML)
import FoundationXML
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `GET /api/openapi.json`: the document is the resource, matches `Hub.router` in both
/// directions, is valid OpenAPI 3.1 (openapi-spec-validator) and describes what the
/// live server answers (schemathesis). The Python tools come from
/// `scripts/python-tools.sh`; a missing tool is a failure, never a skip.
@Suite("OpenAPI document")
struct OpenAPITests {
    static let resourcePath = TestEnvironment.checkout.appendingPathComponent("Sources/CartHub/Resources/openapi.json").path
    static let httpMethods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    static func resource() throws -> (text: String, json: JSONValue) {
        let text = try String(contentsOfFile: resourcePath, encoding: .utf8)
        return (text, try JSONValue.parse(text, maxDepth: 64))
    }

    /// Every (METHOD, path) the document describes.
    static func operations(_ document: JSONValue) -> Set<String> {
        var operations: Set<String> = []
        for (path, item) in document["paths"]?.objectValue ?? [:] {
            for method in httpMethods where item[method] != nil { operations.insert("\(method.uppercased()) \(path)") }
        }
        return operations
    }

    static var routes: Set<String> { Set(Hub.restRoutes.map { "\($0.method) \($0.path)" }) }

    @Test("GET /api/openapi.json serves the resource unchanged: JSON, OpenAPI 3.1.x; HEAD works; the hub loads the same text")
    func served() throws {
        let (text, document) = try Self.resource()
        #expect(document["openapi"]?.stringValue?.hasPrefix("3.1.") == true, "openapi is \(String(describing: document["openapi"]))")
        #expect(try OpenAPIDocument.load() == text)
        let hub = try HubProcess()
        let rest = REST(hub)
        let answer = try rest.call("GET", "/api/openapi.json")
        #expect(answer.status == 200 && answer.header("content-type") == "application/json")
        #expect(answer.response.bodyText == text, "the served document differs from \(Self.resourcePath)")
        let head = try rest.call("HEAD", "/api/openapi.json")
        #expect(head.status == 200 && head.response.body.isEmpty)
    }

    @Test("the error schema lists every ErrorCode, and each error response only codes of its own HTTP status")
    func errorCodes() throws {
        let (_, document) = try Self.resource()
        let listed = document["components"]?["schemas"]?["ErrorCode"]?["enum"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(listed == ErrorCode.allCases.map(\.rawValue))
        let responses = document["components"]?["responses"]?.objectValue ?? [:]
        func resolve(_ response: JSONValue) -> (String, JSONValue)? {
            guard let ref = response["$ref"]?.stringValue else { return ("inline", response) }
            let name = String(ref.split(separator: "/").last ?? "")
            return responses[name].map { (name, $0) }
        }
        for (path, item) in document["paths"]?.objectValue ?? [:] {
            for method in Self.httpMethods {
                for (status, response) in item[method]?["responses"]?.objectValue ?? [:] {
                    guard let statusCode = Int(status), statusCode >= 400 else { continue }
                    #expect(statusCode != 500, "\(method.uppercased()) \(path) documents 500: server errors are bugs, not outcomes")
                    guard let (name, resolved) = resolve(response) else {
                        Issue.record("\(method.uppercased()) \(path) \(status): unresolvable response")
                        continue
                    }
                    let schema = resolved["content"]?["application/json"]?["schema"]
                    let codes = schema?["allOf"]?.arrayValue?.last?["properties"]?["error"]?["properties"]?["code"]?["enum"]?.arrayValue?.compactMap(\.stringValue) ?? []
                    #expect(!codes.isEmpty, "\(method.uppercased()) \(path) \(status) (\(name)) names no error codes")
                    for code in codes {
                        #expect(ErrorCode(rawValue: code)?.httpStatus == statusCode, "\(method.uppercased()) \(path) \(status) (\(name)) lists \(code)")
                    }
                }
            }
        }
    }

    @Test("kept in step: every route of Hub.router is documented and every documented operation is a route")
    func keptInStep() throws {
        let documented = Self.operations(try Self.resource().json)
        let routes = Self.routes
        #expect(!routes.isEmpty)
        let undocumented = routes.subtracting(documented).sorted()
        let unrouted = documented.subtracting(routes).sorted()
        #expect(undocumented.isEmpty, "routes of Hub.router missing from openapi.json: \(undocumented.joined(separator: ", "))")
        #expect(unrouted.isEmpty, "operations of openapi.json that Hub.router does not serve: \(unrouted.joined(separator: ", "))")
    }

    @Test("openapi-spec-validator accepts the document")
    func specValidator() throws {
        let tool = try PythonTools.require("openapi-spec-validator")
        let run = try PythonTools.run(tool, [Self.resourcePath], timeout: 60)
        #expect(run.status == 0, "openapi-spec-validator exit \(run.status):\n\(run.output)")
    }

    @Test("schemathesis against a live hub finds no server error and no response outside the document", .timeLimit(.minutes(3)))
    func schemathesis() throws {
        let tool = try PythonTools.require("schemathesis")
        // Real books, so pages, adds and lines are exercised (the links in the document lead there).
        _ = try TestCatalog("oas", stocks: [1000, 1000, 2])
        // 429 stays documented; here it would only hide the rest.
        let hub = try HubProcess(environment: ["CARTHUB_RATE_LIMIT": "1000000", "CARTHUB_RATE_BURST": "1000000"])
        let token = Tokens.make(user: TestEnvironment.uniquePrefix("oas"), role: "admin")
        let reports = FileManager.default.temporaryDirectory.appendingPathComponent("carthub-schemathesis-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: reports) }
        let junit = reports.appendingPathComponent("junit.xml").path
        let arguments = [
            "run", hub.httpBase + "/api/openapi.json", "--url", hub.httpBase,
            "--header", "Authorization: Bearer \(token)",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
            "--max-examples", "30", "--seed", "20261127", "--workers", "1",
            // libwebsockets drops a connection whose query holds %00 (it never reaches the hub).
            "--generation-allow-x00", "false",
            "--generation-database", "none", "--request-timeout", "10", "--no-color",
            "--report", "junit", "--report-junit-path", junit,
        ]
        let run = try PythonTools.run(tool, arguments, timeout: 150, directory: reports.path)
        let results = SchemathesisReport.parse(path: junit)
        let routes = Self.routes
        for result in results where !result.passed {
            let pending = result.name.contains(" /") && !routes.contains(result.name) ? " [not in Hub.router yet: pending a branch that adds it]" : ""
            Issue.record("schemathesis: \(result.name) failed\(pending):\n\(result.details.prefix(3000))")
        }
        #expect(run.status == 0, "schemathesis exit \(run.status) (\(results.filter { !$0.passed }.map(\.name).joined(separator: ", "))); its report:\n\(run.output.suffix(12000))\nhub log:\n\(hub.log)")
        #expect(!results.isEmpty, "no JUnit report from schemathesis")
        #expect(results.filter(\.passed).count > 1, "schemathesis passed no operation")
    }
}

/// The pinned Python tools of `scripts/python-tools.sh`, in `CARTHUB_PYTHON_TOOLS`
/// (scripts/test.sh exports it) or the checkout's `scripts/.data/venv/bin`.
enum PythonTools {
    static var directory: String {
        let configured = ProcessInfo.processInfo.environment["CARTHUB_PYTHON_TOOLS"] ?? ""
        return configured.isEmpty ? TestEnvironment.checkout.appendingPathComponent("scripts/.data/venv/bin").path : configured
    }

    /// The tool's path; a missing tool fails the test (never a skip).
    static func require(_ name: String) throws -> String {
        let path = directory + "/" + name
        try #require(FileManager.default.isExecutableFile(atPath: path), "\(name) is not installed at \(path): run scripts/python-tools.sh (scripts/test.sh does), or set CARTHUB_PYTHON_TOOLS to its bin directory")
        return path
    }

    struct Run {
        var status: Int32
        var output: String
    }

    /// Runs a tool with stdout and stderr into one file (no pipe to fill), killed at the timeout.
    static func run(_ path: String, _ arguments: [String], timeout: Double, environment: [String: String] = [:], directory: String? = nil) throws -> Run {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("carthub-tool-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = "1"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        var timedOut = false
        if process.isRunning {
            timedOut = true
            process.terminate()
            usleep(500_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        var text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        if timedOut { text += "\n[killed after \(Int(timeout)) s]" }
        return Run(status: timedOut ? -1 : process.terminationStatus, output: text)
    }
}

/// schemathesis's JUnit report: one test case per operation ("METHOD /path") plus
/// "Stateful tests", each passed or with its failures and errors.
struct SchemathesisReport {
    struct Result {
        var name: String
        var passed: Bool
        var details: String
    }

    static func parse(path: String) -> [Result] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let delegate = Delegate()
        let parser = XMLParser(data: data)
        parser.delegate = delegate
        _ = parser.parse()
        return delegate.results
    }

    private final class Delegate: NSObject, XMLParserDelegate {
        var results: [Result] = []
        private var current: Result?
        private var inProblem = false

        func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            switch element {
            case "testcase": current = Result(name: attributes["name"] ?? "?", passed: true, details: "")
            case "failure", "error":
                current?.passed = false
                inProblem = true
                if let message = attributes["message"] { current?.details += "[\(element) \(message)] " }
            default: break
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if inProblem { current?.details += string }
        }

        func parser(_ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?) {
            switch element {
            case "failure", "error":
                inProblem = false
                current?.details += "\n"
            case "testcase":
                if let current { results.append(current) }
                current = nil
            default: break
            }
        }
    }
}
