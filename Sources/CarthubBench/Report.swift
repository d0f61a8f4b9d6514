import Diagnostics

/// A JSON value for the report, with members kept in insertion order.
indirect enum J {
    case number(Double)
    case int(Int)
    case string(String)
    case bool(Bool)
    case null
    case array([J])
    case object([(String, J)])

    static func num(_ value: Double?, _ decimals: Int = 3) -> J {
        guard let value, value.isFinite else { return .null }
        return .number((value * pow10(decimals)).rounded() / pow10(decimals))
    }

    private static func pow10(_ n: Int) -> Double {
        var v = 1.0
        for _ in 0..<n { v *= 10 }
        return v
    }

    func encoded(indent: Int = 0, pretty: Bool = false) -> String {
        var out = ""
        write(to: &out, indent: indent, pretty: pretty)
        return out
    }

    private func write(to out: inout String, indent: Int, pretty: Bool) {
        switch self {
        case .number(let v):
            if v == v.rounded(), abs(v) < 1e15 { out += String(Int(v)) } else { out += String(v) }
        case .int(let v): out += String(v)
        case .string(let s): J.quote(s, into: &out)
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                item.write(to: &out, indent: indent + 1, pretty: pretty)
            }
            if pretty, !items.isEmpty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                J.quote(key, into: &out)
                out += pretty ? ": " : ":"
                value.write(to: &out, indent: indent + 1, pretty: pretty)
            }
            if pretty, !members.isEmpty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "}"
        }
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// Turns a finished run into the JSON object and the table for people.
struct Report {
    let settings: Settings
    let stats: Bench.Stats
    let machine: MachineInfo
    let connected: Int
    let failed: Int
    let connectSeconds: Double

    var throughput: Double? {
        guard settings.mode != .idle, stats.windowSeconds > 0 else { return nil }
        return Double(stats.repliedMeasured) / stats.windowSeconds
    }

    var hubRssKiB: Int { stats.hubs.map(\.rssKiB).reduce(0, +) }
    var hubCpuPercent: Double? {
        let values = stats.hubs.compactMap(\.cpuPercent)
        return values.isEmpty ? nil : values.reduce(0, +)
    }

    /// Idle mode: growth of the hubs' RSS per open socket.
    var rssPerSocketKiB: Double? {
        guard settings.mode == .idle, connected > 0, !stats.hubRssAfterKiB.isEmpty else { return nil }
        var delta = 0
        for (pid, after) in stats.hubRssAfterKiB { delta += after - (stats.hubRssBeforeKiB[pid] ?? after) }
        return Double(delta) / Double(connected)
    }

    struct Persistence {
        var appliedPerSec: Double?
        var jobsApplied: Int64
        var lagCount: Int64
        var lagP50: Double?
        var lagP99: Double?
        var lagMean: Double?
        var drainSeconds: Double
    }

    var persistence: Persistence? {
        guard settings.persistence, let before = stats.persistenceBefore, let after = stats.persistenceAfter else { return nil }
        func delta(_ key: String, _ to: [String: Int64]? = nil) -> Int64 { ((to ?? after)[key] ?? 0) - (before[key] ?? 0) }
        var applied: Double?
        if let atEnd = stats.persistenceAtEnd, stats.windowSeconds > 0 {
            applied = Double(delta("jobs_applied", atEnd)) / stats.windowSeconds
        }
        var buckets: [(upper: Double, count: Int64)] = LatencyBuckets.milliseconds.map { bound in
            (bound, delta("lag:le:\(LatencyBuckets.format(bound))"))
        }
        buckets.append((.infinity, delta("lag:le:+Inf")))
        let count = delta("lag:count")
        return Persistence(
            appliedPerSec: applied,
            jobsApplied: delta("jobs_applied"),
            lagCount: count,
            lagP50: bucketPercentile(buckets, 50),
            lagP99: bucketPercentile(buckets, 99),
            lagMean: count > 0 ? Double(delta("lag:sum_us")) / Double(count) / 1000 : nil,
            drainSeconds: stats.persistenceDrainSeconds)
    }

