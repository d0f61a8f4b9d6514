import CartHub
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The browser client in headless Chromium: `Browser/e2e.py` (selenium, from the pinned
/// venv of `scripts/python-tools.sh`) drives three browser sessions against real hubs
/// and reads every assertion from the page's DOM; this side starts the hubs, registers
/// the users, and stops and restarts hubs A and B when the script asks (a request file
/// in a control directory). Screenshots of every step stay in
/// `.build/browser-artifacts/<run>/`. The hubs run on private Redis and Postgres with a
/// worker (orders expire after `reservationTTL` seconds) and demo payments on. A missing browser, driver or selenium fails the
/// test (never a skip), as everywhere in these tests.
@Suite("Browser client", .serialized)
struct BrowserTests {
    static let script = TestEnvironment.checkout.appendingPathComponent("Tests/IntegrationTests/Browser/e2e.py").path

    static func tool(_ variable: String, default path: String, package: String) throws -> String {
        let configured = ProcessInfo.processInfo.environment[variable] ?? ""
        let chosen = configured.isEmpty ? path : configured
        try #require(FileManager.default.isExecutableFile(atPath: chosen),
                     "\(chosen) is missing: install Debian's \(package) (scripts/services.sh installs it), or set \(variable)")
        return chosen
    }

    @Test("/ and /assets/… serve the client: types, ETag and 304, security headers; unknown files 404; only GET and HEAD; the API is untouched")
    func staticFiles() throws {
        let hub = try HubProcess()
        let rest = REST(hub)
        let web = try WebAssets.load()
        #expect(web.paths.contains("/") && web.paths.contains("/assets/js/main.js") && web.paths.contains("/assets/app.css"), "\(web.paths)")
        for path in web.paths {
            let answer = try rest.call("GET", path)
            let asset = try #require(web.assets[path])
            #expect(answer.status == 200, "GET \(path): \(answer)")
            #expect(answer.response.body == asset.body, "GET \(path): not the file's bytes")
            #expect(answer.header("content-type") == asset.contentType)
            #expect(answer.header("cache-control") == "no-cache")
            #expect(answer.header("etag") == asset.etag)
            #expect(answer.header("x-content-type-options") == "nosniff")
            #expect(answer.header("referrer-policy") == "same-origin")
            let csp = answer.header("content-security-policy") ?? ""
            for directive in ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "connect-src 'self' ws://127.0.0.1:\(hub.port) ws://localhost:\(hub.port)"] {
                #expect(csp.contains(directive), "GET \(path): CSP \(csp) lacks \(directive)")
            }
            #expect(!csp.contains("unsafe"), "CSP allows something unsafe: \(csp)")
            let revalidated = try rest.call("GET", path, headers: [("If-None-Match", asset.etag)])
            #expect(revalidated.status == 304 && revalidated.response.body.isEmpty, "If-None-Match: \(revalidated)")
            let head = try rest.call("HEAD", path)
            #expect(head.status == 200 && head.response.body.isEmpty && head.header("etag") == asset.etag)
        }
        #expect(try rest.call("GET", "/").header("content-type") == "text/html; charset=utf-8")
        #expect(try rest.call("GET", "/assets/js/main.js").header("content-type") == "text/javascript; charset=utf-8")
        // No inline script or style for the CSP to refuse.
        let html = String(decoding: try #require(web.assets["/"]).body, as: UTF8.self)
        #expect(!html.contains("<script>") && !html.contains("style=") && !html.contains("<style") && html.range(of: #"\son[a-z]+\s*="#, options: .regularExpression) == nil, "index.html has inline script or style")

        for path in ["/assets/nope.js", "/assets/", "/assets/js", "/index.html", "/assets/../Package.swift", "/assets/%2e%2e/Package.swift", "/assets/js/../../index.html"] {
            let answer = try rest.call("GET", path)
            #expect(answer.status == 404 && answer.errorCode == "NOT_FOUND", "GET \(path): \(answer)")
            #expect(answer.header("x-content-type-options") == "nosniff")
        }
        for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let answer = try rest.call(method, "/")
            #expect(answer.status == 405 && answer.header("allow") == "GET, HEAD", "\(method) /: \(answer)")
        }
        // The rest of the port is as before.
        #expect(try rest.call("GET", "/healthz").status == 200)
        #expect(try rest.call("GET", "/readyz").status == 200)
        #expect(try rest.call("GET", "/metrics").status == 200)
        #expect(try rest.call("GET", "/ws").status == 426)
        #expect(try rest.call("GET", "/api/books").status == 200)
        #expect(try rest.call("GET", "/api/cart").status == 401)
        #expect(try rest.call("GET", "/api/nothing").errorCode == "NOT_FOUND")
        #expect(!Hub.restRoutes.contains { $0.path == "/" || $0.path.hasPrefix("/assets") }, "the client is not part of the REST API")
    }

    @Test("two browsers, one user: every change shows on the other within 1 s; hubs restart mid-session; checkout, pay, cancel and expiry show on both; another user never sees it", .timeLimit(.minutes(3)))
    func twoDevices() throws {
        let chromium = try Self.tool("CARTHUB_CHROMIUM", default: "/usr/bin/chromium", package: "chromium")
        let driver = try Self.tool("CARTHUB_CHROMEDRIVER", default: "/usr/bin/chromedriver", package: "chromium-driver")
        let python = try PythonTools.require("python")
        let selenium = try PythonTools.run(python, ["-c", "import selenium"], timeout: 30)
        try #require(selenium.status == 0, "selenium is not installed in \(PythonTools.directory): run scripts/python-tools.sh (scripts/test.sh does)\n\(selenium.output)")

        // Private Redis and Postgres: the orders need a worker (for the expiry), and a worker
        // on the shared test services would also work for every other test running there.
        let stack = try PersistenceTests.Stack()
        // Book 2 has a stock of 1, so + on it is refused.
        let catalog = try TestCatalog("web", stocks: [50, 50, 1, 50], database: stack.postgres.connect())
        let environment = stack.environment.merging([
            "PAYMENT_WEBHOOK_SECRET": Self.webhookSecret, "CARTHUB_DEMO_PAYMENTS": "1", "CARTHUB_RESERVATION_TTL": String(Self.reservationTTL),
        ]) { $1 }
        var hubA = try HubProcess(environment: environment)
        var hubB = try HubProcess(environment: environment)
        let hubC = try HubProcess(environment: environment)
        let worker = try WorkerProcess(environment: environment)
        let accounts = AccountClient(hubC)
        let email1 = AccountClient.uniqueEmail("web1").lowercased()
        let email2 = AccountClient.uniqueEmail("web2").lowercased()
        for email in [email1, email2] {
            let registered = try accounts.register(email)
            try #require(registered.status == 201, "register: \(registered.status) \(registered.bodyText)")
        }

        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let runs = TestEnvironment.checkout.appendingPathComponent(".build/browser-artifacts")
        Self.prune(runs, keeping: 9)
        let artifacts = runs.appendingPathComponent("\(stamp)-\(catalog.prefix)")
        let control = FileManager.default.temporaryDirectory.appendingPathComponent("carthub-browser-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: control, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: control) }
        print("browser test: screenshots in \(artifacts.path)")

        let output = artifacts.appendingPathComponent("e2e.log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            Self.script, "--hub-a", hubA.httpBase, "--hub-b", hubB.httpBase, "--hub-c", hubC.httpBase,
            "--email1", email1, "--email2", email2, "--password", AccountClient.password,
            "--books", catalog.books.map(\.id).joined(separator: ","), "--query", catalog.prefix,
            "--control", control.path, "--artifacts", artifacts.path, "--chromium", chromium, "--chromedriver", driver,
            "--ttl", String(Self.reservationTTL),
        ]
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()

        // Serve the script's requests until it exits.
        var served = 0
        var problems: [String] = []
        let deadline = Date().addingTimeInterval(150)
        while process.isRunning, Date() < deadline {
            let request = control.appendingPathComponent("request-\(served + 1)")
            guard let command = try? String(contentsOf: request, encoding: .utf8) else {
                usleep(20_000)
                continue
            }
            served += 1
            var answer = "ok"
            do {
                switch command {
                case "stop":
                    hubA.signal(SIGTERM)
                    hubB.signal(SIGKILL)
                    if hubA.waitForExit(timeout: 15) == nil || hubB.waitForExit(timeout: 5) == nil { answer = "a hub did not exit" }
                case "start":
                    let (portA, portB) = (hubA.port, hubB.port)
                    hubA = try Self.restart(port: portA, environment: environment)
                    hubB = try Self.restart(port: portB, environment: environment)
                default:
                    answer = "unknown command \(command)"
                }
            } catch {
                answer = "\(error)"
            }
            if answer != "ok" { problems.append("\(command): \(answer)") }
            try answer.write(to: control.appendingPathComponent("done-\(served)"), atomically: true, encoding: .utf8)
        }
        if process.isRunning {
            process.terminate()
            usleep(500_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        try? handle.synchronize()
        let log = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        print(log)
        #expect(problems.isEmpty, "restarting hubs: \(problems)")
        #expect(served == 2, "the script asked for \(served) of the 2 hub restarts (stop, start)")
        #expect(process.terminationStatus == 0 && log.contains("PASS"),
                "e2e.py exit \(process.terminationStatus); screenshots in \(artifacts.path)\n\(log.suffix(8000))\nhub A log:\n\(hubA.log.suffix(2000))\nhub B log:\n\(hubB.log.suffix(2000))\nworker log:\n\(worker.log.suffix(2000))")
    }

    /// Drops all but the newest `count` runs' screenshots (their names start with a timestamp).
    static func prune(_ directory: URL, keeping count: Int) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
        for name in names.dropLast(count) { try? FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
    }

    /// A hub on `port` again, right after the last one there stopped.
    static func restart(port: Int, environment: [String: String]) throws -> HubProcess {
        try HubProcess(environment: environment.merging(["CARTHUB_PORT": String(port)]) { $1 }, startTimeout: 15)
    }

    static let webhookSecret = "browser-tests-webhook-secret-0123456789abcdef"
    /// Short, so an order left unpaid expires while the test watches.
    static let reservationTTL = 6
}
