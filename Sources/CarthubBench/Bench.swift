import Auth
import CLibUV
import Diagnostics
import EventLoop
#if canImport(Glibc)
import Glibc
#endif

/// One command sent and not yet settled (reply and, for a change, the events on
/// the user's other devices).
struct Pending {
    var connection: Int32
    var op: Op
    var book: Int16
    var scheduledNs: UInt64
    var sentNs: UInt64
    var expectedEvents: UInt16
    var seenEvents: UInt16 = 0
    var replied = false
    var ok = false
    var measured: Bool
}

/// The load generator: one libuv loop, every socket, the command model and the
/// measurements. Everything runs on the loop thread.
final class Bench {
    enum Phase { case connecting, settling, running, draining, finishing, done }

    static let readBufferSize = 256 * 1024
    static let requestPrefix = UInt8(ascii: "b")
    /// A reply not seen this long after the send is a timeout; a missing event too.
    static let replyTimeoutNs: UInt64 = 10_000_000_000
    static let eventTimeoutNs: UInt64 = 5_000_000_000

    let settings: Settings
    let loop = EventLoop()
    let uvLoop: UnsafeMutablePointer<uv_loop_t>
    let readBuffer: UnsafeMutablePointer<CChar>
    var random: FastRandom
    let urls: [HubURL]
    private var tokens: [String] = []
    private var connections: [Connection] = []
    private(set) var phase = Phase.connecting
    let startedNs = monotonicNs()

    // Catalog.
    private let books: [String]
    private let bookBytes: [[UInt8]]
    private var bookIndex: [UInt64: Int] = [:]
    /// Largest quantity a line of each book may reach (per-line maximum and stock).
    private let bookMax: [Int]
    private let bookCount: Int
    private var mixTable: [Op] = []

    // Per-user cart model, rows of `bookCount` entries.
    private var model: [UInt16]
    private var best: [UInt16]
    private var pendingBook: [UInt8]
    private var bestEpoch: [Int64]
    private var bestVersion: [Int64]
    private var userInFlight: [Int32]
    private var userClears: [Int32]
    private var liveDevices: [Int16]
    private var scratch: [Int] = []

    // Connecting.
    private var nextToConnect = 0
    private var connectingNow = 0
    private var launching = false
    private(set) var greetedCount = 0
    private(set) var failedCount = 0
    private(set) var connectSeconds = 0.0
    private var live: [Int] = []
    private var liveDirty = true
    private var liveCursor = 0

    // Running.
    private var pending: [UInt64: Pending] = [:]
    private var sequence: UInt64 = 0
    private var runStartNs: UInt64 = 0
    private var warmEndNs: UInt64 = .max
    private var endNs: UInt64 = .max
    private var nextOpenIndex: UInt64 = 0
    private var pacer: PreciseTimer?
    private var drainDeadlineNs: UInt64 = 0
    private var timers: [Timer] = []

    // Measurements.
    private(set) var stats = Stats()
    private var window = Histogram()
    private var windowFanout = Histogram()
    private var windowSent = 0
    private var windowReplies = 0
    private var windowErrors = 0
    private var hubGroups: [WatchedGroup] = []
    private var watchGroups: [WatchedGroup] = []
    private var benchGroup: WatchedGroup
    private var machineStart: (busy: UInt64, total: UInt64)?
    private var persistenceProbe: RedisProbe?
    private var persistenceDrainDeadlineNs: UInt64 = 0
    private var lastApplied: Int64 = -1
    private var stableSince: UInt64 = 0

