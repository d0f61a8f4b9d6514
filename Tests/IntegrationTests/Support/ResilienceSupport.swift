import CartDomain
import Foundation
import JSON
import Postgres
import Redis
import Storage
import Testing
import WebSocketClient
#if canImport(Glibc)
import Glibc
#endif

// Helpers for the resilience and lifecycle tests: a Redis of a test's own (the shared
// one must never go down), Redis client bookkeeping, big catalogs, polling.

/// A `redis-server` only one test uses, on a free loopback port, without persistence:
/// the test may kill, stop and restart it. Killed when the test lets go of it.
final class PrivateRedis: @unchecked Sendable {
    let port: Int
    let password = "private-redis-\(UUID().uuidString.prefix(8).lowercased())"
    private var process: Process?

    /// Where an append-only Redis keeps its AOF; nil for none.
    let dataDirectory: String?

    /// `appendOnly`: AOF with `appendfsync everysec` in a folder of its own, so a
    /// restart after SIGKILL recovers what was fsynced.
    init(appendOnly: Bool = false) throws {
        port = try freeLoopbackPort()
        dataDirectory = appendOnly ? NSTemporaryDirectory() + "carthub-redis-\(UUID().uuidString.prefix(8).lowercased())" : nil
        if let dataDirectory { try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true) }
        try start()
    }

    deinit {
        kill()
        if let dataDirectory { try? FileManager.default.removeItem(atPath: dataDirectory) }
    }

    /// For `HubProcess(environment:)`.
    var url: String { "redis://:\(password)@127.0.0.1:\(port)/0" }
    var hubEnvironment: [String: String] { ["REDIS_URL": url] }
    var configuration: RedisConfiguration { RedisConfiguration(host: "127.0.0.1", port: port, password: password) }

    /// Starts (or restarts, on the same port) and waits until it answers PING.
    func start(timeout: Double = 10) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "redis-server", "--port", String(port), "--bind", "127.0.0.1", "--requirepass", password,
            "--save", "", "--daemonize", "no",
        ] + (dataDirectory.map { ["--appendonly", "yes", "--appendfsync", "everysec", "--dir", $0] } ?? ["--appendonly", "no", "--dir", NSTemporaryDirectory()])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let redis = try? BlockingRedisConnection(configuration, timeoutSeconds: 1),
               case .status("PONG")? = try? redis.command(["PING"]) {
                return
            }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        kill()
        Issue.record("private redis-server on port \(port) did not come up within \(timeout) s")
        throw HubStartError()
    }

    /// SIGKILL: the connections die with it, as in a crash.
    func kill() {
        guard let process else { return }
        self.process = nil
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// SIGSTOP: connections stay open but nothing is answered.
    func pause() { signal(SIGSTOP) }
    /// SIGCONT after `pause()`.
    func resume() { signal(SIGCONT) }

    private func signal(_ number: Int32) {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, number)
    }
}

/// A port nothing listens on right now (the kernel picks it).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    try #require(fd >= 0, "socket() failed")
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    try #require(bound, "cannot bind a loopback port")
    return Int(UInt16(bigEndian: address.sin_port))
}

// MARK: Redis clients of a hub

/// One line of CLIENT LIST.
struct RedisClientEntry {
    var id: String
    var name: String
}

extension BlockingRedisConnection {
    func clientList() throws -> [RedisClientEntry] {
        guard let text = try command(["CLIENT", "LIST"]).stringValue else { return [] }
        return text.split(whereSeparator: \.isNewline).map { line in
            var fields: [Substring: Substring] = [:]
            for pair in line.split(separator: " ") {
                guard let eq = pair.firstIndex(of: "=") else { continue }
                fields[pair[..<eq]] = pair[pair.index(after: eq)...]
            }
            return RedisClientEntry(id: String(fields["id"] ?? ""), name: String(fields["name"] ?? ""))
        }
    }

    /// CLIENT KILL ID of the one connection named `name`; returns its id.
    @discardableResult
    func killClient(named name: String) throws -> String {
        let matches = try clientList().filter { $0.name == name }
        try #require(matches.count == 1, "expected exactly one Redis connection named \(name), found \(matches.count)")
        let id = matches[0].id
        let killed = try command(["CLIENT", "KILL", "ID", id])
        try #require(killed == .integer(1), "CLIENT KILL ID \(id) answered \(killed)")
        return id
    }
}

extension HubProcess {
    var commandConnectionName: String { "carthub-\(instanceId)-cmd" }
    var subscriberConnectionName: String { "carthub-\(instanceId)-sub" }

    /// GET (or another method) on the hub's HTTP side.
    func http(_ path: String, method: String = "GET") throws -> HTTPResponse {
        try HTTPClient.request(method, httpBase + path)
    }
}

// MARK: Catalogs and carts

extension TestCatalog {
    /// `count` books whose titles are `titleLength` characters long, so carts (and
    /// every `cart.updated`) get big: about `count × (titleLength + 100)` bytes.
    init(_ label: String, count: Int, titleLength: Int, stock: Int64 = 100_000) throws {
        let prefix = TestEnvironment.uniquePrefix(label)
        self.prefix = prefix
        books = (0..<count).map { i in
            let head = "Book \(i) of \(prefix): "
            let title = head + String(repeating: "long title ", count: titleLength / 11 + 1).prefix(titleLength - head.count)
            return Book(id: "\(prefix)-\(i)", title: String(title), author: "Tester", priceCents: Int64(100 + i), stock: stock)
        }
        let db = try TestEnvironment.postgres()
        _ = try Migrator(connection: db).migrate()
        _ = try CatalogStore.upsert(db, books)
    }
}

