import EventLoop
import Postgres

/// One thread that owns a Postgres connection and runs blocking work for the loop,
/// in order, reconnecting when the connection broke. Results come back on the loop.
final class DatabaseThread: @unchecked Sendable {
    private let url: String
    private let worker: BlockingWorkers
    /// Touched only on the worker thread.
    private var connection: PostgresConnection?

    init(loop: EventLoop, url: String) {
        self.url = url
        worker = BlockingWorkers(loop: loop, threads: 1)
    }

    /// Runs `work` with a live connection off the loop; `completion` runs on the loop.
    func run<T: Sendable>(_ work: @escaping @Sendable (PostgresConnection) throws -> T, completion: @escaping (Result<T, Error>) -> Void) {
        worker.submit({ [self] in
            do {
                return try work(connected())
            } catch let error as PostgresError where error.isConnectionFailure {
                connection = nil
                throw error
            }
        }, completion: completion)
    }

    private func connected() throws -> PostgresConnection {
        if let connection, connection.isOpen { return connection }
        connection = nil
        let fresh = try PostgresConnection(url: url)
        connection = fresh
        return fresh
    }
}
