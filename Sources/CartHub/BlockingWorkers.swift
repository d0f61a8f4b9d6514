import DequeModule
import EventLoop
import Foundation
import Synchronization

/// Threads that run blocking work for the loop in submission order and post each
/// result back to it. With a `capacity`, a full queue refuses new work at once
/// instead of letting callers wait behind it.
final class BlockingWorkers: @unchecked Sendable {
    private let loop: EventLoop
    private let capacity: Int?
    private let queue = Mutex<Deque<@Sendable () -> Void>>([])
    private let wakeup = DispatchSemaphore(value: 0)

    init(loop: EventLoop, threads: Int, capacity: Int? = nil) {
        self.loop = loop
        self.capacity = capacity
        for _ in 0..<max(threads, 1) {
            Thread.detachNewThread { [self] in serve() }
        }
    }

    /// Runs `work` on a worker thread; `completion` runs on the loop. False, and
    /// nothing runs, when `capacity` jobs are waiting already.
    @discardableResult
    func submit<T: Sendable>(_ work: @escaping @Sendable () throws -> T, completion: @escaping (Result<T, Error>) -> Void) -> Bool {
        let reply = LoopBound(completion)
        let loop = loop
        let accepted = queue.withLock { jobs in
            if let capacity, jobs.count >= capacity { return false }
            jobs.append {
                let result = Result { try work() }
                loop.post { reply.value(result) }
            }
            return true
        }
        if accepted { wakeup.signal() }
        return accepted
    }

    private func serve() {
        while true {
            wakeup.wait()
            if let job = queue.withLock({ $0.popFirst() }) { job() }
        }
    }
}

/// Carries a loop-confined value through another thread untouched.
struct LoopBound<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
