import Diagnostics
import Persistence
import Redis
import WebSocketServer

extension Hub {
    func countCommand(_ type: String, _ result: String) {
        commandCounts["\(type) \(result)", default: 0] += 1
    }

    /// Postgres reachability for /readyz, probed off the loop.
    func probePostgres() {
        database.run({ try $0.query("select 1") }) { [weak self] result in
            if case .success = result { self?.postgresReachable = true } else { self?.postgresReachable = false }
        }
    }

    var isReady: Bool {
        redis.isReady && subscriber.isReady && catalog.isLoaded && postgresReachable && generation != nil && !draining
    }

    /// GET /metrics: this hub's sockets and commands, and the persistence pipeline's
    /// state read from Redis (without blocking the loop).
    func serveMetrics(_ request: HTTPRequest) {
        var out = PrometheusText()
        out.gauge("carthub_sockets", "Open WebSocket connections on this hub.", server?.sessionCount ?? 0)
        out.gauge("carthub_rooms", "Users with at least one socket on this hub.", rooms.count)
        out.gauge("carthub_redis_up", "1 while the hub's Redis command connection is ready.", redis.isReady ? 1 : 0)
        out.gauge("carthub_postgres_up", "1 while Postgres answered the last probe.", postgresReachable ? 1 : 0)
        out.metric("carthub_commands_total", "counter", "Commands answered, by type and result (ok or the error code).",
                   commandCounts.sorted { $0.key < $1.key }.map { key, value in
                       let parts = key.split(separator: " ", maxSplits: 1)
                       return ("type=\"\(parts[0])\",result=\"\(parts.count > 1 ? parts[1] : "")\"", String(value))
                   })
        out.histogram("carthub_redis_command_seconds", "Cart script round trips from this hub.", carts.latency)
        let queries = PersistenceMetrics.queries(shards: configuration.shards)
        var replies = [RedisValue](repeating: .null, count: queries.count)
        var left = queries.count
        var failed = false
        for (i, query) in queries.enumerated() {
            redis.send(query) { [weak self] result in
                switch result {
                case .success(let value): replies[i] = value
                case .failure: failed = true
                }
                left -= 1
                guard left == 0, let self else { return }
                if !failed { PersistenceMetrics.render(replies, shards: configuration.shards, nowMs: wallClockMilliseconds(), into: &out) }
                request.respond(.text(200, out.text, contentType: "text/plain; version=0.0.4; charset=utf-8"))
            }
        }
    }
}
