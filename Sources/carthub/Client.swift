import ArgumentParser
import Foundation
import JSON
import WebSocketClient

struct Client: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Interactive socket client: one command per line, every reply and event printed.",
        discussion: """
            Commands: get | add BOOK [QTY] | set BOOK QTY | remove BOOK | clear | quit
            A line starting with { is sent as-is (raw JSON).
            """)

    @Option(help: "Hub socket URL.") var url: String = "ws://127.0.0.1:8080/ws"
    @Option(help: "Access token (sent as Authorization: Bearer).") var token: String
    @Option(help: "Origin header to send, if any.") var origin: String?

    func run() throws {
        var headers = [("Authorization", "Bearer \(token)")]
        if let origin { headers.append(("Origin", origin)) }
        let socket: WebSocketClient
        do {
            socket = try WebSocketClient.connect(url: url, headers: headers)
        } catch WebSocketClientError.handshakeRejected(let response) {
            throw ValidationError("handshake refused: HTTP \(response.status) \(response.bodyText)")
        }
        FileHandle.standardError.write(Data("connected to \(url); type 'help' for commands\n".utf8))
        var counter = 0
        var stdinOpen = true
        while socket.isOpen {
            if stdinOpen, Self.stdinReadable() {
                guard let line = readLine() else {
                    stdinOpen = false
                    continue
                }
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed == "quit" || trimmed == "exit" { break }
                if trimmed.isEmpty { continue }
                if trimmed == "help" {
                    FileHandle.standardError.write(Data((Self.configuration.discussion + "\n").utf8))
                    continue
                }
                counter += 1
                guard let frame = Self.frame(for: trimmed, requestId: "cli-\(counter)-\(UInt32.random(in: 0...UInt32.max))") else {
                    FileHandle.standardError.write(Data("? unknown command; type 'help'\n".utf8))
                    continue
                }
                try socket.sendText(frame)
            }
            do {
                switch try socket.receive(timeout: stdinOpen ? 0.05 : 1) {
                case .text(let text): print(text)
                case .binary(let bytes): print("<binary \(bytes.count) bytes>")
                case .close(let code, let reason): print("closed: \(code.map(String.init) ?? "-") \(reason)")
                }
                fflush(nil)
            } catch WebSocketClientError.timeout {
                if !stdinOpen { break }
            }
        }
        socket.close()
    }

    static func stdinReadable() -> Bool {
        var fds = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        return poll(&fds, 1, 0) > 0
    }

    /// Turns `add bk-1 2` and friends into protocol frames.
    static func frame(for line: String, requestId: String) -> String? {
        if line.hasPrefix("{") { return line }
        let words = line.split(separator: " ").map(String.init)
        var fields: [String: JSONValue] = ["requestId": .string(requestId)]
        switch (words.first ?? "", words.count) {
        case ("get", 1): fields["type"] = "cart.get"
        case ("clear", 1): fields["type"] = "cart.clear"
        case ("remove", 2):
            fields["type"] = "cart.remove"
            fields["bookId"] = .string(words[1])
        case ("add", 2), ("add", 3):
            fields["type"] = "cart.add"
            fields["bookId"] = .string(words[1])
            guard let q = Int64(words.count == 3 ? words[2] : "1") else { return nil }
            fields["quantity"] = .int(q)
        case ("set", 3):
            fields["type"] = "cart.setQuantity"
            fields["bookId"] = .string(words[1])
            guard let q = Int64(words[2]) else { return nil }
            fields["quantity"] = .int(q)
        default:
            return nil
        }
        return JSONValue.object(fields).encoded
    }
}
