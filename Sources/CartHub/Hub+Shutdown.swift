import Diagnostics
#if canImport(Glibc)
import Glibc
#endif

extension Hub {
    /// SIGTERM/SIGINT: refuse new sockets and commands, answer what is in flight,
    /// close every socket with 1001, and exit within the grace period.
    func beginShutdown() {
        guard !draining else { return }
        draining = true
        Log.info("shutting down: draining \(server?.sessionCount ?? 0) sockets")
        for room in rooms.values {
            for session in room.sessions {
                let client = client(session)
                for reply in client.heldReplies { session.send(reply) }
                client.heldReplies = []
                if client.inFlight == 0 { session.close(code: CloseCode.goingAway, reason: "server shutting down") }
            }
        }
        let deadline = loop.now + configuration.shutdownGraceSeconds - 0.5
        loop.schedule(after: 0.02, repeat: 0.02) { [unowned self] in
            if server?.sessionCount ?? 0 == 0 || loop.now >= deadline { finishShutdown() }
        }
    }

    private func finishShutdown() {
        let left = server?.sessionCount ?? 0
        if left > 0 { Log.warning("grace period over; dropping \(left) sockets") }
        Log.info("bye")
        server?.shutdown()
        exit(0)
    }
}
