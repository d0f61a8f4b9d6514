/// Every Redis key and channel name of a user's cart, in one place.
///
/// All keys of one user carry the hash tag `{s:N}` of the user's shard, so one script
/// touches one slot, and the shard's outbox stream lives in that same slot.
public struct CartKeys: Sendable, Equatable {
    public let userId: String
    public let shard: Int

    public init(userId: String, shards: Int) {
        self.userId = userId
        self.shard = Self.shard(of: userId, shards: shards)
    }

    /// FNV-1a (32-bit) of the UTF-8 user id, mod the shard count: stable across
    /// processes, languages and releases, which `Hasher` is not.
    public static func shard(of userId: String, shards: Int) -> Int {
        var hash: UInt32 = 2_166_136_261
        for byte in userId.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return Int(hash % UInt32(max(shards, 1)))
    }

    var tag: String { Self.tag(shard) }

    /// `{s:N}`; made once per shard, as every command names seven keys.
    static func tag(_ shard: Int) -> String {
        shard >= 0 && shard < tags.count ? tags[shard] : "{s:\(shard)}"
    }

    private static let tags = (0..<1024).map { "{s:\($0)}" }
    /// Hash: v (version), e (epoch), t (total cents), n (item count), u (updatedAt), i (the
    /// lines' JSON sorted by bookId, joined by commas) and iv (the version i was written at).
    /// The outcomes of the last request ids are in the hash `meta + ":requests"`, which the
    /// script derives (see lua/cart.lua).
    public var meta: String { "cart:" + tag + ":" + userId }
    /// Hash: bookId -> the line's JSON, pre-encoded.
    public var lines: String { meta + ":lines" }
    /// The shard's persistence outbox (a stream).
    public var outbox: String { Self.outbox(shard: shard) }
    /// Pub/sub channel of the user's room.
    public var channel: String { Self.channel(userId: userId) }

    /// Hash: `g` the shard's generation (the epoch of carts created or restored now),
    /// `loaded` present when no cart of the shard needs restoring from Postgres.
    public var generationMarker: String { Self.generationMarker(shard: shard) }
    /// Set of the user ids with a cart in this shard (walked by reconciliation).
    public var cartIndex: String { Self.cartIndex(shard: shard) }

    /// Hash: bookId -> the newest catalog revision the catalog walk took into this shard.
    public var catalogRevisions: String { Self.catalogRevisions(shard: shard) }
    /// The prefix of this shard's book indexes (see `bookIndex(shard:bookId:)`).
    public var bookIndexPrefix: String { Self.bookIndexPrefix(shard: shard) }

    /// In the order the cart script expects them as KEYS.
    public var scriptKeys: [String] { [meta, lines, outbox, generationMarker, cartIndex, catalogRevisions, bookIndexPrefix] }

    public static func outbox(shard: Int) -> String { "jobs:" + tag(shard) }
    public static func generationMarker(shard: Int) -> String { "gen:" + tag(shard) }
    public static func cartIndex(shard: Int) -> String { "carts:" + tag(shard) }
    public static func catalogRevisions(shard: Int) -> String { "catalogrev:" + tag(shard) }
    public static func bookIndexPrefix(shard: Int) -> String { "bookcarts:" + tag(shard) + ":" }
    /// Set of the user ids in this shard whose cart holds the book; kept by the cart
    /// script, walked by the catalog sync (never SCAN/KEYS).
    public static func bookIndex(shard: Int, bookId: String) -> String { bookIndexPrefix(shard: shard) + bookId }
    /// A persistence worker's ownership of a shard's stream.
    public static func lease(shard: Int) -> String { "lease:" + tag(shard) }
    /// The consumer group of every outbox stream.
    public static let persistGroup = "persist"
    /// Sorted set: live workers by last heartbeat (ms), for fair shard shares.
    public static let workers = "carthub:workers"
    /// Hash of the persistence counters and histograms the hubs expose at /metrics.
    public static let metrics = "carthub:metrics"
    /// Taken by the one reconciliation running.
    public static let reconcileLock = "carthub:reconcile-lock"
    /// Exists while Redis holds a loaded state; missing means Redis lost its data.
    public static let generation = "carthub:generation"
    /// Taken by the one process that rebuilds after a loss.
    public static let rebuildLock = "carthub:rebuild-lock"
    public static func channel(userId: String) -> String { "room:\(userId)" }
    /// Published when the catalog changed; hubs reload their cache.
    public static let catalogChannel = "catalog:changed"
    /// The `catalogChannel` payload meaning "many books changed: reload everything".
    public static let allBooks = "*"
    /// The one way to tell hubs a book changed (nil: many books, e.g. an import), sent
    /// after the change committed, by the CLI (blocking connection) and the hub alike.
    public static func catalogChanged(_ bookId: String?) -> [String] { ["PUBLISH", catalogChannel, bookId ?? allBooks] }
    /// Taken by the one worker that walks catalog changes into carts.
    public static let catalogSyncLease = "carthub:catalog-sync"
}
