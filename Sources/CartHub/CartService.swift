import CartDomain
import Diagnostics
import Redis

/// Runs cart commands through the cart script; every transport (socket, REST) comes here.
final class CartService {
    let redis: RedisConnection
    let script: CartScript
    let catalog: CatalogCache
    let configuration: HubConfiguration

    init(redis: RedisConnection, script: CartScript, catalog: CatalogCache, configuration: HubConfiguration) {
        self.redis = redis
        self.script = script
        self.catalog = catalog
        self.configuration = configuration
    }

    /// Who asked, for the event's `origin`.
    struct Origin {
        var requestId: String
        var connectionId: String?
        var via: String
    }

    /// Completes with the cart snapshot (JSON) after the command, or the reason it was refused.
    func execute(_ command: CartCommand, userId: String, origin: Origin, now: Int64, _ completion: @escaping (Result<String, CartError>) -> Void) {
        var book: Book?
        switch command {
        case .add(let id, _), .setQuantity(let id, _):
            guard catalog.isLoaded else {
                completion(.failure(CartError(.unavailable, "the catalog is not loaded yet; retry shortly")))
                return
            }
            guard let found = catalog.book(id) else {
                completion(.failure(CartError(.bookNotFound, "no book with id \(id)")))
                return
            }
            book = found
        case .get, .remove, .clear:
            break
        }
        let keys = CartKeys(userId: userId, shards: configuration.shards)
        let quantity: Int64 = switch command {
        case .add(_, let q), .setQuantity(_, let q): q
        default: 0
        }
        let args = [
            Self.op(command), userId, origin.requestId, origin.connectionId ?? "", origin.via,
            String(now), Timestamp.iso8601(milliseconds: now), keys.channel,
            String(configuration.limits.maxLines), String(configuration.limits.maxQuantity), String(configuration.rememberedRequests),
            command.bookId ?? "", String(quantity), book?.title ?? "", String(book?.priceCents ?? 0), String(book?.stock ?? 0),
        ]
        script.run(on: redis, keys: keys.scriptKeys, args: args) { result in
            completion(Self.outcome(result))
        }
    }

    private static func op(_ command: CartCommand) -> String {
        switch command {
        case .get: "get"
        case .add: "add"
        case .setQuantity: "set"
        case .remove: "remove"
        case .clear: "clear"
        }
    }

    /// The script answers {status, cart, code, message}.
    private static func outcome(_ result: Result<RedisValue, RedisError>) -> Result<String, CartError> {
        switch result {
        case .failure(let error):
            return .failure(CartError(.unavailable, "the cart store is unavailable: \(error.message)"))
        case .success(.error(let message)):
            Log.error("cart script failed: \(message)")
            return .failure(CartError(.internal, "the cart store failed; nothing was changed"))
        case .success(.array(let parts)) where parts.count == 4:
            let status = parts[0].stringValue ?? ""
            let cart = parts[1].stringValue ?? ""
            let code = parts[2].stringValue ?? ""
            if status == "ok" || (status == "dup" && code.isEmpty) { return .success(cart) }
            let message = parts[3].stringValue ?? ""
            return .failure(CartError(ErrorCode(rawValue: code) ?? .internal, message))
        case .success(let other):
            Log.error("cart script returned an unexpected reply: \(other)")
            return .failure(CartError(.internal, "unexpected reply from the cart store"))
        }
    }
}