/// The version of a user's cart as Redis holds it (0 when the cart was never changed).
func storedCartVersion(user: String, redis: BlockingRedisConnection) throws -> Int64 {
    let keys = CartKeys(userId: user, shards: 64)
    return try redis.command(["HGET", keys.meta, "v"]).intValue ?? 0
}

// MARK: Waiting

/// Calls `attempt` until it returns a value or `seconds` pass; the last error or nil
/// result is reported as `what` did not happen.
func eventually<T>(within seconds: Double, every interval: Double = 0.1, _ what: String, _ attempt: () throws -> T?) throws -> T {
    let deadline = Date().addingTimeInterval(seconds)
    var lastProblem = "never succeeded"
    while true {
        do {
            if let value = try attempt() { return value }
        } catch {
            lastProblem = "\(error)"
        }
        guard Date() < deadline else { break }
        usleep(UInt32(interval * 1_000_000))
    }
    Issue.record("\(what) did not happen within \(seconds) s (last: \(lastProblem))")
    throw WaitTimedOut(what: what)
}

struct WaitTimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting: \(what)" }
}

/// Seconds since `start`, rounded for messages.
func seconds(since start: Date) -> Double {
    (Date().timeIntervalSince(start) * 1000).rounded() / 1000
}

extension CartSocket {
    /// The next message of any kind (nothing is kept in the inbox).
    func anyMessage(timeout: Double = 10) throws -> JSONValue {
        try next(timeout: timeout) { _ in true }
    }
}

// MARK: Signals

extension HubProcess {
    /// Starts a hub the way a service manager does: with SIGTERM and SIGINT not blocked.
    ///
    /// `Foundation.Process` hands the spawning thread's signal mask to the child, and
    /// the test runner's worker threads block SIGTERM and SIGINT, so a plain
    /// `HubProcess()` starts with both blocked (see `ShutdownTests.blockedSignalMask`).
    /// Only those two are unblocked, and only on this thread while spawning, so the
    /// runner's own signal handling is left as it was.
    static func withDefaultSignalMask(environment: [String: String] = [:], startTimeout: Double = 30) throws -> HubProcess {
        var termination = sigset_t()
        var saved = sigset_t()
        sigemptyset(&termination)
        sigaddset(&termination, SIGTERM)
        sigaddset(&termination, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &termination, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        return try HubProcess(environment: environment, startTimeout: startTimeout)
    }

    /// Signals the hub's main thread blocks (from /proc), e.g. to explain a signal that had no effect.
    var blockedSignals: String {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("SigBlk:") }.map { String($0.dropFirst(7)).trimmingCharacters(in: .whitespaces) } ?? "?"
    }
}

extension HubProcess {
    /// Starts a hub whose SIGTERM and SIGINT are blocked when it starts, as happens to
    /// any child of a thread that blocks them (a service wrapper, a thread pool).
    static func withTerminationSignalsBlocked(environment: [String: String] = [:]) throws -> HubProcess {
        var blocked = sigset_t()
        var saved = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGTERM)
        sigaddset(&blocked, SIGINT)
        pthread_sigmask(SIG_BLOCK, &blocked, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        return try HubProcess(environment: environment)
    }
}

// MARK: How the hub ends a socket

/// How a socket ended.
enum SocketEnd: Equatable, CustomStringConvertible {
    /// The hub sent a close frame with this code.
    case closeFrame(UInt16?)
    /// The TCP connection ended without a close frame.
    case droppedWithoutCloseFrame

    var description: String {
        switch self {
        case .closeFrame(let code): "close frame \(code.map(String.init) ?? "without code")"
        case .droppedWithoutCloseFrame: "TCP closed without a close frame"
        }
    }
}

extension CartSocket {
    /// Reads until the hub ends the connection: how it ended and every message before.
    func readUntilEnd(timeout: Double = 15) throws -> (end: SocketEnd, messages: [JSONValue]) {
        var messages: [JSONValue] = []
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            do {
                messages.append(try anyMessage(timeout: max(0.001, deadline.timeIntervalSinceNow)))
            } catch let closed as SocketClosed {
                return (.closeFrame(closed.code), messages)
            } catch WebSocketClientError.closed {
                return (.droppedWithoutCloseFrame, messages)
            }
        }
    }
}

// MARK: Kernel socket buffers

/// Bytes the kernel holds on established loopback TCP connections to or from `port`
/// (send queues plus receive queues, from /proc/net/tcp): what a peer that does not
/// read has not taken yet, before the application's own queue starts to grow.
func kernelQueuedBytes(port: Int) -> Int {
    let text = readProcFile("/proc/net/tcp")
    let hexPort = String(format: "%04X", port)
    var total = 0
    for line in text.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        guard fields.count > 4, fields[3] == "01" else { continue }
        guard fields[1].hasSuffix(":" + hexPort) || fields[2].hasSuffix(":" + hexPort) else { continue }
        let queues = fields[4].split(separator: ":")
        guard queues.count == 2 else { continue }
        total += (Int(queues[0], radix: 16) ?? 0) + (Int(queues[1], radix: 16) ?? 0)
    }
    return total
}

/// The whole of a /proc file (Foundation stops after the first page of some).
func readProcFile(_ path: String) -> String {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &chunk, chunk.count)
        guard n > 0 else { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}