    struct Stats {
        var reply = Histogram()
        var service = Histogram()
        var fanout = Histogram()
        var fanoutCross = Histogram()
        var fanoutSame = Histogram()
        var sendLag = Histogram()
        var sentMeasured = 0
        var repliedMeasured = 0
        var okMeasured = 0
        var sentTotal = 0
        var byType = [Int](repeating: 0, count: Op.allCases.count)
        var errors: [String: Int] = [:]
        var warmupErrors = 0
        var connectErrors: [String: Int] = [:]
        var fanoutMissing = 0
        var resyncEvents = 0
        var unmatched = 0
        var windowSeconds = 0.0
        var hubRssBeforeKiB: [Int32: Int] = [:]
        var hubRssAfterKiB: [Int32: Int] = [:]
        var hubs: [(pid: Int32, rssKiB: Int, cpuPercent: Double?)] = []
        var cpu: [(name: String, percent: Double?, rssKiB: Int)] = []
        var machineBusyPercent: Double?
        var persistenceBefore: [String: Int64]?
        var persistenceAtEnd: [String: Int64]?
        var persistenceAfter: [String: Int64]?
        var persistenceDrainSeconds = 0.0
        var persistenceError: String?
        var mutationsOk = 0
        /// Commands sent as `get` because no valid change was possible for the user.
        var substitutedGets = 0
    }

    init(settings: Settings) throws {
        self.settings = settings
        uvLoop = settings.uvLoop(of: loop)
        readBuffer = .allocate(capacity: Self.readBufferSize)
        random = FastRandom(seed: settings.seed)
        urls = try settings.urls.map(HubURL.init)
        books = settings.books
        bookBytes = books.map { Array($0.utf8) }
        bookCount = books.count
        bookMax = books.map { min(settings.maxQuantity, settings.stock[$0] ?? settings.maxQuantity) }
        for (i, bytes) in bookBytes.enumerated() {
            let h = Self.hash(bytes[...])
            guard bookIndex[h] == nil else { throw UsageError("two book ids hash alike; rename one: \(books[i])") }
            bookIndex[h] = i
        }
        for entry in settings.mix where entry.weight > 0 {
            mixTable += [Op](repeating: entry.op, count: entry.weight)
        }
        let users = settings.users
        model = [UInt16](repeating: 0, count: users * bookCount)
        best = model
        pendingBook = [UInt8](repeating: 0, count: users * bookCount)
        bestEpoch = [Int64](repeating: 0, count: users)
        bestVersion = [Int64](repeating: -1, count: users)
        userInFlight = [Int32](repeating: 0, count: users)
        userClears = userInFlight
        liveDevices = [Int16](repeating: 0, count: users)
        benchGroup = WatchedGroup(name: "bench", roots: [getpid()], descendants: false)

        let codec = try JWTCodec(secret: Array(settings.secret.utf8))
        let expires = wallClockSeconds() + Int64(settings.warmup + settings.duration + settings.connectTimeout) + 3600
        tokens = (0..<users).map { u in
            codec.sign(JWTClaims(subject: userId(u), expiresAt: expires, issuedAt: wallClockSeconds()))
        }
    }

    func userId(_ u: Int) -> String { "\(settings.userPrefix)-\(u)" }
    func token(forUser u: Int) -> String { tokens[u] }

    // MARK: Running

    func run() -> Stats {
        let hubPids = settings.hubPids
        hubGroups = hubPids.map { WatchedGroup(name: "hub", roots: [$0], descendants: false) }
        watchGroups = settings.watch.map { WatchedGroup(name: $0.name, roots: [$0.pid], descendants: true) }
        for pid in hubPids { stats.hubRssBeforeKiB[pid] = Proc.rssKiB(pid) ?? 0 }

        for i in 0..<settings.sockets {
            connections.append(Connection(index: i, user: i / settings.devices, hub: i % urls.count, bench: self))
        }
        timers.append(loop.schedule(after: 0.25, repeat: 0.25) { [unowned self] in sweep() })
        timers.append(loop.schedule(after: 1, repeat: 1) { [unowned self] in progress() })
        launchConnections()
        loop.run()
        return stats
    }

    private func launchConnections() {
        guard !launching else { return }
        launching = true
        defer { launching = false }
        while connectingNow < settings.connectConcurrency, nextToConnect < connections.count {
            let connection = connections[nextToConnect]
            nextToConnect += 1
            connectingNow += 1
            connection.connect(to: urls[connection.hub].address)
        }
    }

    func opened(_ connection: Connection) {}

