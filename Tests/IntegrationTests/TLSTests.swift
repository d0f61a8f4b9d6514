import Foundation
import JSON
import Testing
import WebSocketClient

/// CARTHUB_TLS_CERT/KEY: one listener, https:// and wss:// only, TLS 1.2+, ALPN http/1.1.
/// Every test makes its own throwaway self-signed pair.
@Suite("TLS")
struct TLSTests {
    @Test("https GET /healthz answers 200 {\"status\":\"ok\"} over HTTP/1.1")
    func healthz() throws {
        let tls = try TLSMaterial()
        let hub = try tls.startHub()
        // curl offers h2 by ALPN when it can: the hub must still answer in HTTP/1.1.
        let response = try tls.curl(hub.httpsBase + "/healthz")
        #expect(response.status == 200, "\(response.run)")
        #expect(response.httpVersion == "1.1", "curl spoke HTTP \(response.httpVersion)")
        #expect((try? JSONValue.parse(response.body)) == ["status": "ok"], "body: \(response.body)")
    }

    @Test("ALPN: offered h2 and http/1.1 the hub picks http/1.1; offered only h2 it picks nothing")
    func alpn() throws {
        let tls = try TLSMaterial()
        let hub = try tls.startHub()
        let both = try tls.handshake(port: hub.port, ["-alpn", "h2,http/1.1"])
        #expect(both.version != nil, "the handshake failed: \(both)")
        #expect(both.alpn == "http/1.1", "negotiated \(both.alpn ?? "no ALPN"): \(both)")
        let h2 = try tls.handshake(port: hub.port, ["-alpn", "h2"])
        #expect(h2.alpn == nil, "h2 must never be negotiated; got \(h2.alpn ?? "-"): \(h2)")
    }

