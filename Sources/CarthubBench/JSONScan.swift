#if canImport(Glibc)
import Glibc
#endif

/// What the bench needs from one hub message, found in one pass over the bytes
/// without building a tree or copying strings. Ranges index the scanned buffer;
/// string ranges are the raw content between the quotes (our ids need no escapes).
struct ServerMessage {
    enum Kind { case hello, reply, cartUpdated, other }
    var kind: Kind = .other
    var requestId: Range<Int>?
    var ok = false
    var code: Range<Int>?
    /// The cart object (`{…}`), in `hello`, a successful `reply` or `cart.updated`.
    var cart: Range<Int>?
    var originRequestId: Range<Int>?
}

/// A forgiving, allocation-free JSON walker over bytes the hub sent: it finds
/// keys and skips values; it does not validate more than it needs.
struct JSONScan {
    let b: UnsafeBufferPointer<UInt8>
    var i: Int
    let end: Int

    init(_ b: UnsafeBufferPointer<UInt8>, range: Range<Int>? = nil) {
        self.b = b
        i = range?.lowerBound ?? 0
        end = range?.upperBound ?? b.count
    }

    mutating func ws() {
        while i < end {
            let c = b[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { return }
        }
    }

    /// At a `"`: the content range; `i` moves past the closing quote.
    mutating func string() -> Range<Int>? {
        ws()
        guard i < end, b[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        let start = i
        while i < end {
            let c = b[i]
            if c == UInt8(ascii: "\\") { i += 2; continue }
            if c == UInt8(ascii: "\"") {
                let r = start..<i
                i += 1
                return r
            }
            i += 1
        }
        return nil
    }

    /// A string, or nil for `null` (or anything else, which is skipped).
    mutating func stringOrNull() -> Range<Int>? {
        ws()
        guard i < end else { return nil }
        if b[i] == UInt8(ascii: "\"") { return string() }
        _ = skipValue()
        return nil
    }

    mutating func int() -> Int64? {
        ws()
        var negative = false
        if i < end, b[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        var value: Int64 = 0
        var digits = 0
        while i < end, b[i] >= 0x30, b[i] <= 0x39 {
            value = value &* 10 &+ Int64(b[i] - 0x30)
            i += 1
            digits += 1
        }
        guard digits > 0 else { _ = skipValue(); return nil }
        // Fractions or exponents are not ours to read; skip them.
        while i < end, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")
            || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") || (b[i] >= 0x30 && b[i] <= 0x39) { i += 1 }
        return negative ? -value : value
    }

    mutating func bool() -> Bool {
        ws()
        guard i < end else { return false }
        let isTrue = b[i] == UInt8(ascii: "t")
        _ = skipValue()
        return isTrue
    }

    /// Skips one value of any kind; false on malformed input.
    mutating func skipValue() -> Bool {
        ws()
        guard i < end else { return false }
        switch b[i] {
        case UInt8(ascii: "\""):
            return string() != nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while i < end {
                let c = b[i]
                if c == UInt8(ascii: "\"") {
                    guard string() != nil else { return false }
                    continue
                }
                if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") { depth += 1 }
                else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                    depth -= 1
                    if depth == 0 { i += 1; return true }
                }
                i += 1
            }
            return false
        default:
            while i < end {
                let c = b[i]
                if c == UInt8(ascii: ",") || c == UInt8(ascii: "}") || c == UInt8(ascii: "]") || c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { break }
                i += 1
            }
            return true
        }
    }

    /// The range of the next value (which is skipped).
    mutating func valueRange() -> Range<Int>? {
        ws()
        let start = i
        guard skipValue() else { return nil }
        return start..<i
    }

    /// Walks an object's members; `body` must consume each value.
    mutating func object(_ body: (Range<Int>, inout JSONScan) -> Void) -> Bool {
        ws()
        guard i < end, b[i] == UInt8(ascii: "{") else { _ = skipValue(); return false }
        i += 1
        ws()
        if i < end, b[i] == UInt8(ascii: "}") { i += 1; return true }
        while i < end {
            guard let key = string() else { return false }
            ws()
            guard i < end, b[i] == UInt8(ascii: ":") else { return false }
            i += 1
            let before = i
            body(key, &self)
            if i == before { guard skipValue() else { return false } }
            ws()
            guard i < end else { return false }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; return true }
            return false
        }
        return false
    }

    /// Walks an array's elements; `body` must consume each element.
    mutating func array(_ body: (inout JSONScan) -> Void) -> Bool {
        ws()
        guard i < end, b[i] == UInt8(ascii: "[") else { _ = skipValue(); return false }
        i += 1
        ws()
        if i < end, b[i] == UInt8(ascii: "]") { i += 1; return true }
        while i < end {
            let before = i
            body(&self)
            if i == before { guard skipValue() else { return false } }
            ws()
            guard i < end else { return false }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; return true }
            return false
        }
        return false
    }

    func equals(_ r: Range<Int>, _ literal: StaticString) -> Bool {
        guard r.count == literal.utf8CodeUnitCount else { return false }
        return memcmp(b.baseAddress! + r.lowerBound, literal.utf8Start, r.count) == 0
    }
}

extension ServerMessage {
    static func parse(_ b: UnsafeBufferPointer<UInt8>) -> ServerMessage? {
        var m = ServerMessage()
        var s = JSONScan(b)
        let ok = s.object { key, s in
            if s.equals(key, "type") {
                guard let t = s.string() else { return }
                if s.equals(t, "reply") { m.kind = .reply }
                else if s.equals(t, "cart.updated") { m.kind = .cartUpdated }
                else if s.equals(t, "hello") { m.kind = .hello }
            } else if s.equals(key, "requestId") {
                m.requestId = s.stringOrNull()
            } else if s.equals(key, "ok") {
                m.ok = s.bool()
            } else if s.equals(key, "cart") {
                m.cart = s.valueRange()
            } else if s.equals(key, "data") {
                _ = s.object { key, s in
                    if s.equals(key, "cart") { m.cart = s.valueRange() }
                }
            } else if s.equals(key, "error") {
                _ = s.object { key, s in
                    if s.equals(key, "code") { m.code = s.string() }
                }
            } else if s.equals(key, "origin") {
                _ = s.object { key, s in
                    if s.equals(key, "requestId") { m.originRequestId = s.stringOrNull() }
                }
            }
        }
        return ok ? m : nil
    }

    /// Reads a cart's epoch and version, and calls `line` for each item (book id range, quantity).
    static func readCart(
        _ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>,
        header: (_ epoch: Int64, _ version: Int64) -> Bool,
        line: (Range<Int>, Int64) -> Void
    ) {
        // epoch and version come before items in the script's encoding; read them
        // first in one pass and only walk the items if the caller wants them.
        var epoch: Int64 = 1, version: Int64 = -1
        var itemsRange: Range<Int>?
        var s = JSONScan(b, range: range)
        _ = s.object { key, s in
            if s.equals(key, "epoch") { epoch = s.int() ?? 1 }
            else if s.equals(key, "version") { version = s.int() ?? -1 }
            else if s.equals(key, "items") { itemsRange = s.valueRange() }
        }
        guard version >= 0, header(epoch, version), let itemsRange else { return }
        var items = JSONScan(b, range: itemsRange)
        _ = items.array { s in
            var book: Range<Int>?
            var quantity: Int64 = 0
            _ = s.object { key, s in
                if s.equals(key, "bookId") { book = s.string() }
                else if s.equals(key, "quantity") { quantity = s.int() ?? 0 }
            }
            if let book { line(book, quantity) }
        }
    }
}
