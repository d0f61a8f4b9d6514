import Foundation

/// The wall clock of the scheduler and the mail queue, with a test and operations hook:
/// `CARTHUB_CLOCK_FILE` names a file re-read on every reading. Its content is either
/// - an offset added to the real clock: `+8d`, `-90m`, `+3600` (seconds), `0`; or
/// - an RFC 3339 instant (`2026-12-24T03:00:00Z`): the clock showed that instant when the
///   file was last written and runs on from there.
/// A missing or empty file means no offset; unreadable content keeps the last good value
/// (and is logged once). Never set it in production unless you mean to move time.
public final class Clock {
    public let file: String?
    private var lastGoodOffsetMs: Int64 = 0
    private var lastComplaint = ""

    public init(file: String?) { self.file = file }

    /// Milliseconds since the Unix epoch, as this process should believe.
    public func nowMs() -> Int64 {
        let real = Int64(Date().timeIntervalSince1970 * 1000)
        return real + offsetMs(realMs: real)
    }

    private func offsetMs(realMs: Int64) -> Int64 {
        guard let file else { return 0 }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return 0 }
        let content = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if content.isEmpty { return 0 }
        if let offset = Self.offset(content) {
            lastGoodOffsetMs = offset
        } else if let instant = Self.instant(content), let attributes = try? FileManager.default.attributesOfItem(atPath: file),
                  let modified = attributes[.modificationDate] as? Date {
            lastGoodOffsetMs = instant - Int64(modified.timeIntervalSince1970 * 1000)
        } else if content != lastComplaint {
            lastComplaint = content
            FileHandle.standardError.write(Data("clock: cannot read \(file) (\"\(content.prefix(40))\"); keeping the last offset\n".utf8))
        }
        return lastGoodOffsetMs
    }

    /// `+8d`, `-90m`, `+3600` → milliseconds; nil for anything else.
    static func offset(_ text: String) -> Int64? {
        guard let sign = text.first, sign == "+" || sign == "-" || sign.isNumber else { return nil }
        let body = sign.isNumber ? Substring(text) : text.dropFirst()
        guard let ms = DurationText.milliseconds(String(body)) else { return nil }
        return sign == "-" ? -ms : ms
    }

    static func instant(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text).map { Int64($0.timeIntervalSince1970 * 1000) }
    }
}

/// Durations as operators write them: `7d`, `36h`, `90m`, `2s`, `1500ms`, `1w`, or
/// combined (`1d12h`); a bare number is seconds.
public enum DurationText {
    public static func milliseconds(_ text: String) -> Int64? {
        let chars = Array(text.trimmingCharacters(in: .whitespaces))
        guard !chars.isEmpty else { return nil }
        if chars.allSatisfy(\.isASCIIDigit) { return Int64(String(chars)).flatMap { $0 <= Int64.max / 1000 ? $0 * 1000 : nil } }
        var total: Int64 = 0
        var i = 0
        while i < chars.count {
            var digits = ""
            while i < chars.count, chars[i].isASCIIDigit { digits.append(chars[i]); i += 1 }
            var unit = ""
            while i < chars.count, chars[i].isLetter { unit.append(chars[i]); i += 1 }
            guard let n = Int64(digits), let scale = units[unit.lowercased()] else { return nil }
            let (product, overflow) = n.multipliedReportingOverflow(by: scale)
            guard !overflow else { return nil }
            let (sum, overflow2) = total.addingReportingOverflow(product)
            guard !overflow2 else { return nil }
            total = sum
        }
        return total
    }

    static let units: [String: Int64] = ["ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000]

    /// 691200000 → `8d`; 5400000 → `1h30m`.
    public static func describe(_ ms: Int64) -> String {
        guard ms > 0 else { return "0s" }
        var rest = ms
        var out = ""
        for (unit, scale) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] where rest >= scale {
            out += "\(rest / scale)\(unit)"
            rest %= scale
        }
        return out
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