    private func connectionSettled() {
        connectingNow -= 1
        launchConnections()
        if phase == .connecting, greetedCount + failedCount == connections.count { allConnected() }
    }

    func connectionFailed(_ connection: Connection, code: String, detail: String, wasOpen: Bool) {
        guard phase != .finishing && phase != .done else { return }
        if !connection.greeted {
            stats.connectErrors[code, default: 0] += 1
            if stats.connectErrors.values.reduce(0, +) <= 5 { printErr("carthub-bench: socket \(connection.index): \(code) \(detail)") }
            failedCount += 1
            connectionSettled()
            return
        }
        liveDevices[connection.user] -= 1
        liveDirty = true
        count(error: code, measured: phase == .running || phase == .draining || phase == .settling)
        printErr("carthub-bench: socket \(connection.index) (user \(userId(connection.user))) lost: \(code) \(detail)")
        // Its commands will never be answered.
        let lost = pending.filter { $0.value.connection == Int32(connection.index) && !$0.value.replied }
        for (seq, p) in lost {
            if p.measured { count(error: "NO_REPLY_SOCKET_CLOSED", measured: true) }
            releaseUser(p, user: connection.user)
            pending[seq] = nil
        }
    }

    private func allConnected() {
        connectSeconds = Double(monotonicNs() - startedNs) / 1e9
        printErr("carthub-bench: \(greetedCount)/\(connections.count) sockets open (hello received) in \(format(connectSeconds, 1)) s" + (failedCount > 0 ? ", \(failedCount) failed" : ""))
        guard greetedCount > 0 else {
            printErr("carthub-bench: no socket could be opened; is the hub running at \(settings.urls.joined(separator: ", "))?")
            finish()
            return
        }
        if settings.mode == .idle {
            phase = .settling
            timers.append(loop.schedule(after: settings.settle) { [unowned self] in beginIdleHold() })
            return
        }
        phase = .running
        runStartNs = monotonicNs()
        warmEndNs = runStartNs + UInt64(settings.warmup * 1e9)
        endNs = warmEndNs + UInt64(settings.duration * 1e9)
        timers.append(loop.schedule(after: settings.warmup) { [unowned self] in beginWindow() })
        timers.append(loop.schedule(after: settings.warmup + settings.duration) { [unowned self] in endWindow() })
        if settings.warmup == 0 { beginWindow() }
        switch settings.mode {
        case .open:
            guard let pacer = PreciseTimer(loop: uvLoop, { [unowned self] in paceOpenLoop() }) else {
                printErr("carthub-bench: timerfd unavailable")
                finish()
                return
            }
            self.pacer = pacer
            paceOpenLoop()
        case .closed(let n):
            let now = monotonicNs()
            for connection in liveConnections() {
                for _ in 0..<n { send(on: connections[connection], scheduledNs: now) }
            }
        case .idle:
            break
        }
    }

    private func beginIdleHold() {
        for group in hubGroups { stats.hubRssAfterKiB[group.roots[0]] = Proc.rssKiB(group.roots[0]) ?? 0 }
        beginWindow()
        phase = .running
        runStartNs = monotonicNs()
        warmEndNs = runStartNs
        endNs = runStartNs + UInt64(settings.duration * 1e9)
        timers.append(loop.schedule(after: settings.duration) { [unowned self] in endWindow() })
    }

    private func beginWindow() {
        let now = monotonicNs()
        for i in hubGroups.indices { hubGroups[i].begin(now: now) }
        for i in watchGroups.indices { watchGroups[i].begin(now: now) }
        benchGroup.begin(now: now)
        machineStart = Proc.machine()
        if settings.persistence { stats.persistenceBefore = readPersistence() }
    }

