import Diagnostics
import EventLoop
import Foundation
import Postgres
import Synchronization

/// One thread that owns a Postgres connection and runs blocking work for the loop,
/// in order, reconnecting when the connection broke. Results come back on the loop.
final class DatabaseThread: @unchecked Sendable {
    private let loop: EventLoop
    private let url: String
    private let queue = Mutex<[@Sendable () -> Void]>([])
    private let wakeup = DispatchSemaphore(value: 0)
    private var connection: PostgresConnection?

    init(loop: EventLoop, url: String) {
        self.loop = loop
        self.url = url
        Thread.detachNewThread { [self] in serve() }
    }

    /// Runs `work` with a live connection off the loop; `completion` runs on the loop.
    func run<T: Sendable>(_ work: @escaping @Sendable (PostgresConnection) throws -> T, completion: @escaping (Result<T, Error>) -> Void) {
        let reply = LoopBound(completion)
        let loop = loop
        queue.withLock {
            $0.append { [self] in
                let result = Result { try work(self.connected()) }
                if case .failure(let error as PostgresError) = result, error.isConnectionFailure { self.connection = nil }
                loop.post { reply.value(result) }
            }
        }
        wakeup.signal()
    }

    private func connected() throws -> PostgresConnection {
        if let connection, connection.isOpen { return connection }
        connection = nil
        let fresh = try PostgresConnection(url: url)
        connection = fresh
        return fresh
    }

    private func serve() {
        while true {
            wakeup.wait()
            let jobs = queue.withLock { jobs in
                defer { jobs.removeAll() }
                return jobs
            }
            for job in jobs { job() }
        }
    }
}

/// Carries a loop-confined value through another thread untouched.
struct LoopBound<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
