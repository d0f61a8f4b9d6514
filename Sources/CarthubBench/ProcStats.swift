#if canImport(Glibc)
import Glibc
#endif

/// Reads a small file (procfs, cpuinfo) whole; nil if it cannot be opened.
func readSmallFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 16384)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return out.isEmpty ? nil : out }
        if n == 0 { return out }
        out.append(contentsOf: chunk[0..<n])
    }
}

func readText(_ path: String) -> String? {
    readSmallFile(path).map { String(decoding: $0, as: UTF8.self) }
}

enum Proc {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// utime + stime of a process, in clock ticks; and its parent pid.
    static func stat(_ pid: Int32) -> (ticks: UInt64, ppid: Int32)? {
        guard let text = readText("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] = state, [1] = ppid, …, [11] = utime, [12] = stime
        guard fields.count > 12, let utime = UInt64(fields[11]), let stime = UInt64(fields[12]), let ppid = Int32(fields[1]) else { return nil }
        return (utime + stime, ppid)
    }

    /// Resident set size in KiB (VmRSS).
    static func rssKiB(_ pid: Int32) -> Int? {
        guard let text = readText("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }

    static func cmdline(_ pid: Int32) -> [String] {
        guard let bytes = readSmallFile("/proc/\(pid)/cmdline") else { return [] }
        return bytes.split(separator: 0, omittingEmptySubsequences: true).map { String(decoding: $0, as: UTF8.self) }
    }

    static func allPids() -> [Int32] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var pids: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let pid = Int32(name) { pids.append(pid) }
        }
        return pids
    }

    /// `pid` and every process below it.
    static func withDescendants(_ root: Int32) -> [Int32] {
        var parent: [Int32: Int32] = [:]
        for pid in allPids() { if let s = stat(pid) { parent[pid] = s.ppid } }
        var result = [root]
        var frontier: Set<Int32> = [root]
        while !frontier.isEmpty {
            let next = parent.filter { frontier.contains($0.value) }.map(\.key)
            result += next
            frontier = Set(next)
        }
        return result
    }

    /// Running `carthub serve` processes (argv[0] named carthub, an argument `serve`).
    static func discover(subcommand: String) -> [Int32] {
        let me = getpid()
        return allPids().filter { pid in
            guard pid != me else { return false }
            let args = cmdline(pid)
            guard let first = args.first else { return false }
            let base = first.split(separator: "/").last.map(String.init) ?? first
            return base == "carthub" && args.dropFirst().first == subcommand
        }.sorted()
    }

    /// Busy and total jiffies of the whole machine (/proc/stat's first line).
    static func machine() -> (busy: UInt64, total: UInt64)? {
        guard let text = readText("/proc/stat"), let line = text.split(separator: "\n").first else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard values.count >= 5 else { return nil }
        let total = values.prefix(8).reduce(0, +)
        let idle = values[3] + values[4] // idle + iowait
        return (total - idle, total)
    }
}

/// A named set of processes whose CPU time is watched over the measurement window.
struct WatchedGroup {
    var name: String
    var roots: [Int32]
    /// Whether to include every descendant of each root (Postgres backends).
    var descendants: Bool
    private var startTicks: [Int32: UInt64] = [:]
    private var startNs: UInt64 = 0
    private(set) var cpuPercent: Double?
    private(set) var rssKiB: Int = 0

    init(name: String, roots: [Int32], descendants: Bool) {
        self.name = name
        self.roots = roots
        self.descendants = descendants
    }

    private func members() -> [Int32] {
        descendants ? roots.flatMap { Proc.withDescendants($0) } : roots
    }

    mutating func begin(now: UInt64) {
        startNs = now
        startTicks = [:]
        for pid in members() { if let s = Proc.stat(pid) { startTicks[pid] = s.ticks } }
    }

    /// Percent of one core over the window (100 = one core fully busy).
    mutating func end(now: UInt64) {
        var ticks: UInt64 = 0
        var rss = 0
        for pid in members() {
            guard let s = Proc.stat(pid) else { continue }
            ticks += s.ticks - min(s.ticks, startTicks[pid] ?? s.ticks)
            rss += Proc.rssKiB(pid) ?? 0
        }
        let seconds = Double(now - startNs) / 1e9
        cpuPercent = seconds > 0 ? Double(ticks) / Proc.ticksPerSecond / seconds * 100 : nil
        rssKiB = rss
    }
}

struct MachineInfo {
    var nproc: Int
    var cpuModel: String
    var memTotalMiB: Int
    var kernel: String

    static func read() -> MachineInfo {
        let nproc = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        var model = "unknown"
        if let text = readText("/proc/cpuinfo") {
            for line in text.split(separator: "\n") where line.hasPrefix("model name") {
                if let colon = line.firstIndex(of: ":") {
                    model = line[line.index(after: colon)...].trimmingSet(" \t")
                }
                break
            }
        }
        var mem = 0
        if let text = readText("/proc/meminfo") {
            for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
                mem = (Int(line.dropFirst(9).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") ?? 0) / 1024
            }
        }
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return MachineInfo(nproc: nproc, cpuModel: model, memTotalMiB: mem, kernel: release)
    }
}
