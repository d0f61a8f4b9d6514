internal import CLibUV
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The process's one libuv loop: libwebsockets and hiredis both run on it, so the
/// service thread never waits on I/O. Everything but `post` must be called on the loop thread.
public final class EventLoop: @unchecked Sendable {
    let loop: UnsafeMutablePointer<uv_loop_t>
    private let wakeup: UnsafeMutablePointer<uv_async_t>
    private let inbox = Mutex<[@Sendable () -> Void]>([])

    public init() {
        loop = .allocate(capacity: 1)
        uv_loop_init(loop)
        wakeup = .allocate(capacity: 1)
        uv_async_init(loop, wakeup) { handle in
            Unmanaged<EventLoop>.fromOpaque(handle!.pointee.data).takeUnretainedValue().drainInbox()
        }
        wakeup.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    /// The `uv_loop_t *` for libraries that attach to this loop.
    package var rawLoop: UnsafeMutableRawPointer { UnsafeMutableRawPointer(loop) }

    /// Runs until `stop()` or until nothing is left to run.
    public func run() {
        uv_run(loop, UV_RUN_DEFAULT)
    }

    public func stop() { uv_stop(loop) }

    /// Seconds on a monotonic clock, cached per loop iteration.
    public var now: Double { Double(uv_now(loop)) / 1000 }

    /// Seconds on a monotonic clock, read now (for latencies below a millisecond).
    public var preciseNow: Double { Double(uv_hrtime()) / 1e9 }

    /// Runs `body` on the loop thread; callable from any thread.
    public func post(_ body: @escaping @Sendable () -> Void) {
        inbox.withLock { $0.append(body) }
        uv_async_send(wakeup)
    }

    private func drainInbox() {
        let jobs = inbox.withLock { jobs in
            defer { jobs.removeAll(keepingCapacity: true) }
            return jobs
        }
        for job in jobs { job() }
    }

    /// A one-shot or repeating timer; `repeat` 0 means one shot.
    @discardableResult
    public func schedule(after delay: Double, repeat interval: Double = 0, _ body: @escaping () -> Void) -> Timer {
        Timer(loop: loop, delay: delay, interval: interval, body: body)
    }

    /// Calls `body` on the loop thread when the process receives `signal`.
    public func onSignal(_ signal: Int32, _ body: @escaping () -> Void) {
        Self.unblock(signal)
        let box = Unmanaged.passRetained(CallbackBox(body)).toOpaque()
        let handle = UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1)
        uv_signal_init(loop, handle)
        handle.pointee.data = box
        uv_signal_start(handle, { handle, _ in
            Unmanaged<CallbackBox>.fromOpaque(handle!.pointee.data).takeUnretainedValue().body()
        }, signal)
        // Signal watchers must not keep the loop alive on their own.
        uv_unref(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self))
    }
}

extension EventLoop {
    /// A parent may start us with signals blocked (children inherit the spawning
    /// thread's mask); a handler for a blocked signal would never run.
    public static func unblock(_ signal: Int32) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, signal)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}

final class CallbackBox {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