    private func endWindow() {
        let now = monotonicNs()
        stats.windowSeconds = Double(now - max(warmEndNs, runStartNs)) / 1e9
        if settings.mode != .idle { stats.windowSeconds = settings.duration }
        for i in hubGroups.indices { hubGroups[i].end(now: now) }
        for i in watchGroups.indices { watchGroups[i].end(now: now) }
        benchGroup.end(now: now)
        stats.hubs = hubGroups.map { ($0.roots[0], $0.rssKiB, $0.cpuPercent) }
        var cpu: [(String, Double?, Int)] = []
        if !hubGroups.isEmpty {
            cpu.append(("hub", hubGroups.compactMap(\.cpuPercent).reduce(0, +), hubGroups.map(\.rssKiB).reduce(0, +)))
        }
        for group in watchGroups {
            if let i = cpu.firstIndex(where: { $0.0 == group.name }) {
                cpu[i].1 = (cpu[i].1 ?? 0) + (group.cpuPercent ?? 0)
                cpu[i].2 += group.rssKiB
            } else {
                cpu.append((group.name, group.cpuPercent, group.rssKiB))
            }
        }
        cpu.append(("bench", benchGroup.cpuPercent, benchGroup.rssKiB))
        if let a = machineStart, let b = Proc.machine(), b.total > a.total {
            let busy = Double(b.busy - a.busy) / Double(b.total - a.total) * 100
            stats.machineBusyPercent = busy
            // Everything else on the machine (other builds, tests, the kernel's own work).
            let known = cpu.compactMap(\.1).reduce(0, +)
            let cores = Double(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
            cpu.append(("other", max(0, busy * cores - known), 0))
        }
        stats.cpu = cpu
        if settings.persistence { stats.persistenceAtEnd = readPersistence() }
        pacer?.stop()
        phase = .draining
        drainDeadlineNs = now + UInt64(settings.drain * 1e9)
        timers.append(loop.schedule(after: 0.01, repeat: 0.01) { [unowned self] in checkDrained() })
    }

    private func checkDrained() {
        guard phase == .draining else { return }
        let now = monotonicNs()
        let settled = !pending.values.contains { !$0.replied || ($0.ok && $0.seenEvents < $0.expectedEvents) }
        guard settled || now >= drainDeadlineNs else { return }
        for (_, p) in pending where p.measured {
            if !p.replied {
                count(error: "TIMEOUT", measured: true)
            } else if p.ok, p.seenEvents < p.expectedEvents {
                stats.fanoutMissing += Int(p.expectedEvents - p.seenEvents)
            }
        }
        pending.removeAll()
        if settings.persistence {
            phase = .finishing
            persistenceDrainDeadlineNs = now + UInt64(settings.persistenceDrain * 1e9)
            stableSince = now
            printErr("carthub-bench: waiting for the worker to catch up (at most \(Int(settings.persistenceDrain)) s)")
            timers.append(loop.schedule(after: 0.25, repeat: 0.25) { [unowned self] in checkPersistenceDrained() })
        } else {
            finish()
        }
    }

    private func checkPersistenceDrained() {
        let now = monotonicNs()
        let snapshot = readPersistence()
        let applied = (snapshot?["jobs_applied"] ?? 0) + (snapshot?["jobs_skipped"] ?? 0) + (snapshot?["full_syncs"] ?? 0)
        if applied != lastApplied {
            lastApplied = applied
            stableSince = now
        }
        // Stable for a second (the worker polls every 100 ms), or out of time.
        if now - stableSince >= 1_000_000_000 || now >= persistenceDrainDeadlineNs {
            stats.persistenceAfter = snapshot
            stats.persistenceDrainSeconds = max(0, Double(Int64(stableSince) - Int64(endNs)) / 1e9)
            finish()
        }
    }

    private func readPersistence() -> [String: Int64]? {
        do {
            if persistenceProbe == nil {
                guard let url = settings.redisURL else { throw UsageError("--persistence needs REDIS_URL or --redis-url") }
                persistenceProbe = try RedisProbe(url: url)
            }
            return try persistenceProbe!.integerHash("carthub:metrics")
        } catch {
            stats.persistenceError = "\(error)"
            persistenceProbe = nil
            return nil
        }
    }

    private func finish() {
        guard phase != .done else { return }
        phase = .finishing
        pacer?.stop()
        for timer in timers { timer.cancel() }
        timers = []
        for connection in connections { connection.close() }
        phase = .done
        // Let libuv flush the close frames and close the handles, then stop.
        loop.schedule(after: 0.2) { [unowned self] in loop.stop() }
    }

    // MARK: Sending

    private func liveConnections() -> [Int] {
        if liveDirty {
            // Device-major order: consecutive commands go to different users, and
            // a user's devices take their turns `users` commands apart.
            let devices = settings.devices
            live = connections.indices.filter { connections[$0].greeted && connections[$0].state == .open }
                .sorted { ($0 % devices, $0 / devices) < ($1 % devices, $1 / devices) }
            liveDirty = false
        }
        return live
    }

    private func paceOpenLoop() {
        guard phase == .running, case .open(let rate) = settings.mode else { return }
        let now = monotonicNs()
        let interval = 1e9 / rate
        while true {
            let due = runStartNs + UInt64(Double(nextOpenIndex) * interval)
            if due >= endNs { pacer?.stop(); return }
            // Within 20 µs counts as due: waking up that close is not worth it.
            if due > now + 20_000 { pacer?.fire(atNs: due); return }
            let sockets = liveConnections()
            guard !sockets.isEmpty else { pacer?.stop(); return }
            liveCursor = (liveCursor + 1) % sockets.count
            send(on: connections[sockets[liveCursor]], scheduledNs: due)
            nextOpenIndex += 1
        }
    }

    private func send(on connection: Connection, scheduledNs: UInt64) {
        let u = connection.user
        let (op, book, quantity) = chooseCommand(user: u)
        sequence += 1
        let seq = sequence
        var payload = [UInt8]()
        payload.reserveCapacity(112)
        payload.append(contentsOf: #"{"type":""#.utf8)
        op.wireType.withUTF8Buffer { payload.append(contentsOf: $0) }
        payload.append(contentsOf: #"","requestId":"b"#.utf8)
        appendBase36(seq, to: &payload)
        payload.append(UInt8(ascii: "\""))
        if book >= 0 {
            payload.append(contentsOf: #","bookId":""#.utf8)
            payload.append(contentsOf: bookBytes[book])
            payload.append(UInt8(ascii: "\""))
        }
        if op == .add || op == .setQuantity {
            payload.append(contentsOf: #","quantity":"#.utf8)
            payload.append(contentsOf: String(quantity).utf8)
        }
        payload.append(UInt8(ascii: "}"))

        let measured = scheduledNs >= warmEndNs && scheduledNs < endNs
        let now = monotonicNs()
        let expected = op.mutates ? UInt16(max(0, Int(liveDevices[u]) - 1)) : 0
        pending[seq] = Pending(connection: Int32(connection.index), op: op, book: Int16(book), scheduledNs: scheduledNs,
                               sentNs: now, expectedEvents: expected, measured: measured)
        // Predict the outcome so the next command of this user stays valid.
        let row = u * bookCount
        switch op {
        case .add: model[row + book] += UInt16(quantity)
        case .setQuantity: model[row + book] = UInt16(quantity)
        case .remove: model[row + book] = 0
        case .clear: for i in row..<(row + bookCount) { model[i] = 0 }
        case .get: break
        }
        userInFlight[u] += 1
        if op.mutates, book >= 0 { pendingBook[row + book] += 1 }
        if op == .clear { userClears[u] += 1 }
        stats.sentTotal += 1
        windowSent += 1
        if measured {
            stats.sentMeasured += 1
            stats.byType[op.rawValue] += 1
            stats.sendLag.record(nanos: now - min(now, scheduledNs))
        }
        connection.sendText(payload)
    }

    /// A command that is valid for the user's cart as it will be once every
    /// command in flight is applied: lines being changed are left alone, carts
    /// stay near `cartLines` lines, quantities within the book's maximum.
    private func chooseCommand(user u: Int) -> (Op, Int, Int) {
        let row = u * bookCount
        var op = mixTable[random.below(mixTable.count)]
        if op == .clear, userInFlight[u] > 0 { op = .get }
        if op == .setQuantity || op == .remove {
            scratch.removeAll(keepingCapacity: true)
            for b in 0..<bookCount where model[row + b] > 0 && pendingBook[row + b] == 0 { scratch.append(b) }
            if let b = scratch.isEmpty ? nil : scratch[random.below(scratch.count)] {
                if op == .remove { return (.remove, b, 0) }
                return (.setQuantity, b, random.inRange(1...max(1, min(5, bookMax[b]))))
            }
            op = .add
        }
        if op == .add {
            var lines = 0
            for b in 0..<bookCount where model[row + b] > 0 { lines += 1 }
            scratch.removeAll(keepingCapacity: true)
            if lines < settings.cartLines {
                for b in 0..<bookCount where model[row + b] == 0 && pendingBook[row + b] == 0 && bookMax[b] >= 1 { scratch.append(b) }
            }
            if scratch.isEmpty {
                for b in 0..<bookCount where model[row + b] > 0 && pendingBook[row + b] == 0 && Int(model[row + b]) < bookMax[b] { scratch.append(b) }
            }
            // Every line is busy (many commands of this user in flight): grow the
            // cart past `cartLines` rather than skew the mix towards gets; stay
            // well under the hub's 100-line limit.
            if scratch.isEmpty, lines < min(90, bookCount) {
                for b in 0..<bookCount where model[row + b] == 0 && pendingBook[row + b] == 0 && bookMax[b] >= 1 { scratch.append(b) }
            }
            if let b = scratch.isEmpty ? nil : scratch[random.below(scratch.count)] {
                let room = bookMax[b] - Int(model[row + b])
                return (.add, b, random.inRange(1...max(1, min(2, room))))
            }
            stats.substitutedGets += 1
            return (.get, -1, 0)
        }
        return (op, -1, 0)
    }

    // MARK: Receiving

    func receivedText(_ payload: [UInt8], on connection: Connection) {
        let now = monotonicNs()
        payload.withUnsafeBufferPointer { b in
            guard let m = ServerMessage.parse(b) else {
                count(error: "BAD_MESSAGE", measured: phase == .running)
                return
            }
            switch m.kind {
            case .hello: hello(m, b, on: connection)
            case .reply: reply(m, b, on: connection, now: now)
            case .cartUpdated: event(m, b, on: connection, now: now)
            case .other: break
            }
        }
    }

    private func hello(_ m: ServerMessage, _ b: UnsafeBufferPointer<UInt8>, on connection: Connection) {
        guard !connection.greeted else { return }
        connection.greeted = true
        greetedCount += 1
        liveDevices[connection.user] += 1
        liveDirty = true
        if let cart = m.cart { learn(cart, b, user: connection.user) }
        if userInFlight[connection.user] == 0 { syncModel(connection.user) }
        connectionSettled()
    }

    private func reply(_ m: ServerMessage, _ b: UnsafeBufferPointer<UInt8>, on connection: Connection, now: UInt64) {
        guard let rid = m.requestId, let seq = parseSequence(b, rid), var p = pending[seq], !p.replied else {
            stats.unmatched += 1
            if !m.ok { count(error: m.code.map { String(decoding: UnsafeBufferPointer(rebasing: b[$0]), as: UTF8.self) } ?? "UNKNOWN", measured: phase == .running) }
            return
        }
        let latency = now - min(now, p.scheduledNs)
        window.record(nanos: latency)
        windowReplies += 1
        if p.measured {
            stats.reply.record(nanos: latency)
            stats.service.record(nanos: now - min(now, p.sentNs))
            stats.repliedMeasured += 1
        }
        let u = connection.user
        if m.ok {
            if p.measured { stats.okMeasured += 1 }
            if p.op.mutates { stats.mutationsOk += 1 }
            if let cart = m.cart { learn(cart, b, user: u) }
        } else {
            let code = m.code.map { String(decoding: UnsafeBufferPointer(rebasing: b[$0]), as: UTF8.self) } ?? "UNKNOWN"
            count(error: code, measured: p.measured)
        }
        p.replied = true
        p.ok = m.ok
        releaseUser(p, user: u)
        if !p.op.mutates || !m.ok || p.seenEvents >= p.expectedEvents {
            pending[seq] = nil
        } else {
            pending[seq] = p
        }
        if case .closed = settings.mode, phase == .running, now < endNs, connection.state == .open {
            send(on: connection, scheduledNs: now)
        }
    }

    private func event(_ m: ServerMessage, _ b: UnsafeBufferPointer<UInt8>, on connection: Connection, now: UInt64) {
        let u = connection.user
        if let cart = m.cart {
            learn(cart, b, user: u)
            if userInFlight[u] == 0 { syncModel(u) }
        }
        guard let rid = m.originRequestId else {
            stats.resyncEvents += 1
            return
        }
        guard let seq = parseSequence(b, rid), var p = pending[seq] else { return }
        guard p.connection != Int32(connection.index) else { return }
        p.seenEvents += 1
        let latency = now - min(now, p.scheduledNs)
        windowFanout.record(nanos: latency)
        if p.measured {
            stats.fanout.record(nanos: latency)
            if connections[Int(p.connection)].hub != connection.hub {
                stats.fanoutCross.record(nanos: latency)
            } else {
                stats.fanoutSame.record(nanos: latency)
            }
        }
        if p.replied && p.seenEvents >= p.expectedEvents {
            pending[seq] = nil
        } else {
            pending[seq] = p
        }
    }

    private func releaseUser(_ p: Pending, user u: Int) {
        userInFlight[u] -= 1
        if p.op.mutates, p.book >= 0 { pendingBook[u * bookCount + Int(p.book)] -= 1 }
        if p.op == .clear { userClears[u] -= 1 }
        if userInFlight[u] == 0 { syncModel(u) }
    }

    /// With nothing in flight, the newest cart seen is the user's cart.
    private func syncModel(_ u: Int) {
        guard bestVersion[u] >= 0 else { return }
        let row = u * bookCount
        for i in row..<(row + bookCount) { model[i] = best[i] }
    }

    /// Keeps the newest (epoch, version) cart seen for the user.
    private func learn(_ cart: Range<Int>, _ b: UnsafeBufferPointer<UInt8>, user u: Int) {
        let row = u * bookCount
        ServerMessage.readCart(b, cart, header: { epoch, version in
            guard epoch > bestEpoch[u] || (epoch == bestEpoch[u] && version > bestVersion[u]) else { return false }
            bestEpoch[u] = epoch
            bestVersion[u] = version
            for i in row..<(row + bookCount) { best[i] = 0 }
            return true
        }, line: { bookRange, quantity in
            let h = Self.hash(UnsafeBufferPointer(rebasing: b[bookRange]))
            guard let index = bookIndex[h], bookBytes[index].count == bookRange.count else { return }
            best[row + index] = UInt16(clamping: quantity)
        })
    }

    private func parseSequence(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> UInt64? {
        guard r.count >= 2, b[r.lowerBound] == Self.requestPrefix else { return nil }
        var value: UInt64 = 0
        for i in (r.lowerBound + 1)..<r.upperBound {
            let c = b[i]
            let digit: UInt64
            switch c {
            case 0x30...0x39: digit = UInt64(c - 0x30)
            case 0x61...0x7A: digit = UInt64(c - 0x61 + 10)
            default: return nil
            }
            value = value &* 36 &+ digit
        }
        return value
    }

    private func appendBase36(_ value: UInt64, to out: inout [UInt8]) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = value
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                let r = UInt8(n % 36)
                d[count] = r < 10 ? 0x30 + r : 0x61 + r - 10
                count += 1
                n /= 36
            } while n > 0
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(d[i]) }
        }
    }

    static func hash<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01B3
        }
        return h
    }

