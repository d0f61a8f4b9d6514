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
    public enum Kind: Sendable { case unavailable, timeout, server }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
