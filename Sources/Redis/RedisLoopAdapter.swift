internal import CHiredis
internal import CLibUV

/// Runs a hiredis async context on the libuv loop, in place of hiredis's own libuv adapter.
///
/// That adapter calls `uv_poll_start` on every command, read and write, and libuv 1.44's
/// `uv_poll_start` always takes the fd out of epoll first (EPOLL_CTL_DEL, then ADD on the
/// next loop turn): several syscalls per command. This one changes the poll only when the
/// wanted events change, and sends every command queued during a loop turn in one write
/// just before the loop polls again (a `uv_prepare` handle); POLLOUT is armed only when
/// the kernel did not take everything, or while the connect is in progress.
///
/// It lives until hiredis calls `cleanup` and libuv has closed both handles.
final class RedisLoopAdapter {
    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private let poll = UnsafeMutablePointer<uv_poll_t>.allocate(capacity: 1)
    private let flush = UnsafeMutablePointer<uv_prepare_t>.allocate(capacity: 1)
    /// The uv events the poll watches, and the events hiredis wants.
    private var armed: Int32 = 0
    private var wanted: Int32 = 0
    /// Inside a write: a further `addWrite` means the kernel buffer is full.
    private var writing = false
    private var openHandles = 2

    private init() {}

    static func attach(_ ac: UnsafeMutablePointer<redisAsyncContext>, to loop: UnsafeMutableRawPointer) -> Bool {
        guard ac.pointee.ev.data == nil else { return false }
        let uvLoop = loop.assumingMemoryBound(to: uv_loop_t.self)
        let adapter = RedisLoopAdapter()
        guard uv_poll_init(uvLoop, adapter.poll, ac.pointee.c.fd) == 0 else {
            adapter.poll.deallocate()
            adapter.flush.deallocate()
            return false
        }
        uv_prepare_init(uvLoop, adapter.flush)
        adapter.context = ac
        let opaque = Unmanaged.passRetained(adapter).toOpaque()
        adapter.poll.pointee.data = opaque
        adapter.flush.pointee.data = opaque
        ac.pointee.ev.data = opaque
        ac.pointee.ev.addRead = { loopAdapter(of: $0).want(Int32(UV_READABLE.rawValue), true) }
        ac.pointee.ev.delRead = { loopAdapter(of: $0).want(Int32(UV_READABLE.rawValue), false) }
        ac.pointee.ev.addWrite = { loopAdapter(of: $0).addWrite() }
        ac.pointee.ev.delWrite = { loopAdapter(of: $0).want(Int32(UV_WRITABLE.rawValue), false) }
        ac.pointee.ev.cleanup = { loopAdapter(of: $0).cleanup() }
        return true
    }

    private func want(_ event: Int32, _ on: Bool) {
        wanted = on ? wanted | event : wanted & ~event
        guard wanted != armed, context != nil else { return }
        armed = wanted
        if armed == 0 {
            uv_poll_stop(poll)
        } else {
            uv_poll_start(poll, armed, pollCallback)
        }
    }

    private func addWrite() {
        guard let context else { return }
        if writing || carthub_redis_is_connected(context) == 0 {
            want(Int32(UV_WRITABLE.rawValue), true)
        } else {
            // Starting an active prepare handle does nothing: one write per loop turn.
            uv_prepare_start(flush, flushCallback)
        }
    }

    fileprivate func polled(_ status: Int32, _ events: Int32) {
        var events = events
        if status != 0 {
            // libuv stopped the poll on a socket error (a refused connect, a reset): let
            // hiredis read the error now, rather than a command deadline find it later.
            armed = 0
            events = Int32(UV_READABLE.rawValue)
        }
        if events & Int32(UV_READABLE.rawValue) != 0 { read() }
        if context != nil, events & Int32(UV_WRITABLE.rawValue) != 0 { write() }
    }

    /// hiredis reads at most 16 KB per call, about 14 cart events. A hub's subscriber
    /// carries every event of its users' rooms, and one read per loop turn let it fall
    /// seconds behind a busy turn's replies, so read on while the kernel holds more, up to
    /// `maxReadsPerTurn` (then the other sockets get their turn).
    private func read() {
        for _ in 0..<Self.maxReadsPerTurn {
            guard let context else { return }
            redisAsyncHandleRead(context)
            // The callbacks may have disconnected it (cleanup sets `context` to nil).
            guard let context = self.context, carthub_bytes_readable(context.pointee.c.fd) > 0 else { return }
        }
    }

    private static let maxReadsPerTurn = 16

    fileprivate func flushed() {
        uv_prepare_stop(flush)
        if context != nil { write() }
    }

    private func write() {
        writing = true
        redisAsyncHandleWrite(context)
        writing = false
    }

    private func cleanup() {
        context = nil
        uv_close(UnsafeMutableRawPointer(poll).assumingMemoryBound(to: uv_handle_t.self), closeCallback)
        uv_close(UnsafeMutableRawPointer(flush).assumingMemoryBound(to: uv_handle_t.self), closeCallback)
    }

    fileprivate func handleClosed() {
        openHandles -= 1
        guard openHandles == 0 else { return }
        poll.deallocate()
        flush.deallocate()
        Unmanaged.passUnretained(self).release()
    }
}

private func loopAdapter(of data: UnsafeMutableRawPointer?) -> RedisLoopAdapter {
    Unmanaged<RedisLoopAdapter>.fromOpaque(data!).takeUnretainedValue()
}

private let pollCallback: @convention(c) (UnsafeMutablePointer<uv_poll_t>?, Int32, Int32) -> Void = { handle, status, events in
    guard let handle else { return }
    loopAdapter(of: handle.pointee.data).polled(status, events)
}

private let flushCallback: @convention(c) (UnsafeMutablePointer<uv_prepare_t>?) -> Void = { handle in
    guard let handle else { return }
    loopAdapter(of: handle.pointee.data).flushed()
}

private let closeCallback: @convention(c) (UnsafeMutablePointer<uv_handle_t>?) -> Void = { handle in
    guard let handle else { return }
    loopAdapter(of: handle.pointee.data).handleClosed()
}