    private func count(error code: String, measured: Bool) {
        windowErrors += 1
        if measured { stats.errors[code, default: 0] += 1 } else { stats.warmupErrors += 1 }
    }

    // MARK: Housekeeping

    private func sweep() {
        let now = monotonicNs()
        if phase == .connecting {
            let limit = UInt64(min(settings.connectTimeout, 30) * 1e9)
            for connection in connections where !connection.greeted && (connection.state == .connecting || connection.state == .handshaking || connection.state == .open) {
                if now - connection.connectStartedNs > limit { connection.abandon(code: "HANDSHAKE_TIMEOUT") }
            }
            if now - startedNs > UInt64(settings.connectTimeout * 1e9) {
                printErr("carthub-bench: gave up waiting for sockets after \(Int(settings.connectTimeout)) s")
                for connection in connections where !connection.greeted && connection.state != .closed { connection.abandon(code: "CONNECT_TIMEOUT") }
                for connection in connections where connection.state == .waiting {
                    stats.connectErrors["CONNECT_TIMEOUT", default: 0] += 1
                    failedCount += 1
                    connection.markSkipped()
                }
                nextToConnect = connections.count
                if greetedCount + failedCount >= connections.count, phase == .connecting { allConnected() }
            }
            return
        }
        guard phase == .running else { return }
        var expired: [UInt64] = []
        for (seq, p) in pending {
            if !p.replied, now - p.sentNs > Self.replyTimeoutNs {
                expired.append(seq)
            } else if p.replied, now - p.sentNs > Self.eventTimeoutNs {
                expired.append(seq)
            }
        }
        for seq in expired {
            guard let p = pending.removeValue(forKey: seq) else { continue }
            if !p.replied {
                count(error: "TIMEOUT", measured: p.measured)
                releaseUser(p, user: connections[Int(p.connection)].user)
            } else if p.measured {
                stats.fanoutMissing += Int(p.expectedEvents - min(p.expectedEvents, p.seenEvents))
            }
        }
    }

