import Foundation
import Postgres
import Storage
import Synchronization
import Testing

@Suite struct MigratorTests {
    @Test func bundledMigrationsAreOrderedAndNamed() throws {
        let migrations = try Migrator.bundledMigrations()
        // Strictly increasing; a number may stay free while its migration is written on another branch.
        #expect(zip(migrations, migrations.dropFirst()).allSatisfy { $0.version < $1.version })
        #expect(migrations.first?.version == 1)
        #expect(Array(migrations.map(\.name).prefix(3)) == ["0001_catalog", "0002_carts", "0003_generations"])
        #expect(migrations.allSatisfy { $0.name.hasPrefix(String(format: "%04d_", $0.version)) })
        // Not every migration creates a table (0008 drops an index), but each holds statements.
        #expect(migrations.allSatisfy { $0.sql.contains(";") })
    }

    @Test func migratingTheSharedSchemaIsIdempotent() throws {
        // Whatever ran before (other tests, `carthub migrate`), afterwards every bundled
        // version is recorded and a second run has nothing left to do.
        let c = try connect()
        _ = try Migrator(connection: c).migrate()
        #expect(try Migrator(connection: c).migrate() == [])
        let recorded = try c.query("select version from schema_migrations order by version").rows.compactMap { $0[0] }
        let bundled = try Migrator.bundledMigrations().map { String($0.version) }
        #expect(bundled.allSatisfy(recorded.contains))
    }

    @Test func freshSchemaGetsEveryMigrationOnce() throws {
        let bundled = try Migrator.bundledMigrations()
        try withScratchSchema(migrate: false) { c, _ throws in
            #expect(try Migrator(connection: c).migrate() == bundled.map(\.name))
            #expect(try Migrator(connection: c).migrate() == [])
            let rows = try c.query("select version, name from schema_migrations order by version").rows
            #expect(rows == bundled.map { [String($0.version), $0.name] })
            let tables = try c.query("""
                select table_name from information_schema.tables
                where table_schema = current_schema() order by table_name
                """).rows.compactMap { $0[0] }
            #expect(tables == ["books", "cart_items", "cart_reminders", "carts", "catalog_sync", "dead_letters", "late_payments", "mail_dead_letters", "mail_sends", "order_followups", "order_items", "orders", "redis_generations", "refresh_tokens", "schedule_runs", "schema_migrations", "sessions", "stock_adjustments", "users"])
        }
    }

    @Test func concurrentMigratorsBothSucceedAndApplyEachMigrationOnce() throws {
        let bundled = try Migrator.bundledMigrations()
        try withScratchSchema(migrate: false) { _, schema throws in
            let results = Results()
            let ready = DispatchGroup()
            let go = DispatchSemaphore(value: 0)
            let done = DispatchGroup()
            for _ in 0..<2 {
                ready.enter()
                done.enter()
                // Each thread opens and owns its connection, as PostgresConnection requires.
                Thread.detachNewThread {
                    let connection = Result { try connect(schema: schema) }
                    ready.leave()
                    go.wait()  // both connected: start migrating at the same moment
                    results.append(connection.flatMap { c in Result { try Migrator(connection: c).migrate() } })
                    done.leave()
                }
            }
            ready.wait()
            go.signal()
            go.signal()
            done.wait()

            let applied = try results.all.map { try $0.get() }
            #expect(applied.count == 2)
            #expect(applied.flatMap { $0 }.sorted() == bundled.map(\.name))
            let count = try connect(schema: schema).query("select count(*) as n from schema_migrations")
            #expect(count[0, "n"] == String(bundled.count))
        }
    }
}

/// What the migrator threads report back.
private final class Results: Sendable {
    private let results = Mutex<[Result<[String], any Error>]>([])

    func append(_ result: Result<[String], any Error>) { results.withLock { $0.append(result) } }
    var all: [Result<[String], any Error>] { results.withLock { $0 } }
}
