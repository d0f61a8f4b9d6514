import ArgumentParser
import CartDomain
import JSON
import Postgres
import Redis
import Storage

struct DeadLetters: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect and resolve persistence jobs parked in dead_letters.",
        subcommands: [List.self, Replay.self, Discard.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List parked entries.")
        @Option(name: .customLong("database-url"), help: "Postgres URL (DATABASE_URL).") var databaseURL: String?
        @Option(help: "At most this many.") var limit: Int = 100

        func run() throws {
            let letters = try DeadLetterStore.list(PostgresConnection(url: Env.databaseURL(databaseURL)), limit: max(1, min(limit, 10_000)))
            if letters.isEmpty { print("no dead letters") }
            for l in letters {
                print("\(l.id)\t\(l.stream)\t\(l.entryId)\tattempts=\(l.attempts)\tfirst=\(l.firstSeen)\tlast=\(l.lastSeen)\t\(l.error)\t\(l.payload)")
            }
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a parked entry back on its stream (as a new entry) and remove it from dead_letters.")
        @Argument(help: "The dead letter's id.") var id: Int64
        @Option(name: .customLong("database-url"), help: "Postgres URL (DATABASE_URL).") var databaseURL: String?
        @Option(name: .customLong("redis-url"), help: "Redis URL (REDIS_URL).") var redisURL: String?

        func run() throws {
            let redis = try BlockingRedisConnection(Env.redis(redisURL))
            let postgres = try PostgresConnection(url: Env.databaseURL(databaseURL))
            // Taken inside a transaction: if the XADD fails, the row stays.
            let entry = try postgres.transaction { c -> String in
                guard let letter = try DeadLetterStore.take(c, id: id) else { throw ValidationError("no dead letter \(id)") }
                guard let fields = try JSONValue.parse(letter.payload).objectValue else { throw ValidationError("dead letter \(id) has no fields") }
                let flat = fields.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value.stringValue ?? $0.value.encoded] }
                guard case .string(let newId) = try redis.command(["XADD", letter.stream, "*"] + flat) else {
                    throw ValidationError("cannot append to \(letter.stream)")
                }
                return "\(letter.stream) \(newId)"
            }
            print("replayed dead letter \(id) as \(entry)")
        }
    }

    struct Discard: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a parked entry for good.")
        @Argument(help: "The dead letter's id.") var id: Int64
        @Option(name: .customLong("database-url"), help: "Postgres URL (DATABASE_URL).") var databaseURL: String?

        func run() throws {
            guard try DeadLetterStore.take(PostgresConnection(url: Env.databaseURL(databaseURL)), id: id) != nil else {
                throw ValidationError("no dead letter \(id)")
            }
            print("discarded dead letter \(id)")
        }
    }
}
