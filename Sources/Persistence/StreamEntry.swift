import CartDomain
import JSON
import Redis

/// One outbox stream entry as read, with what the worker knows about its failures.
struct StreamEntry {
    let shard: Int
    let id: String
    let fields: [String: String]
    var attempts = 0
    var firstFailureMs: Int64 = 0
    /// Monotonic seconds before which it is not retried.
    var notBefore = 0.0

    var stream: String { CartKeys.outbox(shard: shard) }
    var job: PersistenceJob? { PersistenceJob(entryId: id, fields: fields) }
    var payload: String { JSONValue.object(fields.mapValues { .string($0) }).encoded }

    /// Entries of an XREADGROUP/XAUTOCLAIM reply: `[[id, [field, value, ...]], ...]`.
    static func parse(_ value: RedisValue, shard: Int) -> [StreamEntry] {
        value.streamEntries.map { StreamEntry(shard: shard, id: $0.id, fields: $0.fields) }
    }
}

extension String {
    /// The stream id right after this one (`5-3` → `5-4`), for trimming up to and including it.
    var nextStreamId: String {
        let parts = split(separator: "-")
        guard parts.count == 2, let ms = UInt64(parts[0]), let seq = UInt64(parts[1]) else { return self }
        return seq == UInt64.max ? "\(ms + 1)-0" : "\(ms)-\(seq + 1)"
    }
}
