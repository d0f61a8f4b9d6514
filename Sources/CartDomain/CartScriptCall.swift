/// KEYS and ARGV of one `lua/cart.lua` call, laid out in one place for the hub, the
/// tests and anything else that runs the script (see the script's header).
public struct CartScriptCall: Sendable, Equatable {
    public var keys: [String]
    public var args: [String]

    /// A cart command. `book` is the catalog entry the hub prices add/set with (its
    /// title, price, stock and revision); nil for commands that name no book.
    public init(command: CartCommand, userId: String, requestId: String, connectionId: String?, via: String, nowMs: Int64,
                limits: CartLimits, rememberedRequests: Int, book: Book?, shards: Int) {
        let keys = CartKeys(userId: userId, shards: shards)
        let quantity: Int64 = switch command {
        case .add(_, let q), .setQuantity(_, let q): q
        default: 0
        }
        self.keys = keys.scriptKeys
        args = [
            Self.op(command), userId, requestId, connectionId ?? "", via,
            String(nowMs), Timestamp.iso8601(milliseconds: nowMs), keys.channel,
            String(limits.maxLines), String(limits.maxQuantity), String(rememberedRequests),
            command.bookId ?? "", String(quantity), book?.title ?? "", String(book?.priceCents ?? 0), String(book?.stock ?? 0),
            String(book?.revision ?? 0),
        ]
        if case .deduct(let items) = command {
            for item in items { args += [item.bookId, String(item.quantity)] }
        }
    }

    /// Loads a cart Redis lost from its Postgres copy (nil: Postgres never saw it).
    /// `stock` gives each line's current stock for its `available` mark (nil: unknown).
    public init(rehydrating userId: String, from stored: CartSnapshot?, stock: (String) -> Int64?, shards: Int) {
        let keys = CartKeys(userId: userId, shards: shards)
        self.keys = keys.scriptKeys
        // The script gives the cart the shard's generation as its epoch, version 0.
        var args = ["rehydrate", userId, "", "", "", "0", "", keys.channel, "0", "0", "0"]
        if let stored {
            args += ["0", String(stored.totalCents), stored.updatedAt ?? ""]
            for (book, line) in stored.lines.sorted(by: { $0.key < $1.key }) {
                args += [book, String(line.quantity), String(line.unitPriceCents), line.title, stock(book).map(String.init) ?? ""]
            }
        } else {
            args += ["0", "0", ""]
        }
        self.args = args
    }

    /// `numkeys key… arg…`, to follow `EVALSHA sha` or `EVAL source`.
    public var evalArguments: [String] { [String(keys.count)] + keys + args }

    /// The cart JSON of a script reply: after a change the script answers with the whole
    /// `cart.updated` event it published rather than building the cart's JSON twice.
    /// Nothing inside the cart can look like the event's origin member, whose quotes
    /// would be escaped there.
    public static func cart(fromReply reply: String) -> String {
        let head = #"{"type":"cart.updated","cart":"#.utf8.count
        guard reply.hasPrefix(#"{"type":"cart.updated","cart":"#) else { return reply }
        // The origin member is the event's last, so it is found from the end; read in
        // place, as this runs for every change.
        var reply = reply
        return reply.withUTF8 { bytes in
            var end = bytes.count - originMarker.count
            while end > head, !bytes[end..<end + originMarker.count].elementsEqual(originMarker) { end -= 1 }
            return end > head ? String(decoding: UnsafeBufferPointer(rebasing: bytes[head..<end]), as: UTF8.self) : String(decoding: bytes, as: UTF8.self)
        }
    }

    private static let originMarker = Array(#","origin":{"#.utf8)

    static func op(_ command: CartCommand) -> String {
        switch command {
        case .get: "get"
        case .add: "add"
        case .setQuantity: "set"
        case .remove: "remove"
        case .clear: "clear"
        case .deduct: "deduct"
        }
    }
}
