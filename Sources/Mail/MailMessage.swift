import Foundation

/// What a template produces.
public struct RenderedMail: Sendable, Equatable {
    public var subject: String
    public var text: String
    public var html: String

    public init(subject: String, text: String, html: String) {
        self.subject = subject
        self.text = text
        self.html = html
    }
}

/// An RFC 5322 message: Date, Message-ID, From, To, Subject, MIME-Version headers and a
/// multipart/alternative body (plain text, then HTML), both parts UTF-8 in base64 with
/// 76-character lines, every line ending in CRLF. Headers with non-ASCII text use
/// RFC 2047 encoded words. (Dot-stuffing is libcurl's job.)
public struct MailMessage: Sendable {
    public var from: (name: String, address: String)
    public var to: (name: String, address: String)
    public var messageId: String
    public var dateMs: Int64
    public var content: RenderedMail

    public init(from: (name: String, address: String), to: (name: String, address: String), messageId: String, dateMs: Int64, content: RenderedMail) {
        self.from = from
        self.to = to
        self.messageId = messageId
        self.dateMs = dateMs
        self.content = content
    }

    public var bytes: [UInt8] { Array(text.utf8) }

    public var text: String {
        // Derived from the Message-ID: stable, and never inside a base64 body (it has `=_`).
        let boundary = "=_carthub_" + String(UInt64(truncatingIfNeeded: Self.fnv1a(messageId)), radix: 36)
        var lines = [
            "Date: " + Self.rfc5322Date(dateMs),
            "From: " + Self.mailbox(from),
            "To: " + Self.mailbox(to),
            "Subject: " + Self.headerText(content.subject),
            "Message-ID: " + messageId,
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
            "",
            "This is a multi-part message in MIME format.",
        ]
        for (type, body) in [("text/plain", content.text), ("text/html", content.html)] {
            lines += ["--" + boundary, "Content-Type: \(type); charset=utf-8", "Content-Transfer-Encoding: base64", ""]
            lines += Self.base64Lines(Self.crlf(body))
        }
        lines += ["--" + boundary + "--", ""]
        return lines.joined(separator: "\r\n")
    }

    /// `"Name" <addr>`, the name quoted or encoded as needed; `addr` alone without a name.
    static func mailbox(_ m: (name: String, address: String)) -> String {
        guard !m.name.isEmpty else { return m.address }
        let clean = m.name.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        if clean.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value < 127 }) {
            let escaped = clean.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "\"\(escaped)\" <\(m.address)>"
        }
        return encodedWords(clean) + " <\(m.address)>"
    }

    /// Unstructured header text: as is when printable ASCII, else RFC 2047 `=?UTF-8?B?…?=`
    /// words (each under 76 characters, never splitting a character), folded.
    static func headerText(_ text: String) -> String {
        let clean = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        if clean.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value < 127 }), clean.utf8.count <= 900 { return clean }
        return encodedWords(clean)
    }

    static func encodedWords(_ text: String) -> String {
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > 45 {
                words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=") }
        return words.joined(separator: "\r\n ")
    }

    static func crlf(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n").replacingOccurrences(of: "\n", with: "\r\n")
    }

    static func base64Lines(_ text: String) -> [String] {
        let encoded = Array(Data(text.utf8).base64EncodedString().utf8)
        return stride(from: 0, to: encoded.count, by: 76).map { String(decoding: encoded[$0..<min($0 + 76, encoded.count)], as: UTF8.self) }
    }

    /// `Tue, 01 Dec 2026 10:00:00 +0000`.
    static func rfc5322Date(_ ms: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
