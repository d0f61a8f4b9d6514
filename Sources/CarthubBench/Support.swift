import CLibUV
#if canImport(Glibc)
import Glibc
#endif

/// SplitMix64: fast, seedable, good enough to pick commands and masking keys.
struct FastRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<n (n > 0).
    mutating func below(_ n: Int) -> Int {
        Int((next() >> 1) % UInt64(n))
    }

    /// Uniform in range.
    mutating func inRange(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.count)
    }
}

/// A `ws://host:port/path` the bench connects to.
struct HubURL {
    var text: String
    var host: String
    var port: Int
    var path: String
    var address: sockaddr_in

    var hostHeader: String { port == 80 ? host : "\(host):\(port)" }

    init(_ text: String) throws {
        guard text.hasPrefix("ws://") else { throw UsageError("--url must be ws://HOST:PORT/PATH (got \(text))") }
        let rest = text.dropFirst(5)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        path = slash == rest.endIndex ? "/" : String(rest[slash...])
        if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let p = Int(authority[authority.index(after: colon)...]), (1...65535).contains(p) else {
                throw UsageError("bad port in \(text)")
            }
            port = p
        } else {
            host = String(authority)
            port = 80
        }
        guard !host.isEmpty else { throw UsageError("no host in \(text)") }
        self.text = text
        address = try resolveIPv4(host: host == "localhost" ? "127.0.0.1" : host, port: port)
    }
}

struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A timer with microsecond resolution: a Linux timerfd watched by a `uv_poll_t`
/// (libuv's own timers have millisecond resolution, too coarse to pace commands
/// 100 µs apart). timerfd is looked up with dlsym: Swift's Glibc module does not
/// export <sys/timerfd.h>.
final class PreciseTimer {
    private typealias Create = @convention(c) (Int32, Int32) -> Int32
    private typealias SetTime = @convention(c) (Int32, Int32, UnsafePointer<itimerspec>?, UnsafeMutablePointer<itimerspec>?) -> Int32

    private let fd: Int32
    private let setTime: SetTime
    private let poll: UnsafeMutablePointer<uv_poll_t>
    private let body: () -> Void

    init?(loop: UnsafeMutablePointer<uv_loop_t>, _ body: @escaping () -> Void) {
        guard let handle = dlopen(nil, RTLD_NOW),
              let create = dlsym(handle, "timerfd_create"),
              let set = dlsym(handle, "timerfd_settime") else { return nil }
        let timerfdCreate = unsafeBitCast(create, to: Create.self)
        setTime = unsafeBitCast(set, to: SetTime.self)
        // TFD_NONBLOCK | TFD_CLOEXEC (the O_ flags' values on Linux).
        fd = timerfdCreate(CLOCK_MONOTONIC, Int32(O_NONBLOCK | O_CLOEXEC))
        guard fd >= 0 else { return nil }
        self.body = body
        poll = .allocate(capacity: 1)
        uv_poll_init(loop, poll, fd)
        poll.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        uv_poll_start(poll, Int32(UV_READABLE.rawValue)) { handle, _, _ in
            let timer = Unmanaged<PreciseTimer>.fromOpaque(handle!.pointee.data).takeUnretainedValue()
            var expirations: UInt64 = 0
            _ = read(timer.fd, &expirations, 8)
            timer.body()
        }
    }

    /// Fires once at `deadlineNs` on the monotonic clock (uv_hrtime's clock).
    func fire(atNs deadlineNs: UInt64) {
        let when = max(deadlineNs, 1)
        var spec = itimerspec(it_interval: timespec(tv_sec: 0, tv_nsec: 0),
                              it_value: timespec(tv_sec: Int(when / 1_000_000_000), tv_nsec: Int(when % 1_000_000_000)))
        _ = setTime(fd, 1 /* TFD_TIMER_ABSTIME */, &spec, nil)
    }

    func stop() {
        var spec = itimerspec()
        _ = setTime(fd, 0, &spec, nil)
        uv_poll_stop(poll)
    }
}

/// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
@discardableResult
func raiseFileLimit() -> UInt64 {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    return UInt64(limit.rlim_cur)
}

func monotonicNs() -> UInt64 { uv_hrtime() }

func wallClockSeconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec)
}

func printErr(_ text: String) {
    writeAll(2, text + "\n")
}

/// Writes straight to a descriptor (stdio's globals are not concurrency-safe in Swift 6).
func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return }
        bytes = bytes.dropFirst(n)
    }
}
