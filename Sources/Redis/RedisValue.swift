internal import CHiredis

/// A RESP2 reply.
public enum RedisValue: Equatable, Sendable {
    case string(String)
    case status(String)
    case error(String)
    case integer(Int64)
    case array([RedisValue])
    case null

    public var stringValue: String? {
        switch self {
        case .string(let s), .status(let s): s
        case .integer(let i): String(i)
        default: nil
        }
    }

    public var intValue: Int64? {
        switch self {
        case .integer(let i): i
        case .string(let s): Int64(s)
        default: nil
        }
    }

    public var arrayValue: [RedisValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    init(_ reply: UnsafePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case carthub_reply_string():
            self = .string(Self.text(r.str, r.len))
        case carthub_reply_status():
            self = .status(Self.text(r.str, r.len))
        case carthub_reply_error():
            self = .error(Self.text(r.str, r.len))
        case carthub_reply_integer():
            self = .integer(Int64(r.integer))
        case carthub_reply_array():
            self = .array((0..<r.elements).map { RedisValue(UnsafePointer(r.element[$0]!)) })
        default:
            self = .null
        }
    }

    private static func text(_ str: UnsafeMutablePointer<CChar>?, _ len: Int) -> String {
        guard let str, len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: len), as: UTF8.self)
    }
}

public struct RedisError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case unavailable, timeout, overloaded, server }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

extension RedisValue {
    /// The entries of an XREADGROUP stream or XAUTOCLAIM reply, `[[id, [field, value, ...]], ...]`,
    /// in order; deleted entries (a nil field list) come with no fields.
    public var streamEntries: [(id: String, fields: [String: String])] {
        (arrayValue ?? []).compactMap { item in
            guard let parts = item.arrayValue, parts.count == 2, let id = parts[0].stringValue else { return nil }
            let flat = parts[1].arrayValue ?? []
            var fields: [String: String] = [:]
            for i in stride(from: 0, to: flat.count - 1, by: 2) {
                if let key = flat[i].stringValue { fields[key] = flat[i + 1].stringValue ?? "" }
            }
            return (id, fields)
        }
    }
}
