#if canImport(Glibc)
import Glibc
#endif

/// A tiny blocking Redis client (RESP2) for the few reads of `--persistence`:
/// outside the measured path, so simplicity beats asynchrony here.
final class RedisProbe {
    enum Value {
        case string(String)
        case integer(Int64)
        case array([Value])
        case null
        case error(String)
    }

    struct ProbeError: Error, CustomStringConvertible { var description: String }

    private let fd: Int32
    private var buffer: [UInt8] = []
    private var offset = 0

    /// `redis://[[user]:password@]host[:port][/db]`
    init(url: String, timeoutSeconds: Int = 5) throws {
        guard url.hasPrefix("redis://") else { throw ProbeError(description: "REDIS_URL must start with redis:// (got \(url))") }
        var rest = Substring(url.dropFirst(8))
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let auth = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = auth.firstIndex(of: ":") {
                let u = auth[..<colon]
                user = u.isEmpty ? nil : String(u)
                password = String(auth[auth.index(after: colon)...]).removingPercentEncoding
            } else {
                password = String(auth).removingPercentEncoding
            }
        }
        var db = 0
        if let slash = rest.firstIndex(of: "/") {
            db = Int(rest[rest.index(after: slash)...]) ?? 0
            rest = rest[..<slash]
        }
        var host = String(rest)
        var port = 6379
        if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            port = Int(rest[rest.index(after: colon)...]) ?? 6379
        }
        if host.isEmpty || host == "localhost" { host = "127.0.0.1" }

        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProbeError(description: "socket() failed") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = try resolveIPv4(host: host, port: port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            Glibc.close(fd)
            throw ProbeError(description: "cannot connect to Redis at \(host):\(port): \(String(cString: strerror(errno)))")
        }
        if let password {
            let reply = try command(user.map { ["AUTH", $0, password] } ?? ["AUTH", password])
            if case .error(let message) = reply { throw ProbeError(description: "Redis AUTH failed: \(message)") }
        }
        if db != 0 { _ = try command(["SELECT", String(db)]) }
    }

    deinit { Glibc.close(fd) }

    func command(_ args: [String]) throws -> Value {
        var out = "*\(args.count)\r\n"
        for arg in args { out += "$\(arg.utf8.count)\r\n\(arg)\r\n" }
        var bytes = Array(out.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw ProbeError(description: "Redis write failed") }
            sent += n
        }
        bytes = []
        return try readValue()
    }

    /// HGETALL as a dictionary of integers (non-integer fields are left out).
    func integerHash(_ key: String) throws -> [String: Int64] {
        guard case .array(let flat) = try command(["HGETALL", key]) else { return [:] }
        var out: [String: Int64] = [:]
        var i = 0
        while i + 1 < flat.count {
            if case .string(let k) = flat[i], case .string(let v) = flat[i + 1], let n = Int64(v) { out[k] = n }
            i += 2
        }
        return out
    }

    private func fill() throws {
        if offset > 0 && offset == buffer.count { buffer.removeAll(keepingCapacity: true); offset = 0 }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw ProbeError(description: "Redis read failed or timed out") }
        buffer.append(contentsOf: chunk[0..<n])
    }

    private func line() throws -> String {
        while true {
            if let cr = buffer[offset...].firstIndex(of: 0x0D), cr + 1 < buffer.count {
                let text = String(decoding: buffer[offset..<cr], as: UTF8.self)
                offset = cr + 2
                return text
            }
            try fill()
        }
    }

    private func readValue() throws -> Value {
        let header = try line()
        guard let kind = header.first else { throw ProbeError(description: "empty Redis reply") }
        let body = String(header.dropFirst())
        switch kind {
        case "+": return .string(body)
        case "-": return .error(body)
        case ":": return .integer(Int64(body) ?? 0)
        case "$":
            let length = Int(body) ?? -1
            if length < 0 { return .null }
            while buffer.count - offset < length + 2 { try fill() }
            let text = String(decoding: buffer[offset..<(offset + length)], as: UTF8.self)
            offset += length + 2
            return .string(text)
        case "*":
            let count = Int(body) ?? -1
            if count < 0 { return .null }
            var items: [Value] = []
            for _ in 0..<count { items.append(try readValue()) }
            return .array(items)
        default:
            throw ProbeError(description: "unexpected Redis reply \(header)")
        }
    }
}

extension String {
    /// Decodes `%XX` escapes (passwords in URLs); nil if malformed.
    var removingPercentEncoding: String? {
        var out = [UInt8]()
        var bytes = Array(utf8)[...]
        while let c = bytes.popFirst() {
            if c == UInt8(ascii: "%") {
                guard bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// An IPv4 socket address for a dotted quad or a host name (resolved once, blocking).
func resolveIPv4(host: String, port: Int) throws -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    if inet_pton(AF_INET, host, &address.sin_addr) == 1 { return address }
    var hints = addrinfo()
    hints.ai_family = AF_INET
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result, let sa = first.pointee.ai_addr else {
        throw RedisProbe.ProbeError(description: "cannot resolve host \(host)")
    }
    defer { freeaddrinfo(result) }
    sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address.sin_addr = $0.pointee.sin_addr }
    return address
}