    private func histogramJSON(_ h: Histogram) -> J {
        .object([
            ("count", .int(Int(h.count))),
            ("p50Ms", .num(h.percentileMs(50))), ("p90Ms", .num(h.percentileMs(90))),
            ("p99Ms", .num(h.percentileMs(99))), ("p999Ms", .num(h.percentileMs(99.9))),
            ("maxMs", .num(h.maxMs)), ("meanMs", .num(h.meanMs)),
        ])
    }

    func json() -> J {
        var settingsJSON: [(String, J)] = [
            ("mode", .string(settings.mode.name)),
            ("urls", .array(settings.urls.map { .string($0) })),
            ("users", .int(settings.users)), ("devices", .int(settings.devices)), ("sockets", .int(settings.sockets)),
        ]
        switch settings.mode {
        case .open(let rate): settingsJSON.append(("rate", .num(rate)))
        case .closed(let n): settingsJSON.append(("closed", .int(n)))
        case .idle: break
        }
        settingsJSON += [
            ("durationS", .num(settings.duration)), ("warmupS", .num(settings.warmup)),
            ("mix", .string(settings.mix.map { "\($0.op.name)=\($0.weight)" }.joined(separator: ","))),
            ("books", .int(settings.books.count)),
            ("booksRange", .string(settings.books.count > 1 ? "\(settings.books.first!)..\(settings.books.last!)" : settings.books.first ?? "")),
            ("cartLines", .int(settings.cartLines)), ("maxQuantity", .int(settings.maxQuantity)),
            ("stockKnown", .bool(!settings.stock.isEmpty)),
            ("persistence", .bool(settings.persistence)),
            ("userPrefix", .string(settings.userPrefix)), ("seed", .int(Int(truncatingIfNeeded: settings.seed))),
        ]
        var members: [(String, J)] = [
            ("tool", .string("carthub-bench")),
            ("label", settings.label.map { .string($0) } ?? .null),
            ("mode", .string(settings.mode.name)),
            ("settings", .object(settingsJSON)),
            ("machine", .object([
                ("nproc", .int(machine.nproc)), ("cpuModel", .string(machine.cpuModel)),
                ("memTotalMiB", .int(machine.memTotalMiB)), ("kernel", .string(machine.kernel)),
            ])),
            ("socketsOpen", .int(connected)), ("socketsFailed", .int(failed)), ("connectSeconds", .num(connectSeconds, 2)),
            ("windowSeconds", .num(stats.windowSeconds, 2)),
            ("throughput", .num(throughput, 1)),
            ("okPerSecond", .num(settings.mode == .idle || stats.windowSeconds == 0 ? nil : Double(stats.okMeasured) / stats.windowSeconds, 1)),
            ("commands", .int(stats.sentMeasured)), ("replies", .int(stats.repliedMeasured)),
            ("commandsByType", .object(Op.allCases.map { ($0.name, .int(stats.byType[$0.rawValue])) })),
            ("substitutedGets", .int(stats.substitutedGets)),
            ("replyP50Ms", .num(stats.reply.percentileMs(50))),
            ("replyP99Ms", .num(stats.reply.percentileMs(99))),
            ("fanoutP50Ms", .num(stats.fanout.percentileMs(50))),
            ("fanoutP99Ms", .num(stats.fanout.percentileMs(99))),
            ("fanoutCrossP50Ms", .num(stats.fanoutCross.percentileMs(50))),
            ("fanoutCrossP99Ms", .num(stats.fanoutCross.percentileMs(99))),
            ("fanoutSameP50Ms", .num(stats.fanoutSame.percentileMs(50))),
            ("fanoutSameP99Ms", .num(stats.fanoutSame.percentileMs(99))),
            ("latency", .object([
                ("reply", histogramJSON(stats.reply)),
                ("replyFromSend", histogramJSON(stats.service)),
                ("fanout", histogramJSON(stats.fanout)),
                ("fanoutCrossInstance", histogramJSON(stats.fanoutCross)),
                ("fanoutSameInstance", histogramJSON(stats.fanoutSame)),
                ("sendLag", histogramJSON(stats.sendLag)),
            ])),
            ("fanoutMissing", .int(stats.fanoutMissing)),
            ("errors", .object(stats.errors.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
            ("errorCount", .int(stats.errors.values.reduce(0, +))),
            ("warmupErrors", .int(stats.warmupErrors)),
            ("connectErrors", .object(stats.connectErrors.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
            ("resyncEvents", .int(stats.resyncEvents)),
            ("hubRssMiB", .num(stats.hubs.isEmpty ? nil : Double(hubRssKiB) / 1024, 1)),
            ("hubCpuPercent", .num(hubCpuPercent, 1)),
            ("hubs", .array(stats.hubs.map { hub in
                .object([("pid", .int(Int(hub.pid))), ("rssMiB", .num(Double(hub.rssKiB) / 1024, 1)), ("cpuPercent", .num(hub.cpuPercent, 1))])
            })),
            ("cpuPercent", .object(stats.cpu.map { ($0.name, .num($0.percent, 1)) })),
            ("rssMiB", .object(stats.cpu.map { ($0.name, .num(Double($0.rssKiB) / 1024, 1)) })),
            ("machineBusyPercent", .num(stats.machineBusyPercent, 1)),
        ]
        if settings.mode == .idle {
            members.append(("idle", .object([
                ("rssBeforeMiB", .num(Double(stats.hubRssBeforeKiB.values.reduce(0, +)) / 1024, 1)),
                ("rssAfterMiB", .num(Double(stats.hubRssAfterKiB.values.reduce(0, +)) / 1024, 1)),
                ("rssPerSocketKiB", .num(rssPerSocketKiB, 2)),
            ])))
            members.append(("rssPerSocketKiB", .num(rssPerSocketKiB, 2)))
        }
        if settings.persistence {
            if let p = persistence {
                members.append(("persistence", .object([
                    ("appliedPerSecond", .num(p.appliedPerSec, 1)),
                    ("jobsApplied", .int(Int(p.jobsApplied))),
                    ("lagObservations", .int(Int(p.lagCount))),
                    ("lagP50Ms", .num(p.lagP50, 1)), ("lagP99Ms", .num(p.lagP99, 1)), ("lagMeanMs", .num(p.lagMean, 1)),
                    // The rank fell in the +Inf bucket: the value is only known to exceed the largest bound.
                    ("lagP50MsAboveBuckets", .bool((p.lagP50 ?? 0) >= LatencyBuckets.milliseconds.last!)),
                    ("lagP99MsAboveBuckets", .bool((p.lagP99 ?? 0) >= LatencyBuckets.milliseconds.last!)),
                    ("catchUpSeconds", .num(p.drainSeconds, 2)),
                    ("mutationsOk", .int(stats.mutationsOk)),
                ])))
            } else {
                members.append(("persistence", .object([("error", .string(stats.persistenceError ?? "no metrics read"))])))
            }
        }
        return .object(members)
    }

    func table() -> String {
        var out = ""
        let urlCount = Set(settings.urls).count
        var title = "carthub-bench: "
        switch settings.mode {
        case .open(let rate): title += "open loop at \(format(rate, 0)) commands/s"
        case .closed(let n): title += "closed loop, \(n) in flight per socket"
        case .idle: title += "idle sockets"
        }
        title += ", \(settings.sockets) sockets (\(settings.users) users × \(settings.devices) devices) over \(urlCount) hub\(urlCount == 1 ? "" : "s")"
        if settings.mode != .idle { title += ", \(format(settings.duration, 0)) s measured after \(format(settings.warmup, 0)) s warm-up" }
        else { title += ", held \(format(settings.duration, 0)) s" }
        out += title + "\n"
        out += "machine: \(machine.nproc) × \(machine.cpuModel), \(format(Double(machine.memTotalMiB) / 1024, 1)) GiB, Linux \(machine.kernel)\n"
        out += "sockets: \(connected) open, \(failed) failed, opened in \(format(connectSeconds, 1)) s\n\n"

        if settings.mode != .idle {
            out += "latency (ms)               p50      p90      p99    p99.9      max     count\n"
            func row(_ name: String, _ h: Histogram) {
                out += name.padding(24) + [50.0, 90, 99, 99.9].map { pad(ms(h.percentileMs($0)), 9) }.joined()
                out += pad(ms(h.maxMs), 9) + pad(String(h.count), 10) + "\n"
            }
            row("reply (from schedule)", stats.reply)
            row("reply (from send)", stats.service)
            row("fan-out, other devices", stats.fanout)
            if stats.fanoutCross.count > 0 { row("  on another hub", stats.fanoutCross) }
            if stats.fanoutSame.count > 0 { row("  on the same hub", stats.fanoutSame) }
            row("send lag (bench)", stats.sendLag)
            out += "\n"
            var line = "throughput: \(format(throughput ?? 0, 1)) replies/s (\(format(Double(stats.okMeasured) / max(stats.windowSeconds, 1e-9), 1)) ok/s)"
            if case .open(let rate) = settings.mode { line += ", target \(format(rate, 0))/s" }
            out += line + "\n"
            out += "commands: " + Op.allCases.filter { stats.byType[$0.rawValue] > 0 }.map { "\($0.name) \(stats.byType[$0.rawValue])" }.joined(separator: ", ")
            if stats.substitutedGets > 0 { out += " (\(stats.substitutedGets) gets sent because no valid change was possible)" }
            out += "\n"
        }
        let errors = stats.errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        out += "errors: " + (errors.isEmpty ? "none" : errors.joined(separator: ", "))
        if stats.warmupErrors > 0 { out += " (plus \(stats.warmupErrors) during warm-up)" }
        if stats.fanoutMissing > 0 { out += "; \(stats.fanoutMissing) fan-out events never arrived" }
        if stats.resyncEvents > 0 { out += "; \(stats.resyncEvents) resync events (a hub lost its pub/sub connection)" }
        out += "\n"
        if !stats.connectErrors.isEmpty {
            out += "connect errors: " + stats.connectErrors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n"
        }
        if stats.hubs.isEmpty {
            out += "hubs: no `carthub serve` process found (pass --hub-pid)\n"
        } else {
            out += "hubs: " + stats.hubs.map { "pid \($0.pid) RSS \(format(Double($0.rssKiB) / 1024, 1)) MiB, CPU \(format($0.cpuPercent ?? 0, 0)) %" }.joined(separator: "; ") + "\n"
        }
        if !stats.cpu.isEmpty {
            out += "CPU (% of one core): " + stats.cpu.map { "\($0.name) \(format($0.percent ?? 0, 0))" }.joined(separator: ", ")
            if let busy = stats.machineBusyPercent { out += "; machine \(format(busy, 0)) % busy of \(machine.nproc) cores" }
            out += "\n"
        }
        if settings.mode == .idle {
            out += "idle: hub RSS \(format(Double(stats.hubRssBeforeKiB.values.reduce(0, +)) / 1024, 1)) → \(format(Double(stats.hubRssAfterKiB.values.reduce(0, +)) / 1024, 1)) MiB"
            out += ", \(format(rssPerSocketKiB ?? 0, 2)) KiB per socket\n"
        }
        if settings.persistence {
            if let p = persistence {
                let top = LatencyBuckets.milliseconds.last!
                func lag(_ v: Double?) -> String { (v ?? 0) >= top ? "> \(ms(v))" : ms(v) }
                out += "persistence: worker applied \(format(p.appliedPerSec ?? 0, 0)) jobs/s during the window; lag p50 \(lag(p.lagP50)) ms, p99 \(lag(p.lagP99)) ms, mean \(ms(p.lagMean)) ms"
                out += " (\(p.lagCount) jobs, caught up \(format(p.drainSeconds, 1)) s after the load)\n"
            } else {
                out += "persistence: \(stats.persistenceError ?? "no metrics read")\n"
            }
        }
        return out
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
