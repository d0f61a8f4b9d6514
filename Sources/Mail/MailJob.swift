import Foundation
import JSON
import Redis

/// The notification queue's Redis names.
public enum MailKeys {
    /// Every mail to send, one entry each (any kind: reminders now, order mails later).
    public static let stream = "mail:jobs"
    /// The consumer group of the workers that send them.
    public static let group = "mailers"
}

/// One mail to send, as it travels on `mail:jobs`: what happened (`kind`, `data`),
/// to whom, and the Message-ID fixed when the event was enqueued, so every retry,
/// replay or duplicate of the job carries the same one.
public struct MailJob: Sendable, Equatable {
    /// Names the template, e.g. `cart.reminder` (later `order.confirmed`, …).
    public var kind: String
    /// `<…@carthub>`, derived from the event (`MessageID`).
    public var messageId: String
    public var to: String
    /// The recipient's display name ("" for none).
    public var name: String
    /// The template's input, a JSON object.
    public var data: JSONValue
    /// When the event happened, Unix milliseconds.
    public var eventMs: Int64

    public init(kind: String, messageId: String, to: String, name: String, data: JSONValue, eventMs: Int64) {
        self.kind = kind
        self.messageId = messageId
        self.to = to
        self.name = name
        self.data = data
        self.eventMs = eventMs
    }

    /// The stream entry's fields.
    public var fields: [(String, String)] {
        [("kind", kind), ("mid", messageId), ("to", to), ("name", name), ("data", data.encoded), ("at", String(eventMs))]
    }

    /// Nil when a field is missing or malformed.
    public init?(fields: [String: String]) {
        guard let kind = fields["kind"], !kind.isEmpty, let mid = fields["mid"], MessageID.isValid(mid),
              let to = fields["to"], MailAddress.isPlausible(to), let raw = fields["data"],
              let data = try? JSONValue.parse(raw), data.objectValue != nil, let at = fields["at"].flatMap({ Int64($0) })
        else { return nil }
        self.init(kind: kind, messageId: mid, to: to, name: fields["name"] ?? "", data: data, eventMs: at)
    }
}

/// Puts mail on the queue. Enqueuing the same event twice is harmless: both jobs carry
/// one Message-ID and the second finds it sent (`mail_sends`).
public enum MailQueue {
    public static func enqueueCommand(_ job: MailJob) -> [String] {
        ["XADD", MailKeys.stream, "*"] + job.fields.flatMap { [$0.0, $0.1] }
    }

    /// Appends the job; returns its entry id.
    @discardableResult
    public static func enqueue(_ redis: BlockingRedisConnection, _ job: MailJob) throws -> String {
        guard case .string(let id) = try redis.command(enqueueCommand(job)) else {
            throw MailError("cannot append to \(MailKeys.stream)")
        }
        return id
    }
}

/// Stable Message-IDs: the event's parts, each encoded to RFC 5322 `atext`, joined by
/// dots, `@carthub`. The same event always gives the same id.
public enum MessageID {
    public static let domain = "carthub"

    /// `<reminder.u-abc.e3.v17@carthub>`: one per abandonment of a cart.
    public static func cartReminder(userId: String, epoch: Int64, version: Int64) -> String {
        make(["reminder", userId, "e\(epoch)", "v\(version)"])
    }

    /// For any event: e.g. `make(["order", orderId, "confirmed"])` → `<order.o-1.confirmed@carthub>`.
    public static func make(_ parts: [String]) -> String {
        "<" + parts.map(encode).joined(separator: ".") + "@" + domain + ">"
    }

    /// Letters, digits, `-` and `_` stay; every other byte becomes `=XX` (injective, and
    /// `=` is atext), so no part can contain a dot, `@` or `>`.
    static func encode(_ part: String) -> String {
        var out = ""
        for byte in part.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "=" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out.isEmpty ? "=" : out
    }

    public static func isValid(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count >= 5, bytes.count <= 250, bytes.first == UInt8(ascii: "<"), bytes.last == UInt8(ascii: ">"),
              bytes.filter({ $0 == UInt8(ascii: "@") }).count == 1 else { return false }
        return bytes.allSatisfy { $0 > 32 && $0 < 127 }
    }
}

/// Addresses as the queue accepts them: `local@domain`, printable ASCII, no spaces or
/// angle brackets (they go inside `<…>` in the SMTP envelope and headers).
public enum MailAddress {
    public static func isPlausible(_ address: String) -> Bool {
        let bytes = Array(address.utf8)
        guard (3...254).contains(bytes.count), let at = bytes.lastIndex(of: UInt8(ascii: "@")), at > 0, at < bytes.count - 1 else { return false }
        return bytes.allSatisfy { $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") && $0 != UInt8(ascii: ",") }
    }

    /// `Name <addr>` or `addr` (as MAIL_FROM may be written) → (display name, address).
    public static func parse(_ text: String) -> (name: String, address: String)? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let open = trimmed.lastIndex(of: "<"), trimmed.hasSuffix(">") {
            let address = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
            var name = trimmed[..<open].trimmingCharacters(in: .whitespaces)
            if name.hasPrefix("\""), name.hasSuffix("\""), name.count >= 2 { name = String(name.dropFirst().dropLast()) }
            return isPlausible(address) ? (name, address) : nil
        }
        return isPlausible(trimmed) ? ("", trimmed) : nil
    }
}

public struct MailError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
