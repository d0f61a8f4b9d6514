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
            }
        }
        let deadline = loop.now + configuration.shutdownGraceSeconds - 0.5
        loop.schedule(after: 0.02, repeat: 0.02) { [unowned self] in
            closeAnsweredSessions()
            if server?.sessionCount ?? 0 == 0 || loop.now >= deadline { finishShutdown() }
        }
    }

    /// Closes (1001) every socket with nothing in flight that has been quiet for 100 ms:
    /// the commands it sent before the signal have been read and answered by then.
    private func closeAnsweredSessions() {
        for room in rooms.values {
            for session in room.sessions where session.isOpen {
                let client = client(session)
                if client.inFlight == 0, loop.now - client.lastReceivedAt >= 0.1 {
                    session.close(code: CloseCode.goingAway, reason: "server shutting down")
                }
            }
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
