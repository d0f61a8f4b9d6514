import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

@main
struct CarthubBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "carthub-bench",
        abstract: "Load generator for carthub hubs: many WebSocket clients on one libuv loop.",
        discussion: """
            Opens users × devices sockets (spread round-robin over the --url hubs, so with two \
            hubs a user's devices sit on different instances), waits for every hello, then sends \
            cart commands for --warmup + --duration seconds and reports reply latency (command \
            sent → its reply), fan-out latency (command sent → its cart.updated on the user's \
            other devices, split by same/other instance), errors by code, throughput, and the \
            hubs' RSS and CPU from /proc. Latencies count from each command's scheduled send \
            time, so a stall of the hub or of the bench is not hidden (no coordinated omission).

            Examples:
              carthub-bench --url ws://127.0.0.1:8080/ws --rate 3000 --duration 20
              carthub-bench --url ws://127.0.0.1:8080/ws --url ws://127.0.0.1:8081/ws --closed 1
              carthub-bench --url ws://127.0.0.1:8080/ws --idle --users 5000 --devices 2
            """)

    @Option(name: .customLong("url"), help: "Hub WebSocket URL (repeatable; default ws://127.0.0.1:8080/ws).")
    var urls: [String] = []

    @Option(help: "Users (M).") var users: Int = 500
    @Option(help: "Devices (sockets) per user (k).") var devices: Int = 2
    @Option(help: "Total sockets; sets --users to ceil(N / devices).") var sockets: Int?

    @Option(name: .customLong("token-secret"), help: "HS256 secret for the tokens (default: env JWT_SECRET).")
    var tokenSecret: String?
    @Option(name: .customLong("user-prefix"), help: "User ids are PREFIX-0 … PREFIX-(M-1) (default bench-<random>, fresh carts).")
    var userPrefix: String?

    @Option(help: "Command weights, op=weight of get, add, setQuantity, remove, clear.")
    var mix = "add=50,setQuantity=20,remove=10,get=20"
    @Option(help: "Book ids: a range like bk-0001..bk-0050, or a comma list.")
    var books = "bk-0001..bk-0050"
    @Option(help: "Catalog JSON ([{\"id\",\"stock\",…}]); its ids and stock replace --books.")
    var catalog: String?
    @Option(name: .customLong("cart-lines"), help: "Lines a cart grows to before adds go to existing lines.")
    var cartLines = 5
    @Option(name: .customLong("max-quantity"), help: "Largest quantity of one line (the hub's CARTHUB_MAX_QUANTITY).")
    var maxQuantity = 99

    @Option(help: "Open loop: commands per second over all sockets.") var rate: Double?
    @Option(help: "Closed loop: commands in flight per socket.") var closed: Int?
    @Flag(help: "Open the sockets, hold them for --duration, report the hubs' RSS growth per socket.") var idle = false

    @Option(help: "Seconds measured.") var duration: Double = 10
    @Option(help: "Seconds of load before measuring.") var warmup: Double = 2
    @Option(help: "Seconds to wait for replies still in flight at the end.") var drain: Double = 5

    @Flag(help: "Report the persistence worker's applied rate and lag from REDIS_URL's carthub:metrics.")
    var persistence = false
    @Option(name: .customLong("redis-url"), help: "Redis for --persistence (default: env REDIS_URL).")
    var redisURL: String?
    @Option(name: .customLong("persistence-drain"), help: "Seconds to wait for the worker to catch up after the load.")
    var persistenceDrain: Double = 30

    @Option(name: .customLong("hub-pid"), help: "Hub process to watch (repeatable; default: every running `carthub serve`).")
    var hubPids: [Int32] = []
    @Option(name: .customLong("watch"), help: "NAME=PID: also report the CPU of PID and its descendants as NAME (repeatable; e.g. redis=123).")
    var watch: [String] = []

    @Option(name: .customLong("connect-concurrency"), help: "Handshakes in progress at once.") var connectConcurrency = 200
    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for every socket's hello.") var connectTimeout: Double = 120
    @Option(help: "Seconds to wait after the last hello before measuring (--idle).") var settle: Double = 2
    @Option(help: "Random seed (commands, masking keys).") var seed: UInt64?
    @Option(help: "Name of this run in the JSON.") var label: String?
    @Flag(help: "Print one JSON object on stdout instead of the table.") var json = false
    @Flag(help: "No progress line on stderr.") var quiet = false

    func run() throws {
        let settings: Settings
        do {
            settings = try makeSettings()
        } catch let error as UsageError {
            throw ValidationError(error.description)
        }
        let limit = raiseFileLimit()
        let needed = UInt64(settings.sockets + 64)
        if limit < needed {
            printErr("carthub-bench: warning: RLIMIT_NOFILE is \(limit), fewer than the \(needed) descriptors \(settings.sockets) sockets need")
        }
        if case .open(let rate) = settings.mode, rate / Double(settings.sockets) > 200 {
            printErr("carthub-bench: warning: \(Int(rate / Double(settings.sockets))) commands/s per socket is over the hub's default rate limit (200/s)")
        }
        let bench = try Bench(settings: settings)
        let stats = bench.run()
        let report = Report(settings: settings, stats: stats, machine: MachineInfo.read(),
                            connected: bench.greetedCount, failed: bench.failedCount, connectSeconds: bench.connectSeconds)
        writeAll(1, json ? report.json().encoded() + "\n" : report.table())
        if bench.greetedCount == 0 { throw ExitCode(3) }
    }

    private func makeSettings() throws -> Settings {
        var s = Settings()
        s.urls = urls.isEmpty ? ["ws://127.0.0.1:8080/ws"] : urls
        guard devices >= 1 else { throw UsageError("--devices must be ≥ 1") }
        s.devices = devices
        if let sockets {
            guard sockets >= 1 else { throw UsageError("--sockets must be ≥ 1") }
            s.users = (sockets + devices - 1) / devices
        } else {
            guard users >= 1 else { throw UsageError("--users must be ≥ 1") }
            s.users = users
        }
        guard let secret = tokenSecret ?? env("JWT_SECRET"), secret.utf8.count >= 32 else {
            throw UsageError("a token secret of at least 32 bytes is needed: --token-secret or JWT_SECRET")
        }
        s.secret = secret
        s.userPrefix = userPrefix ?? "bench-" + String(UInt64.random(in: 0..<(1 << 30)), radix: 36)
        guard s.userPrefix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-@:".contains($0)) }), s.userPrefix.count <= 50 else {
            throw UsageError("--user-prefix: up to 50 of A-Z a-z 0-9 _ . - @ :")
        }
        s.mix = try Settings.parseMix(mix)
        if let catalog {
            let (ids, stock) = try loadCatalog(catalog)
            s.books = ids
            s.stock = stock
        } else {
            s.books = try Settings.parseBooks(books)
        }
        guard s.books.count <= 4096 else { throw UsageError("at most 4096 books") }
        guard cartLines >= 1, maxQuantity >= 1, maxQuantity <= 9999 else { throw UsageError("--cart-lines ≥ 1, --max-quantity 1…9999") }
        s.cartLines = cartLines
        s.maxQuantity = maxQuantity
        let modes = [rate != nil, closed != nil, idle].filter { $0 }.count
        guard modes <= 1 else { throw UsageError("choose one of --rate, --closed, --idle") }
        if idle {
            s.mode = .idle
        } else if let closed {
            guard closed >= 1 else { throw UsageError("--closed must be ≥ 1") }
            s.mode = .closed(inFlight: closed)
        } else {
            let r = rate ?? 1000
            guard r > 0, r <= 1_000_000 else { throw UsageError("--rate must be in (0, 1000000]") }
            s.mode = .open(rate: r)
        }
        guard duration > 0, warmup >= 0, drain >= 0, persistenceDrain >= 0, settle >= 0 else {
            throw UsageError("--duration must be > 0; --warmup, --drain, --settle ≥ 0")
        }
        s.duration = duration
        s.warmup = idle ? 0 : warmup
        s.drain = drain
        s.persistence = persistence
        s.persistenceDrain = persistenceDrain
        s.redisURL = redisURL ?? env("REDIS_URL")
        if persistence, s.redisURL == nil { throw UsageError("--persistence needs --redis-url or REDIS_URL") }
        s.hubPids = hubPids.isEmpty ? Proc.discover(subcommand: "serve") : hubPids
        for item in watch {
            let kv = item.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let pid = Int32(kv[1]), pid > 0 else { throw UsageError("--watch wants NAME=PID (got \(item))") }
            s.watch.append((String(kv[0]), pid))
        }
        guard connectConcurrency >= 1, connectTimeout > 0 else { throw UsageError("--connect-concurrency ≥ 1, --connect-timeout > 0") }
        s.connectConcurrency = connectConcurrency
        s.connectTimeout = connectTimeout
        s.settle = settle
        s.seed = seed ?? UInt64.random(in: 1..<UInt64.max)
        s.label = label
        s.json = json
        s.progress = !quiet
        return s
    }

    private func env(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    /// Reads ids and stock from a catalog file, with a minimal scan (the file is ours).
    private func loadCatalog(_ path: String) throws -> ([String], [String: Int]) {
        guard let bytes = readSmallFile(path) else { throw UsageError("cannot read --catalog \(path)") }
        var ids: [String] = []
        var stock: [String: Int] = [:]
        let ok = bytes.withUnsafeBufferPointer { b -> Bool in
            var s = JSONScan(b)
            return s.array { s in
                var id: String?
                var count: Int?
                _ = s.object { key, s in
                    if s.equals(key, "id") {
                        if let r = s.string() { id = String(decoding: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self) }
                    } else if s.equals(key, "stock") {
                        count = s.int().map { Int($0) }
                    }
                }
                if let id {
                    ids.append(id)
                    if let count { stock[id] = count }
                }
            }
        }
        guard ok, !ids.isEmpty else { throw UsageError("--catalog \(path) is not a JSON array of books with ids") }
        return (ids, stock)
    }
}
