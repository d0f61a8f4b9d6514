import Foundation
import Postgres
import Storage
import Testing

/// The test Postgres, from `DATABASE_URL` (see `scripts/services.sh env test`).
/// These tests are about the real database, so a missing URL fails them instead of skipping.
func databaseURL() throws -> String {
    try #require(
        ProcessInfo.processInfo.environment["DATABASE_URL"],
        """
        DATABASE_URL is not set. Start the test services and export it:
          scripts/services.sh start test && eval "$(scripts/services.sh env test)"
        """
    )
}

func connect() throws -> PostgresConnection {
    try PostgresConnection(url: databaseURL())
}

/// A fresh lowercase suffix for ids and schema names, so tests never collide with each
/// other or with whatever else lives in the shared test database.
func uniqueSuffix() -> String {
    UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16).description
}

/// Opens a connection whose unqualified names resolve to `schema` only.
func connect(schema: String) throws -> PostgresConnection {
    let connection = try connect()
    try connection.execute("set search_path to \"\(schema)\"")
    return connection
}

/// Runs `body` in a private, freshly migrated schema that is dropped afterwards: tests can
/// count rows exactly without assuming anything about the shared database.
func withScratchSchema<T>(migrate: Bool = true, _ body: (PostgresConnection, String) throws -> T) throws -> T {
    let schema = "storage_test_\(uniqueSuffix())"
    let admin = try connect()
    try admin.execute("create schema \"\(schema)\"")
    defer { try? admin.execute("drop schema \"\(schema)\" cascade") }
    let connection = try connect(schema: schema)
    if migrate { _ = try Migrator(connection: connection).migrate() }
    return try body(connection, schema)
}
