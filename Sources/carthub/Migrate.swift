import ArgumentParser
import Postgres
import Storage

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending SQL migrations (safe to run again, and concurrently).")

    @Option(name: .customLong("database-url"), help: "Postgres URL (DATABASE_URL).") var databaseURL: String?

    func run() throws {
        let applied = try Migrator(connection: PostgresConnection(url: Env.databaseURL(databaseURL))).migrate()
        print(applied.isEmpty ? "database is up to date" : "applied: \(applied.joined(separator: ", "))")
    }
}
