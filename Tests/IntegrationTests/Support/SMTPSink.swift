import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `scripts/smtp-sink.py` (aiosmtpd from the pinned venv) on a loopback port: every
/// message it accepts becomes one .eml file in `folder`. Killed when the test lets go.
final class SMTPSink: @unchecked Sendable {
    let port: Int
    let folder: String
    let delayFile: String
    private var process: Process?

    /// `start: false` reserves the port and folder only (a server that is down).
    init(start: Bool = true) throws {
        port = try freeLoopbackPort()
        folder = NSTemporaryDirectory() + "carthub-mails-\(UUID().uuidString.prefix(8).lowercased())"
        delayFile = folder + ".delay"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if start { try self.start() }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: folder)
        try? FileManager.default.removeItem(atPath: delayFile)
    }

    var url: String { "smtp://127.0.0.1:\(port)" }

    static func python() throws -> String {
        let configured = ProcessInfo.processInfo.environment["CARTHUB_PYTHON_TOOLS"] ?? ""
        let bin = configured.isEmpty ? TestEnvironment.checkout.appendingPathComponent("scripts/.data/venv/bin").path : configured
        let path = bin + "/python3"
        try #require(FileManager.default.isExecutableFile(atPath: bin + "/aiosmtpd"),
                     "aiosmtpd is not installed in \(bin): run scripts/python-tools.sh (scripts/test.sh does), or set CARTHUB_PYTHON_TOOLS")
        return path
    }

    func start(timeout: Double = 20) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.python())
        process.arguments = [TestEnvironment.checkout.appendingPathComponent("scripts/smtp-sink.py").path,
                             "--port", String(port), "--dir", folder, "--delay-file", delayFile]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let reader = out.fileHandleForReading
        var text = ""
        let deadline = Date().addingTimeInterval(timeout)
        while !text.contains("READY"), Date() < deadline, process.isRunning {
            var fds = pollfd(fd: reader.fileDescriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&fds, 1, 100) > 0 else { continue }
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard text.contains("READY") else {
            stop()
            Issue.record("smtp-sink.py did not start on port \(port)")
            throw HubStartError()
        }
    }

    func stop() {
        guard let process else { return }
        self.process = nil
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// While set, the server waits this long after storing a message before it answers 250.
    func setDelay(_ seconds: Double?) throws {
        if let seconds { try String(seconds).write(toFile: delayFile, atomically: true, encoding: .utf8) } else { try? FileManager.default.removeItem(atPath: delayFile) }
    }

    /// Every stored message, oldest first.
    func messages() -> [StoredMail] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".eml") && !$0.hasPrefix(".") }.sorted()
        return names.compactMap { name in
            (try? String(contentsOfFile: folder + "/" + name, encoding: .utf8)).map(StoredMail.init)
        }
    }
}

/// One received message, split into headers and decoded MIME parts.
struct StoredMail {
    let raw: String

    init(_ raw: String) { self.raw = raw }

    private var headerBlock: Substring {
        raw.range(of: "\r\n\r\n").map { raw[..<$0.lowerBound] } ?? Substring(raw)
    }

    /// An unfolded header's value, nil when absent.
    func header(_ name: String) -> String? {
        let unfolded = headerBlock.replacingOccurrences(of: "\r\n ", with: " ").replacingOccurrences(of: "\r\n\t", with: " ")
        for line in unfolded.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == name.lowercased() else { continue }
            return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    var messageId: String { header("Message-ID") ?? "" }

    /// The decoded body of the part of this Content-Type (base64 parts).
    func part(_ type: String) -> String? {
        for chunk in raw.components(separatedBy: "\r\n--") where chunk.contains("Content-Type: \(type)") {
            guard let start = chunk.range(of: "\r\n\r\n") else { continue }
            let body = chunk[start.upperBound...]
            guard let data = Data(base64Encoded: String(body), options: .ignoreUnknownCharacters) else { return nil }
            return String(decoding: data, as: UTF8.self)
        }
        return nil
    }
}
