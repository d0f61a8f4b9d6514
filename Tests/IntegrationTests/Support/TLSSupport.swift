import Foundation
import JSON
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// An external tool run to completion, or killed at its deadline.
struct ToolRun: CustomStringConvertible {
    /// nil when the tool was still running at the deadline (and was killed).
    var status: Int32?
    var stdout: String
    var stderr: String

    var output: String { stdout + stderr }
    var description: String {
        "exit \(status.map(String.init) ?? "none (killed at the deadline)"); stdout: \(stdout.suffix(3000)); stderr: \(stderr.suffix(3000))"
    }
}

enum Tool {
    /// The tool's path on PATH, or a failure saying how to get it.
    static func require(_ name: String, package: String) throws -> String {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        return try #require(path, "\(name) is not installed: run the tests through scripts/test.sh (its services step installs the apt package \(package))")
    }

    /// Runs `executable arguments…` with stdin from /dev/null; `environment` replaces the
    /// test's own (nil keeps it). Output goes through files, so a chatty tool never blocks.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Double = 30) throws -> ToolRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let base = NSTemporaryDirectory() + "carthub-tool-\(UUID().uuidString.prefix(8))"
        FileManager.default.createFile(atPath: base + ".out", contents: nil)
        FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: base + ".out")
        process.standardError = FileHandle(forWritingAtPath: base + ".err")
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        let finished = !process.isRunning
        if !finished { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return ToolRun(status: finished ? process.terminationStatus : nil, stdout: read(base + ".out"), stderr: read(base + ".err"))
    }
}

/// A throwaway self-signed certificate (EC P-256, CN and SAN 127.0.0.1) and key in a
/// temporary folder, with the clients the TLS tests drive: curl, `openssl s_client`
/// and a Python 3 stdlib probe for raw requests and WebSocket handshakes.
final class TLSMaterial {
    let directory: String
    let openssl: String
    var certificate: String { directory + "/cert.pem" }
    var key: String { directory + "/key.pem" }
    /// An OpenSSL configuration allowing TLS 1.0 on and security level 0, for the hub and
    /// for `s_client`: neither Debian's system defaults (MinProtocol TLSv1.2, SECLEVEL 2)
    /// nor OpenSSL 3's built-in level 1 (which alone rules out TLS 1.1) refuse anything
    /// then, so a refusal the tests see is the hub's own doing.
    var permissiveOpenSSLConfig: String { directory + "/openssl-permissive.cnf" }
    var probeScript: String { directory + "/tlsprobe.py" }

