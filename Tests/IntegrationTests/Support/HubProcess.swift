import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A real `carthub serve` on a free loopback port, killed when the test lets go of it.
final class HubProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    let instanceId: String
    let logPath: String

    /// `environment` adds to (and overrides) the hub's defaults; `wrapper` runs the hub
    /// under a tool such as valgrind.
    init(environment: [String: String] = [:], wrapper: [String] = [], startTimeout: Double = 30) throws {
        process.environment = try Self.environment(environment)
        if wrapper.isEmpty {
            process.executableURL = URL(fileURLWithPath: TestEnvironment.binary)
            process.arguments = ["serve"]
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = wrapper + [TestEnvironment.binary, "serve"]
        }
        logPath = NSTemporaryDirectory() + "carthub-hub-\(UUID().uuidString.prefix(8)).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()

        // The hub prints `LISTENING host port instance` once it accepts connections.
        let reader = stdout.fileHandleForReading
        var buffer = ""
        let deadline = Date().addingTimeInterval(startTimeout)
        var found: (Int, String)?
        while found == nil, Date() < deadline, process.isRunning || !buffer.isEmpty {
            var fds = pollfd(fd: reader.fileDescriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&fds, 1, 100) > 0 else { continue }
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            buffer += String(decoding: chunk, as: UTF8.self)
            for line in buffer.split(separator: "\n") where line.hasPrefix("LISTENING ") {
                let parts = line.split(separator: " ")
                if parts.count >= 4, let port = Int(parts[2]) { found = (port, String(parts[3])) }
            }
        }
        guard let found else {
            if process.isRunning { process.terminate() }
            Issue.record("hub did not start; its log:\n\(Self.tail(logPath))")
            throw HubStartError()
        }
        (port, instanceId) = found
    }

    /// The environment a test hub runs with: the test services, a free loopback port,
    /// then `extra` on top. Migrates the shared database unless `extra` names another.
    static func environment(_ extra: [String: String]) throws -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["REDIS_URL"] = try TestEnvironment.redisURL()
        env["DATABASE_URL"] = try TestEnvironment.databaseURL()
        env["JWT_SECRET"] = TestEnvironment.jwtSecret
        env["CARTHUB_PORT"] = "0"
        env["CARTHUB_HOST"] = "127.0.0.1"
        env["CARTHUB_LUA_DIR"] = TestEnvironment.luaDirectory
        for (k, v) in extra { env[k] = v }
        if extra["DATABASE_URL"] == nil { try TestEnvironment.migrateSharedDatabase() }
        return env
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    var socketURL: String { "ws://127.0.0.1:\(port)/ws" }
    var httpBase: String { "http://127.0.0.1:\(port)" }
    var origin: String { "http://127.0.0.1:\(port)" }
    /// The same listener when the hub was started with CARTHUB_TLS_CERT/KEY.
    var secureSocketURL: String { "wss://127.0.0.1:\(port)/ws" }
    var httpsBase: String { "https://127.0.0.1:\(port)" }
    var secureOrigin: String { "https://127.0.0.1:\(port)" }
    var isRunning: Bool { process.isRunning }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// The exit status, or nil if it is still running at the deadline.
    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    var log: String { Self.tail(logPath) }

    private static func tail(_ path: String) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return String(text.suffix(4000))
    }
}

struct HubStartError: Error {}