    private func progress() {
        guard settings.progress else { return }
        let elapsed = Double(monotonicNs() - startedNs) / 1e9
        var line = "[\(pad(String(Int(elapsed.rounded())), 4))s] "
        switch phase {
        case .connecting:
            line += "connecting: \(greetedCount)/\(connections.count) open, \(failedCount) failed, \(connectingNow) in progress"
        case .settling:
            line += "settling: \(greetedCount) sockets open"
        case .running where settings.mode == .idle:
            let rss = hubGroups.map { Proc.rssKiB($0.roots[0]) ?? 0 }.reduce(0, +)
            line += "idle: holding \(liveConnections().count) sockets, hub RSS \(format(Double(rss) / 1024, 1)) MiB"
        case .running, .draining:
            let now = monotonicNs()
            let stage = phase == .draining ? "draining" : (now < warmEndNs ? "warm-up " : "measure ")
            line += "\(stage) sent \(windowSent)/s replies \(windowReplies)/s"
            line += " p50 \(ms(window.percentileMs(50))) p99 \(ms(window.percentileMs(99))) ms"
            line += " fan-out p99 \(ms(windowFanout.percentileMs(99))) ms"
            line += " pending \(pending.count) errors \(windowErrors) sockets \(liveConnections().count)"
        case .finishing:
            line += "waiting for the persistence worker"
        case .done:
            return
        }
        printErr(line)
        window.reset()
        windowFanout.reset()
        windowSent = 0
        windowReplies = 0
        windowErrors = 0
    }
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

func format(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "-" }
    var scale = 1
    for _ in 0..<decimals { scale *= 10 }
    let n = Int((abs(value) * Double(scale)).rounded())
    var text = (value < 0 && n != 0 ? "-" : "") + String(n / scale)
    if decimals > 0 {
        let fraction = String(n % scale)
        text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }
    return text
}

func ms(_ value: Double?) -> String {
    guard let value else { return "-" }
    return value < 10 ? format(value, 2) : value < 100 ? format(value, 1) : format(value, 0)
}

extension Settings {
    func uvLoop(of loop: EventLoop) -> UnsafeMutablePointer<uv_loop_t> {
        loop.rawLoop.assumingMemoryBound(to: uv_loop_t.self)
    }
}
