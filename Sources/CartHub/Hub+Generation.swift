import CartDomain
import Diagnostics
import Persistence
import Redis

extension Hub {
    /// Checks that Redis still holds a loaded state. A missing generation key is
    /// (re)created off the loop; a changed one means Redis lost its data while we
    /// were connected: every socket then gets its cart again, rehydrated from Postgres.
    func checkGeneration() {
        guard redis.isReady, !generationCheckInFlight else { return }
        generationCheckInFlight = true
        redis.send(["GET", CartKeys.generation]) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(.string(let value)) where Generation.isGeneration(value) != nil:
                generationCheckInFlight = false
                adopt(generation: value)
            case .success(.null), .success(.string):
                rebuildGeneration()
            default:
                generationCheckInFlight = false
            }
        }
    }

    private func rebuildGeneration() {
        let redisConfiguration = configuration.redis
        let shards = configuration.shards
        let lease = leaseScript
        database.run({ postgres in
            try Generation.ensure(redis: BlockingRedisConnection(redisConfiguration), postgres: { postgres }, shards: shards, lease: lease)
        }) { [weak self] result in
            guard let self else { return }
            generationCheckInFlight = false
            switch result {
            case .success(.present(let value)):
                adopt(generation: value)
            case .success(.created(let value, let fresh)):
                Log.info(fresh ? "fresh deployment: Redis generation \(value) created" : "Redis had lost its data: generation \(value) created; carts are rehydrated from Postgres on first access")
                adopt(generation: value)
            case .success(.busy):
                break
            case .failure(let error):
                Log.warning("cannot rebuild the Redis generation yet: \(error)")
            }
        }
    }

    private func adopt(generation value: String) {
        defer {
            generation = value
            startListeningWhenReady()
        }
        guard let previous = generation, previous != value else { return }
        Log.warning("Redis generation changed (\(previous) → \(value)); resending every cart")
        script.load(on: redis)
        for room in rooms.values where room.subscribed {
            for session in room.sessions { greet(session) }
        }
    }
}

extension Hub {
    /// Checks that the Redis stock was built for the generation we serve; if not, builds
    /// it from Postgres off the loop (one process at a time; order commands answer
    /// UNAVAILABLE meanwhile).
    func checkStock() {
        guard redis.isReady, let generation, !stockCheckInFlight else { return }
        stockCheckInFlight = true
        redis.send(["HGET", StockKeys.meta, "g"]) { [weak self] result in
            guard let self else { return }
            guard case .success(let value) = result, value.stringValue != generation else {
                stockCheckInFlight = false
                return
            }
            let redisConfiguration = configuration.redis
            let lease = leaseScript
            let script = stockRebuildScript
            database.run({ postgres in
                try StockRebuild.ensure(redis: BlockingRedisConnection(redisConfiguration), postgres: { postgres }, lease: lease, script: script)
            }) { [weak self] result in
                self?.stockCheckInFlight = false
                if case .failure(let error) = result { Log.warning("cannot rebuild the stock yet: \(error)") }
            }
        }
    }
}
