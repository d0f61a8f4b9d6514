import ArgumentParser
import CartDomain
import JSON
import Postgres
import Redis
import Storage

struct DeadLetters: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect and resolve jobs parked in dead_letters (persistence) or mail_dead_letters (--queue mail).",
        subcommands: [List.self, Replay.self, Discard.self])

    /// Which queue's parking lot.
    struct Queue: ParsableArguments {
        @Option(help: "persistence (dead_letters) or mail (mail_dead_letters).") var queue: String = "persistence"

        func table() throws -> DeadLetterTable {
            switch queue {
            case "persistence": return .persistence
            case "mail": return .mail
            default: throw ValidationError("--queue is persistence or mail, not \(queue)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List parked entries.")
        @Option(name: .customLong("database-url"), help: "Postgres URL (DATABASE_URL).") var databaseURL: String?
        @Option(help: "At most this many.") var limit: Int = 100
        @OptionGroup var queue: Queue

        func run() throws {
            let letters = try DeadLetterStore.list(PostgresConnection(url: Env.databaseURL(databaseURL)), table: queue.table(), limit: max(1, min(limit, 10_000)))
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
        @OptionGroup var queue: Queue

        func run() throws {
            let table = try queue.table()
            let redis = try BlockingRedisConnection(Env.redis(redisURL))
            let postgres = try PostgresConnection(url: Env.databaseURL(databaseURL))
            // Taken inside a transaction: if the XADD fails, the row stays.
            let entry = try postgres.transaction { c -> String in
                guard let letter = try DeadLetterStore.take(c, table: table, id: id) else { throw ValidationError("no dead letter \(id)") }
                guard let fields = try JSONValue.parse(letter.payload).objectValue else { throw ValidationError("dead letter \(id) has no fields") }
                // A replayed mail counts its failures afresh (its Message-ID, and so its dedup, stay).
                if table == .mail, let messageId = fields["mid"]?.stringValue { try MailStore.resetFailures(c, messageId: messageId) }
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
        @OptionGroup var queue: Queue

        func run() throws {
            guard try DeadLetterStore.take(PostgresConnection(url: Env.databaseURL(databaseURL)), table: queue.table(), id: id) != nil else {
                throw ValidationError("no dead letter \(id)")
            }
            print("discarded dead letter \(id)")
        }
    }
}
