import Foundation
import Postgres
import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A Postgres cluster only one test uses, so the test may stop and start it.
/// Runs as the `postgres` user (it refuses root) from a throwaway folder.
final class PrivatePostgres: @unchecked Sendable {
    let port: Int
    let directory: String

    init() throws {
        port = try freeLoopbackPort()
        directory = "/tmp/carthub-pg-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.shell("chown postgres: \(directory)")
        try Self.shell("runuser -u postgres -- \(Self.bin)/initdb -D \(directory)/data -A trust -U postgres --no-locale -E UTF8 >/dev/null")
        try start()
        try Self.shell("\(Self.psql) -h 127.0.0.1 -p \(port) -U postgres -d postgres -qc 'create database carthub' >/dev/null")
        _ = try Migrator(connection: connect()).migrate()
    }

    deinit {
        try? Self.shell("runuser -u postgres -- \(Self.bin)/pg_ctl -D \(directory)/data -m immediate stop >/dev/null 2>&1")
        try? FileManager.default.removeItem(atPath: directory)
    }

    var url: String { "postgres://postgres@127.0.0.1:\(port)/carthub" }

    func connect() throws -> PostgresConnection { try PostgresConnection(url: url) }

    func start() throws {
        try Self.shell("""
            runuser -u postgres -- \(Self.bin)/pg_ctl -D \(directory)/data -w -l \(directory)/log \
              -o "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" start >/dev/null
            """)
    }

    /// A fast shutdown: connections are cut, as when the database goes away.
    func stop() throws {
        try Self.shell("runuser -u postgres -- \(Self.bin)/pg_ctl -D \(directory)/data -m fast -w stop >/dev/null")
    }

    static let bin = "/usr/lib/postgresql/15/bin"
    static let psql = "/usr/bin/psql"

    /// Runs `sh -c command` and waits for it with waitpid: Foundation's Process does not
    /// reliably reap a shell whose grandchild (the postgres daemon) lives on.
    static func shell(_ command: String) throws {
        var pid: pid_t = 0
        let args = ["/bin/sh", "-c", command]
        let argv = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ) == 0 else { throw ShellFailure(command: command, status: -1) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        guard status == 0 else { throw ShellFailure(command: command, status: status) }
    }
}

struct ShellFailure: Error, CustomStringConvertible {
    var command: String
    var status: Int32
    var description: String { "failed (wait status \(status)): \(command)" }
}

/// A real `carthub worker`, killed when the test lets go of it.
final class WorkerProcess: @unchecked Sendable {
    let process = Process()
    let logPath: String

    init(environment: [String: String]) throws {
        var env = ProcessInfo.processInfo.environment
        env["CARTHUB_LUA_DIR"] = TestEnvironment.luaDirectory
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.executableURL = URL(fileURLWithPath: TestEnvironment.binary)
        process.arguments = ["worker"]
        logPath = NSTemporaryDirectory() + "carthub-worker-\(UUID().uuidString.prefix(8)).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)).map { String($0.suffix(4000)) } ?? "" }
}
