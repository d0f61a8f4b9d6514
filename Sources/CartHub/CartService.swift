import CartDomain
import Diagnostics
import Redis
import Storage

/// Runs cart commands through the cart script; every transport (socket, REST) comes here.
final class CartService {
    let redis: RedisConnection
    let script: CartScript
    let catalog: CatalogCache
    let configuration: HubConfiguration
    let database: DatabaseThread
    /// Time from sending the cart script to its answer.
    private(set) var latency = LatencyHistogram()
    let clock: () -> Double
    /// Users whose cart is being loaded from Postgres, with the commands waiting for it.
    private var rehydrating: [String: [(CartError?) -> Void]] = [:]

    init(redis: RedisConnection, script: CartScript, catalog: CatalogCache, database: DatabaseThread, configuration: HubConfiguration, clock: @escaping () -> Double) {
        self.clock = clock
        self.redis = redis
        self.script = script
        self.catalog = catalog
        self.database = database
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
        guard command == .get else {
            run(command, userId: userId, origin: origin, now: now, retries: Retries(), completion)
            return
        }
        let started = clock()
        let meta = CartKeys(userId: userId, shards: configuration.shards).meta
        redis.send(["HMGET", meta] + CartRead.fields) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(.array(let values)):
                if let cart = CartRead.snapshot(userId: userId, values: values.map(\.stringValue)) {
                    latency.observe(milliseconds: (clock() - started) * 1000)
                    completion(.success(cart))
                } else {
                    // No cart yet (perhaps one to restore) or a former layout: the script knows.
                    run(command, userId: userId, origin: origin, now: now, retries: Retries(), completion)
                }
            case .failure:
                completion(Self.outcome(result))
            case .success(let other):
                Log.error("HMGET of a cart returned an unexpected reply: \(other)")
                completion(.failure(CartError(.internal, "unexpected reply from the cart store")))
            }
        }
    }

    /// What a command may still do once: restore its cart from Postgres, reload its book.
    private struct Retries {
        var rehydrate = true
        var reloadBook = true
    }

    private func run(_ command: CartCommand, userId: String, origin: Origin, now: Int64, retries: Retries, _ completion: @escaping (Result<String, CartError>) -> Void) {
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
        case .get, .remove, .clear, .deduct:
            break
        }
        let call = CartScriptCall(command: command, userId: userId, requestId: origin.requestId, connectionId: origin.connectionId, via: origin.via,
                                  nowMs: now, limits: configuration.limits, rememberedRequests: configuration.rememberedRequests, book: book,
                                  shards: configuration.shards)
        let started = clock()
        script.run(on: redis, keys: call.keys, args: call.args) { [weak self] result in
            guard let self else { return }
            latency.observe(milliseconds: (clock() - started) * 1000)
            guard case .success(.array(let parts)) = result, let status = parts.first?.stringValue, status == "missing" || status == "stale" else {
                completion(Self.outcome(result))
                return
            }
            var retries = retries
            if status == "stale" {
                // The catalog walk took a newer revision of the book into this cart's shard
                // than our cache holds: reload the book from Postgres, then try once more.
                guard retries.reloadBook, let id = command.bookId else {
                    completion(.failure(CartError(.unavailable, "the catalog is changing; retry shortly")))
                    return
                }
                retries.reloadBook = false
                catalog.refresh(id) { [weak self] in
                    self?.run(command, userId: userId, origin: origin, now: now, retries: retries, completion)
                }
                return
            }
            guard retries.rehydrate else {
                completion(.failure(CartError(.unavailable, "the cart could not be restored; retry shortly")))
                return
            }
            retries.rehydrate = false
            rehydrate(userId) { [weak self] error in
                guard let self else { return }
                if let error { return completion(.failure(error)) }
                run(command, userId: userId, origin: origin, now: now, retries: retries, completion)
            }
        }
    }

    /// Loads a cart Redis lost from Postgres under a new epoch. Concurrent first
    /// accesses on this hub share one load; across hubs the script writes only once.
    /// Without Postgres the user gets UNAVAILABLE, never an empty cart.
    private func rehydrate(_ userId: String, _ done: @escaping (CartError?) -> Void) {
        if rehydrating[userId] != nil {
            rehydrating[userId]?.append(done)
            return
        }
        rehydrating[userId] = [done]
        let finish: (CartError?) -> Void = { [weak self] error in
            for waiter in self?.rehydrating.removeValue(forKey: userId) ?? [] { waiter(error) }
        }
        database.run({ try CartStore.load($0, userId: userId) }) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error):
                Log.warning("cannot rehydrate the cart of \(userId): \(error)")
                finish(CartError(.unavailable, "the cart store is recovering and Postgres is unavailable; retry shortly"))
            case .success(let stored):
                let call = CartScriptCall(rehydrating: userId, from: stored, stock: { [catalog] in catalog.book($0)?.stock }, shards: configuration.shards)
                script.run(on: redis, keys: call.keys, args: call.args) { result in
                    if case .success(.array(let parts)) = result, parts.first?.stringValue == "ok" {
                        finish(nil)
                    } else {
                        finish(CartError(.unavailable, "the cart could not be restored; retry shortly"))
                    }
                }
            }
        }
    }

    /// The script answers {status, cart (or the event that carries it), code, message}.
    private static func outcome(_ result: Result<RedisValue, RedisError>) -> Result<String, CartError> {
        switch result {
        case .failure(let error):
            return .failure(CartError(.unavailable, "the cart store is unavailable: \(error.message)"))
        case .success(.error(let message)):
            Log.error("cart script failed: \(message)")
            return .failure(CartError(.internal, "the cart store failed; nothing was changed"))
        case .success(.array(let parts)) where parts.count == 4:
            let status = parts[0].stringValue ?? ""
            let cart = CartScriptCall.cart(fromReply: parts[1].stringValue ?? "")
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
