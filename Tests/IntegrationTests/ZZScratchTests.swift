import Foundation
import Testing
import WebSocketClient
import JSON

@Suite struct ZZScratch {
    @Test func sigmask() throws {
        let hub = try HubProcess.withDefaultSignalMask()
        print("HUBSTATUS", hub.blockedSignals)
        let user = TestEnvironment.uniquePrefix("u")
        let now = Int64(Date().timeIntervalSince1970)
        let s = try CartSocket(hub, user: user, token: Tokens.codec.sign(.init(subject: user, expiresAt: now + 2, issuedAt: now)))
        let t0 = Date()
        while true {
            do {
                let m = try s.ws.receive(timeout: 10)
                print("GOT", seconds(since: t0), m)
                if case .close = m { break }
            } catch { print("ERR", seconds(since: t0), error); break }
        }
        print(hub.log)
    }
}
