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
