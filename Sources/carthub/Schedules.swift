import ArgumentParser
import CartDomain
import Foundation
import Mail
import Persistence
import Postgres
import Redis
import Scheduling
import Storage

struct Schedules: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule", abstract: "The worker's schedules: their last and next runs, or one run now.",
        discussion: """
            Reads the same settings as `carthub worker` (CARTHUB_SCHEDULE_*, ABANDONED_CART_AFTER,
            CARTHUB_CLOCK_FILE, …), so run it with the workers' environment.
            """,
        subcommands: [List.self, Run.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each schedule's timing, its latest runs with their results, and its next run.")
        @OptionGroup var common: WorkerOptions
        @Option(help: "Runs shown per schedule.") var runs: Int = 3

        func run() throws {
            let worker = try common.configuration()
            let schedules = try WorkerSchedules.make(worker: worker, mail: MailOptions.configuration())
            let postgres = try PostgresConnection(url: worker.databaseURL)
            let now = Clock(file: Env.value("CARTHUB_CLOCK_FILE")).nowMs()
            for schedule in schedules {
                let due = schedule.timing.latest(atOrBefore: now)
                let recent = try ScheduleStore.recent(postgres, schedule: schedule.name, limit: max(1, min(runs, 100)))
                print("\(schedule.name)\t\(schedule.timing)")
                if recent.isEmpty { print("  last: never") }
                for run in recent {
                    let end = run.finishedAt.map { "finished \($0)" } ?? "started \(run.startedAt), not finished"
                    print("  \(run.trigger == "manual" ? "manual" : "run") \(run.occurrence)\t\(run.status)\t\(end)\tby \(run.claimedBy)\t\(run.result ?? "")")
                }
                let state = try ScheduleStore.state(postgres, schedule: schedule.name, occurrenceMs: due)
                var next = Timestamp.iso8601(milliseconds: schedule.timing.next(after: now))
                if let state {
                    if state.status == "failed", let retry = state.retryAtMs {
                        next = "\(Timestamp.iso8601(milliseconds: retry)) (attempt \(state.attempts + 1) of \(Scheduler.maxAttempts))"
                    }
                } else {
                    next = "\(Timestamp.iso8601(milliseconds: due)) (due now)"
                }
                print("  next: \(next)")
            }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one schedule now, as an occurrence of its own (claimed like any other, so it cannot overlap a running one).")
        @Argument(help: "The schedule's name (see `carthub schedule list`).") var name: String
        @OptionGroup var common: WorkerOptions

        func run() throws {
            let worker = try common.configuration()
            let schedules = try WorkerSchedules.make(worker: worker, mail: MailOptions.configuration())
            guard let schedule = schedules.first(where: { $0.name == name }) else {
                throw ValidationError("no schedule \(name); there are \(schedules.map(\.name).joined(separator: ", "))")
            }
            let now = Clock(file: Env.value("CARTHUB_CLOCK_FILE")).nowMs()
            let context = ScheduleContext(redis: try BlockingRedisConnection(worker.redis), postgres: try PostgresConnection(url: worker.databaseURL), nowMs: now)
            let host = ProcessInfo.processInfo.hostName
            switch try Scheduler.run(schedule, occurrenceMs: now, trigger: "manual", claimedBy: "cli@\(host):\(getpid())", context: context) {
            case .ran(true, let result):
                print("\(name): ok: \(result)")
            case .ran(false, let result):
                print("\(name): failed: \(result)")
                throw ExitCode(1)
            case .claimedElsewhere, .busy:
                print("\(name): running right now elsewhere; nothing done")
                throw ExitCode(1)
            }
        }
    }
}
