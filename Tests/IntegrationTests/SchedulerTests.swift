import Foundation
import Postgres
import Scheduling
import Storage
import Testing

/// The scheduler's retries on a real Postgres: time is the `nowMs` each tick passes.
@Suite("Scheduler: retries within an occurrence", .serialized)
struct SchedulerTests {
    struct JobFailed: Error {}

    /// Counts a job's calls; the first `failures` of them throw.
    final class FlakyJob: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        let failures: Int

        init(failures: Int) { self.failures = failures }

        var calls: Int { lock.withLock { count } }

        func call() throws -> String {
            let n = lock.withLock { count += 1; return count }
            if n <= failures { throw JobFailed() }
            return "done on call \(n)"
        }
    }

    static let hour: Int64 = 3_600_000
    /// An hour's start, plus a little: the due occurrence is `start`.
    static let start: Int64 = 1_800_000_000_000 / hour * hour

    func schedule(_ name: String, _ job: FlakyJob) -> Schedule {
        Schedule(name: name, timing: .every(ms: Self.hour)) { _ in try job.call() }
    }

    @Test("a failed occurrence runs again after 1, 2, 4 and 8 minutes until it succeeds, 5 attempts at most; one left running by a dead instance is taken over, a live one is not")
    func retries() throws {
        let stack = try PersistenceTests.Stack()
        let postgres = try stack.postgres.connect()
        let redis = try stack.redisConnection()
        let t0 = Self.start + 5_000
        func state(_ name: String) throws -> OccurrenceState? { try ScheduleStore.state(postgres, schedule: name, occurrenceMs: Self.start) }

        // Fails twice, then succeeds on its third attempt, 1 + 2 minutes later.
        let flaky = FlakyJob(failures: 2)
        let scheduler = Scheduler(schedules: [schedule("flaky", flaky)], instance: "test")
        try scheduler.tick(redis: redis, postgres: postgres, nowMs: t0)
        #expect(try state("flaky") == OccurrenceState(status: "failed", attempts: 1, retryAtMs: t0 + 60_000))
        try scheduler.tick(redis: redis, postgres: postgres, nowMs: t0 + 59_000)
        #expect(flaky.calls == 1, "not before its retry time")
        try scheduler.tick(redis: redis, postgres: postgres, nowMs: t0 + 60_000)
        #expect(try state("flaky") == OccurrenceState(status: "failed", attempts: 2, retryAtMs: t0 + 180_000))
        try scheduler.tick(redis: redis, postgres: postgres, nowMs: t0 + 180_000)
        #expect(try state("flaky") == OccurrenceState(status: "ok", attempts: 3, retryAtMs: nil))
        try scheduler.tick(redis: redis, postgres: postgres, nowMs: t0 + 3_000_000)
        #expect(flaky.calls == 3, "a finished occurrence does not run again")
        #expect(try ScheduleStore.recent(postgres, schedule: "flaky", limit: 10).first?.result == "done on call 3")

        // Always failing: five attempts, then it waits for the next occurrence.
        let broken = FlakyJob(failures: .max)
        let brokenScheduler = Scheduler(schedules: [schedule("broken", broken)], instance: "test")
        for minute: Int64 in [0, 1, 3, 7, 15, 31, 59] {
            try brokenScheduler.tick(redis: redis, postgres: postgres, nowMs: t0 + minute * 60_000)
        }
        #expect(broken.calls == 5)
        #expect(try state("broken") == OccurrenceState(status: "failed", attempts: 5, retryAtMs: nil))
        try brokenScheduler.tick(redis: redis, postgres: postgres, nowMs: t0 + Self.hour)
        #expect(broken.calls == 6, "the next occurrence runs")

        // Claimed by an instance that died mid-run: nobody holds the schedule's lock.
        let orphan = FlakyJob(failures: 0)
        #expect(try ScheduleStore.claim(postgres, schedule: "orphan", occurrenceMs: Self.start, trigger: "schedule", claimedBy: "dead"))
        // While a live instance holds the lock, its run is left alone.
        let other = try stack.postgres.connect()
        #expect(try ScheduleStore.tryLock(other, schedule: "orphan"))
        let orphanScheduler = Scheduler(schedules: [schedule("orphan", orphan)], instance: "test")
        try orphanScheduler.tick(redis: redis, postgres: postgres, nowMs: t0)
        #expect(orphan.calls == 0)
        try ScheduleStore.unlock(other, schedule: "orphan")
        try orphanScheduler.tick(redis: redis, postgres: postgres, nowMs: t0 + 1_000)
        #expect(orphan.calls == 1)
        #expect(try state("orphan") == OccurrenceState(status: "ok", attempts: 2, retryAtMs: nil))
        #expect(try ScheduleStore.recent(postgres, schedule: "orphan", limit: 1).first?.claimedBy == "test")
    }
}
