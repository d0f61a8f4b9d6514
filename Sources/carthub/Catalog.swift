import ArgumentParser
import CartDomain
import Foundation
import Postgres
import Redis
import Storage

struct Catalog: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage the book catalog.", subcommands: [Import.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upsert books from a JSON file and tell every hub to refresh its catalog.",
            discussion: #"""
                FILE is a JSON array of {"id","title","author","priceCents","stock"} objects. Stock is
                applied as a difference against the stored stock; changed books get a new revision,
                which `carthub worker` walks into every cart that holds them.
                """#)

        @Argument(help: "The catalog file.") var file: String
        @Option(name: .customLong("database-url"), help: "Postgres URL (DATABASE_URL).") var databaseURL: String?
        @Option(name: .customLong("redis-url"), help: "Redis URL (REDIS_URL).") var redisURL: String?

        func run() throws {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            guard let size = attributes[.size] as? Int, size <= CatalogFile.maxBytes else {
                throw ValidationError("\(file) is larger than \(CatalogFile.maxBytes) bytes")
            }
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            let books = try CatalogFile.parse(Array(data))
            let summary = try CatalogStore.upsert(PostgresConnection(url: Env.databaseURL(databaseURL)), books)
            print("catalog: \(summary.inserted) inserted, \(summary.updated) updated, \(summary.unchanged) unchanged")
            do {
                let redis = try BlockingRedisConnection(Env.redis(redisURL))
                let hubs = try redis.command(CartKeys.catalogChanged(nil)).intValue ?? 0
                print("notified \(hubs) listening hub\(hubs == 1 ? "" : "s")")
            } catch {
                throw ValidationError("the catalog was saved, but hubs could not be told to refresh: \(error)")
            }
        }
    }
}