    init() throws {
        openssl = try Tool.require("openssl", package: "openssl")
        var template = Array((NSTemporaryDirectory() + "carthub-tls-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        try #require(made, "cannot create a temporary folder: \(String(cString: strerror(errno)))")
        directory = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let run = try Tool.run(openssl, [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", key, "-out", certificate,
        ])
        try #require(run.status == 0, "openssl could not make a self-signed certificate: \(run)")
        try Data(Self.permissiveConfiguration.utf8).write(to: URL(fileURLWithPath: permissiveOpenSSLConfig))
        try Data(Self.probeSource.utf8).write(to: URL(fileURLWithPath: probeScript))
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// What a hub needs to serve https/wss with this pair.
    var hubEnvironment: [String: String] {
        ["CARTHUB_TLS_CERT": certificate, "CARTHUB_TLS_KEY": key, "OPENSSL_CONF": permissiveOpenSSLConfig]
    }

    func startHub() throws -> HubProcess { try HubProcess(environment: hubEnvironment) }

    /// `curl -sk` of `url`: the status, the HTTP version curl ended up speaking, and the body.
    func curl(_ url: String) throws -> (status: Int, httpVersion: String, body: String, run: ToolRun) {
        let curl = try Tool.require("curl", package: "curl")
        let run = try Tool.run(curl, ["-sk", "--max-time", "20", "-w", "\n%{http_code} %{http_version}", url])
        let lines = run.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let last = (lines.last ?? "").split(separator: " ")
        let body = lines.dropLast().joined(separator: "\n")
        return (Int(last.first ?? "") ?? 0, last.count > 1 ? String(last[1]) : "", body, run)
    }

    /// `openssl s_client` against the hub with the permissive configuration.
    func handshake(port: Int, _ options: [String]) throws -> TLSHandshake {
        var environment = ProcessInfo.processInfo.environment
        environment["OPENSSL_CONF"] = permissiveOpenSSLConfig
        let run = try Tool.run(openssl, ["s_client", "-connect", "127.0.0.1:\(port)"] + options, environment: environment)
        return TLSHandshake(run: run)
    }

    /// Sends `request` over TLS (ALPN http/1.1, any certificate) and reads the answer's
    /// head and, after a 101 when `readFrame`, the first WebSocket frame.
    func probe(port: Int, request: String, readFrame: Bool = false) throws -> TLSProbe {
        let python = try Tool.require("python3", package: "python3")
        let requestFile = directory + "/request-\(UUID().uuidString.prefix(8))"
        try Data(request.utf8).write(to: URL(fileURLWithPath: requestFile))
        let run = try Tool.run(python, [probeScript, String(port), requestFile] + (readFrame ? ["frames"] : []), timeout: 40)
        let line = run.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let json = try #require(try? JSONValue.parse(line), "the TLS probe printed no JSON: \(run)")
        return TLSProbe(json: json, run: run)
    }

    /// A WebSocket handshake for /ws with `headers`, as raw HTTP/1.1.
    static func upgradeRequest(port: Int, headers: [(String, String)]) -> String {
        var lines = [
            "GET /ws HTTP/1.1", "Host: 127.0.0.1:\(port)", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: carthub.v1",
        ]
        lines += headers.map { "\($0.0): \($0.1)" }
        return lines.joined(separator: "\r\n") + "\r\n\r\n"
    }

    private static let permissiveConfiguration = """
    openssl_conf = carthub_tests
    [carthub_tests]
    ssl_conf = carthub_ssl
    [carthub_ssl]
    system_default = carthub_permissive
    [carthub_permissive]
    MinProtocol = TLSv1
    CipherString = DEFAULT@SECLEVEL=0

    """

    private static let probeSource = #"""
    # TLS probe of carthub's TLS tests (Python 3 standard library only).
    #   tlsprobe.py PORT REQUEST_FILE [frames]
    # Connects to 127.0.0.1:PORT with TLS (any certificate, ALPN http/1.1), sends the
    # bytes of REQUEST_FILE, reads the response head and, with "frames", the first
    # (unmasked) WebSocket frame after a 101. Prints one JSON object; "status" is null
    # when no HTTP answer came (the server closed the connection).
    import json, socket, ssl, sys

    port, request_file = int(sys.argv[1]), sys.argv[2]
    want_frame = len(sys.argv) > 3 and sys.argv[3] == "frames"
    out = {"status": None, "head": "", "frame": None, "alpn": None, "tls": None, "error": None}
    rest = b""

    def need(s, n):
        global rest
        while len(rest) < n:
            chunk = s.recv(4096)
            if not chunk:
                raise EOFError("connection closed inside a frame")
            rest += chunk
        taken, rest = rest[:n], rest[n:]
        return taken

    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="127.0.0.1")
        out["alpn"], out["tls"] = s.selected_alpn_protocol(), s.version()
        with open(request_file, "rb") as f:
            s.sendall(f.read())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        out["head"] = head.decode("latin-1")
        parts = out["head"].split(" ", 2)
        if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
            out["status"] = int(parts[1])
        if want_frame and out["status"] == 101:
            b0, b1 = need(s, 2)
            length = b1 & 0x7F
            if length == 126:
                length = int.from_bytes(need(s, 2), "big")
            elif length == 127:
                length = int.from_bytes(need(s, 8), "big")
            out["opcode"] = b0 & 0x0F
            out["frame"] = need(s, length).decode("utf-8")
        s.close()
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out))
    """#
}

/// What `openssl s_client` reported.
struct TLSHandshake: CustomStringConvertible {
    let run: ToolRun

    /// The protocol version of an established session ("TLSv1.2"), nil when none was.
    var version: String? {
        // "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" once the handshake completed, or
        // "New, (NONE), Cipher is (NONE)" after a failed one. (The "Protocol :" line of the
        // session block is no help: it names the attempted version after a failure, and with
        // TLS 1.3 it may be missing when s_client quits before the session ticket arrives.)
        let lines = run.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let summary = lines.first(where: { $0.hasPrefix("New, ") }) else { return nil }
        let fields = summary.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard fields.count > 1, fields[1].hasPrefix("TLSv") else { return nil }
        return fields[1]
    }

    /// "http/1.1", or nil for "No ALPN negotiated".
    var alpn: String? {
        run.stdout.split(separator: "\n").first { $0.hasPrefix("ALPN protocol: ") }.map { String($0.dropFirst("ALPN protocol: ".count)) }
    }

    var description: String { "\(run)" }
}

/// What the Python probe saw.
struct TLSProbe: CustomStringConvertible {
    let json: JSONValue
    let run: ToolRun

    var status: Int? { json["status"]?.intValue.map(Int.init) }
    var frame: String? { json["frame"]?.stringValue }
    var alpn: String? { json["alpn"]?.stringValue }
    var description: String { json.encoded }
}
