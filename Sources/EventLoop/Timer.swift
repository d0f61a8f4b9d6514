internal import CLibUV

/// A libuv timer owned by Swift: `cancel()` (or dropping the last reference
/// after it fired for good) releases the handle.
public final class Timer {
    private var handle: UnsafeMutablePointer<uv_timer_t>?
    private let body: () -> Void

    init(loop: UnsafeMutablePointer<uv_loop_t>, delay: Double, interval: Double, body: @escaping () -> Void) {
        self.body = body
        let handle = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)
        uv_timer_init(loop, handle)
        // The handle keeps the timer alive until cancelled or fired once.
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
        self.handle = handle
        uv_timer_start(handle, { handle in
            let timer = Unmanaged<Timer>.fromOpaque(handle!.pointee.data).takeUnretainedValue()
            let repeats = uv_timer_get_repeat(handle) > 0
            timer.body()
            if !repeats { timer.cancel() }
        }, UInt64(max(0, delay) * 1000), UInt64(max(0, interval) * 1000))
    }

    public func cancel() {
        guard let handle else { return }
        self.handle = nil
        uv_timer_stop(handle)
        let retained = Unmanaged<Timer>.fromOpaque(handle.pointee.data)
        uv_close(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)) { raw in
            raw!.deallocate()
        }
        retained.release()
    }
}
