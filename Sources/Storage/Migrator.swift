import Foundation
import Postgres

/// Applies the SQL files in `Sources/Storage/Migrations` that the database has not seen yet.
///
/// Files are named `NNNN_name.sql` and applied in version order, each in its own
/// transaction together with its `schema_migrations` row, so a failed migration leaves no
/// trace. Files must not contain BEGIN/COMMIT of their own.
public struct Migrator {
    /// Key of the transaction-scoped advisory lock every migrator takes, so two
    /// `carthub migrate` runs at once queue up instead of racing. Any constant works as long
    /// as it never changes; this one is "carthub!" in ASCII.
    static let lockKey: Int64 = 0x6361_7274_6875_6221

    private let connection: PostgresConnection

    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Applies pending migrations and returns their names (`0002_carts`), or `[]` when the
    /// schema was already up to date.
    public func migrate() throws -> [String] {
        let migrations = try Self.bundledMigrations()
        // Even CREATE TABLE IF NOT EXISTS can fail when two sessions run it at once, so the
        // bookkeeping table is created under the lock too.
        try connection.transaction { c in
            try Self.lock(c)
            try c.execute("""
                create table if not exists schema_migrations (
                    version    int primary key,
                    name       text not null,
                    applied_at timestamptz not null default now()
                )
                """)
        }
        var applied: [String] = []
        for migration in migrations {
            if try apply(migration) { applied.append(migration.name) }
        }
        return applied
    }

    /// Runs one migration unless it is recorded already; true when it ran now.
    private func apply(_ migration: (version: Int, name: String, sql: String)) throws -> Bool {
        do {
            return try connection.transaction { c in
                try Self.lock(c)
                // Checked only once the lock is held: a concurrent migrator may have just applied it.
                let version = String(migration.version)
                guard try c.query("select 1 from schema_migrations where version = $1", [version]).count == 0 else {
                    return false
                }
                try c.execute(migration.sql)
                try c.query("insert into schema_migrations (version, name) values ($1, $2)", [version, migration.name])
                return true
            }
        } catch var error as PostgresError {
            error.message = "migration \(migration.name): \(error.message)"
            throw error
        }
    }

    private static func lock(_ c: PostgresConnection) throws {
        try c.query("select pg_advisory_xact_lock($1::bigint)", [String(lockKey)])
    }

    /// The migrations shipped in this module's resource bundle, ordered by version.
    /// `name` is the file name without `.sql`; files not ending in `.sql` are ignored.
    public static func bundledMigrations() throws -> [(version: Int, name: String, sql: String)] {
        guard let directory = Bundle.module.resourceURL?.appendingPathComponent("Migrations", isDirectory: true) else {
            throw StorageError("the Storage resource bundle has no resource directory")
        }
        var migrations: [(version: Int, name: String, sql: String)] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".sql") {
            let name = String(file.dropLast(4))
            guard let version = version(of: name) else {
                throw StorageError("migration file \(file) is not named NNNN_name.sql")
            }
            if let other = migrations.first(where: { $0.version == version }) {
                throw StorageError("migrations \(other.name) and \(name) share version \(version)")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append((version, name, sql))
        }
        return migrations.sorted { $0.version < $1.version }
    }

    /// `0002_carts` → 2; nil unless the name is four digits, `_`, and something more.
    private static func version(of name: String) -> Int? {
        let utf8 = Array(name.utf8)
        guard utf8.count > 5, utf8[4] == UInt8(ascii: "_"),
            utf8[..<4].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return Int(String(decoding: utf8[..<4], as: UTF8.self))
    }
}