    @Test("TLS 1.1 is refused even by a client willing to use it; TLS 1.2 and 1.3 work")
    func versions() throws {
        let tls = try TLSMaterial()
        let hub = try tls.startHub()
        // The permissive configuration (the hub's too) and SECLEVEL=0 let s_client offer
        // TLS 1.1 and its CBC suites: only the hub's own settings can refuse them.
        let old = try tls.handshake(port: hub.port, ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
        #expect(old.version == nil, "TLS 1.1 must be refused; \(old)")
        // For its version, not merely for want of a common cipher (the hub's TLS 1.2
        // AEAD suites would refuse TLS 1.1 too, as a second line).
        #expect(old.run.output.contains("alert protocol version"), "the refusal must be a protocol_version alert; \(old)")
        let tls12 = try tls.handshake(port: hub.port, ["-tls1_2"])
        #expect(tls12.version == "TLSv1.2", "\(tls12)")
        let tls13 = try tls.handshake(port: hub.port, ["-tls1_3"])
        #expect(tls13.version == "TLSv1.3", "\(tls13)")
        #expect(hub.isRunning, "log:\n\(hub.log)")
    }

    @Test("wss:// with a Bearer token switches protocols (101) and says hello; the https origin is allowed, http is not")
    func secureSocket() throws {
        let tls = try TLSMaterial()
        let hub = try tls.startHub()
        let user = TestEnvironment.uniquePrefix("u")
        let token = Tokens.make(user: user)
        for headers in [Handshake.bearer(token), Handshake.bearer(token) + [("Origin", hub.secureOrigin)]] {
            let probe = try tls.probe(port: hub.port, request: TLSMaterial.upgradeRequest(port: hub.port, headers: headers), readFrame: true)
            #expect(probe.status == 101, "\(headers.map(\.0)): \(probe)")
            #expect(probe.alpn == "http/1.1", "\(probe)")
            let hello = try #require(probe.frame.flatMap { try? JSONValue.parse($0) }, "no hello frame: \(probe)")
            #expect(hello["type"] == "hello" && hello["userId"]?.stringValue == user, "\(hello.encoded)")
        }
        let plainOrigin = try tls.probe(port: hub.port, request: TLSMaterial.upgradeRequest(port: hub.port, headers: Handshake.bearer(token) + [("Origin", hub.origin)]))
        #expect(plainOrigin.status == 403, "on a TLS hub the own origin is https://, so http:// is foreign: \(plainOrigin)")
    }

    @Test("plain http:// to the TLS port is not served")
    func plainHTTPRefused() throws {
        let tls = try TLSMaterial()
        let hub = try tls.startHub()
        do {
            let response = try HTTPClient.request("GET", hub.httpBase + "/healthz", timeout: 20)
            Issue.record("a plain-text request got an HTTP answer: \(response.status) \(response.bodyText.prefix(200))")
        } catch WebSocketClientError.timeout {
            Issue.record("the hub neither answered nor closed the plain-text connection within 20 s")
        } catch {
            // The TLS layer rejects the bytes: no HTTP answer at all.
        }
        #expect(try tls.curl(hub.httpsBase + "/healthz").status == 200, "the hub keeps serving https")
    }

    @Test("Upgrade: h2c and Upgrade: foo over TLS are refused and the hub keeps serving https and wss")
    func nonWebSocketUpgrades() throws {
        let tls = try TLSMaterial()
        let hub = try tls.startHub()
        let token = Tokens.make(user: TestEnvironment.uniquePrefix("u"))
        for (name, request) in UpgradeAbuseTests.nonWebSocketUpgrades(port: hub.port, token: token) {
            let probe = try tls.probe(port: hub.port, request: request)
            // Refused: an error status, or the connection closed without an answer.
            if let status = probe.status {
                #expect(status >= 400, "\(name) must be refused, not switched or served: \(probe)")
            }
            #expect(probe.json["error"]?.stringValue?.contains("timed out") != true, "\(name): no answer and no close within 20 s: \(probe)")
            #expect(hub.isRunning, "\(name) killed the hub; log:\n\(hub.log)")
        }
        #expect(try tls.curl(hub.httpsBase + "/healthz").status == 200, "after the upgrade attempts; log:\n\(hub.log)")
        let socket = try tls.probe(port: hub.port, request: TLSMaterial.upgradeRequest(port: hub.port, headers: Handshake.bearer(token)), readFrame: true)
        #expect(socket.status == 101 && socket.frame?.contains(#""type":"hello""#) == true, "a wss handshake after the attempts: \(socket)")
    }

    /// A TLS setting the hub must refuse at start-up, and what its message must say.
    struct Misconfiguration: Sendable, CustomTestStringConvertible {
        let name: String
        let environment: @Sendable (TLSMaterial) -> [String: String]
        let message: String
        var testDescription: String { name }

        static let all: [Misconfiguration] = [
            .init(name: "only CARTHUB_TLS_CERT", environment: { ["CARTHUB_TLS_CERT": $0.certificate] }, message: "CARTHUB_TLS_KEY is not"),
            .init(name: "only CARTHUB_TLS_KEY", environment: { ["CARTHUB_TLS_KEY": $0.key] }, message: "CARTHUB_TLS_CERT is not"),
            .init(name: "a key file that does not exist", environment: { ["CARTHUB_TLS_CERT": $0.certificate, "CARTHUB_TLS_KEY": $0.directory + "/missing.pem"] }, message: "cannot read"),
            .init(name: "a certificate path that is a folder", environment: { ["CARTHUB_TLS_CERT": $0.directory, "CARTHUB_TLS_KEY": $0.key] }, message: "cannot read"),
            .init(name: "certificate and key swapped", environment: { ["CARTHUB_TLS_CERT": $0.key, "CARTHUB_TLS_KEY": $0.certificate] }, message: "cannot listen with TLS"),
        ]
    }

    @Test("a TLS misconfiguration stops the hub with a clear message and a non-zero exit", arguments: Misconfiguration.all)
    func misconfigured(_ bad: Misconfiguration) throws {
        let tls = try TLSMaterial()
        let run = try Tool.run(TestEnvironment.binary, ["serve"], environment: HubProcess.environment(bad.environment(tls)), timeout: 60)
        #expect(run.status != nil && run.status != 0, "the hub must refuse to start: \(run)")
        #expect(run.output.contains(bad.message), "the message must say what is wrong (\"\(bad.message)\"): \(run)")
        #expect(!run.stdout.contains("LISTENING"), "it must never claim to listen: \(run)")
    }
}
