import Foundation
import Postgres
import Redis
import Storage
import Testing
import CartDomain

/// The real services and binary the tests run against; `scripts/test.sh` provides them.
/// A missing service is a failure with a message, never a skip.
enum TestEnvironment {
    static let jwtSecret = "integration-tests-secret-0123456789abcdef"

    static var checkout: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func require(_ name: String) throws -> String {
        let value = ProcessInfo.processInfo.environment[name] ?? ""
        try #require(!value.isEmpty, "\(name) is not set: run the tests through scripts/test.sh, which starts Redis and Postgres")
        return value
    }

    static func redisURL() throws -> String { try require("REDIS_URL") }
    static func databaseURL() throws -> String { try require("DATABASE_URL") }

    static var binary: String {
        ProcessInfo.processInfo.environment["CARTHUB_BIN"] ?? checkout.appendingPathComponent(".build/debug/carthub").path
    }

    static var luaDirectory: String {
        ProcessInfo.processInfo.environment["CARTHUB_LUA_DIR"] ?? checkout.appendingPathComponent("lua").path
    }

    static func redis() throws -> BlockingRedisConnection {
        let url = try redisURL()
        let configuration = try #require(RedisConfiguration(url: url), "REDIS_URL is not a redis:// URL")
        return try BlockingRedisConnection(configuration)
    }

    static func postgres() throws -> PostgresConnection {
        try PostgresConnection(url: databaseURL())
    }

    /// Hubs on the shared database need its schema; migrating is idempotent and
    /// safe concurrently, so every test may ask.
    static func migrateSharedDatabase() throws {
        _ = try Migrator(connection: postgres()).migrate()
    }

    /// A prefix no other test run uses, for user and book ids.
    static func uniquePrefix(_ label: String) -> String {
        "\(label)-\(UUID().uuidString.prefix(8).lowercased())"
    }
}

/// Books only one test knows about, in Postgres before its hubs start.
struct TestCatalog {
    let prefix: String
    let books: [Book]

    /// Into the shared test database, or `database` (a test's private Postgres).
    init(_ label: String = "it", stocks: [Int64], database: PostgresConnection? = nil) throws {
        let prefix = TestEnvironment.uniquePrefix(label)
        self.prefix = prefix
        books = stocks.enumerated().map { i, stock in
            Book(id: "\(prefix)-\(i)", title: "Test book \(i) “\(prefix)”", author: "Tester", priceCents: Int64(100 * (i + 1) + 99), stock: stock)
        }
        let db = try database ?? TestEnvironment.postgres()
        _ = try Migrator(connection: db).migrate()
        _ = try CatalogStore.upsert(db, books)
    }

    subscript(_ i: Int) -> Book { books[i] }
}
