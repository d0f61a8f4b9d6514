import Glibc

/// A connected, non-blocking TCP socket with a read buffer. Every wait goes
/// through poll(2) with a deadline, so no call can block forever unless asked to.
/// Read errors (including ECONNRESET) count as end of stream: a test client
/// cares that the connection is gone, not why.
final class TCPSocket {
    private var fd: Int32
    private var storage: [UInt8] = []
    private var head = 0
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)

    /// Takes ownership of a connected socket.
    init(adopting fd: Int32) {
        self.fd = fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit { close() }

    var isClosed: Bool { fd < 0 }

    /// Bytes received but not yet consumed.
    var buffered: ArraySlice<UInt8> { storage[head...] }

    func close() {
        guard fd >= 0 else { return }
        _ = Glibc.close(fd)
        fd = -1
    }

    // MARK: Connecting

    /// `sourceAddress` binds the local end to that IPv4 address first (e.g. `127.0.0.7`,
    /// so a test can look like another client on loopback).
    static func connect(host: String, port: Int, sourceAddress: String? = nil, deadline: Deadline) throws -> TCPSocket {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let list else {
            throw WebSocketClientError.connectFailed("\(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }

        var lastError = "no IPv4 address"
        var cursor: UnsafeMutablePointer<addrinfo>? = list
        while let info = cursor?.pointee {
            cursor = info.ai_next
            let fd = socket(info.ai_family, info.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.ai_protocol)
            guard fd >= 0 else {
                lastError = String(cString: strerror(errno))
                continue
            }
            let socket = TCPSocket(adopting: fd)
            if let sourceAddress, let error = socket.bind(to: sourceAddress) {
                throw WebSocketClientError.connectFailed("cannot bind to \(sourceAddress): \(error)")
            }
            if let error = try socket.finishConnect(to: info.ai_addr, length: info.ai_addrlen, deadline: deadline) {
                lastError = error
                continue
            }
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return socket
        }
        throw WebSocketClientError.connectFailed("\(host):\(port): \(lastError)")
    }

    /// Returns an error message if the local address cannot be taken.
    private func bind(to address: String) -> String? {
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        guard inet_pton(AF_INET, address, &local.sin_addr) == 1 else { return "not an IPv4 address" }
        let rc = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return rc == 0 ? nil : String(cString: strerror(errno))
    }

    /// Returns an error message if this address refused us, throws `.timeout` at the deadline.
    private func finishConnect(to address: UnsafeMutablePointer<sockaddr>, length: socklen_t, deadline: Deadline) throws -> String? {
        // EINTR leaves the connect running in the background, same as EINPROGRESS.
        if Glibc.connect(fd, address, length) != 0, errno != EINPROGRESS, errno != EINTR {
            return String(cString: strerror(errno))
        }
        try wait(for: Int16(POLLOUT), deadline: deadline)
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 else { return String(cString: strerror(errno)) }
        return error == 0 ? nil : String(cString: strerror(error))
    }

    // MARK: Waiting

    private func wait(for events: Int16, deadline: Deadline) throws {
        guard fd >= 0 else { throw WebSocketClientError.closed }
        var pfd = pollfd(fd: fd, events: events, revents: 0)
        while true {
            let rc = poll(&pfd, 1, deadline.pollTimeout)
            if rc > 0 { return }
            if rc == 0 {
                if deadline.hasPassed { throw WebSocketClientError.timeout }
            } else if errno != EINTR {
                throw WebSocketClientError.closed
            }
        }
    }

    // MARK: Reading

    /// Reads whatever is available (at least one byte) into the buffer.
    /// Returns false at end of stream; throws `.timeout` at the deadline.
    func fill(deadline: Deadline) throws -> Bool {
        while true {
            try wait(for: Int16(POLLIN), deadline: deadline)
            let n = chunk.withUnsafeMutableBytes { [fd] in recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                compactIfWorthwhile()
                storage.append(contentsOf: chunk[0..<n])
                return true
            }
            if n == 0 { return false }
            if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { continue }
            return false
        }
    }

    /// Removes and returns the first `count` buffered bytes.
    func consume(_ count: Int) -> [UInt8] {
        precondition(count <= storage.count - head)
        let bytes = Array(storage[head..<(head + count)])
        skip(count)
        return bytes
    }

    func skip(_ count: Int) {
        precondition(count <= storage.count - head)
        head += count
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        }
    }

    /// Consumes bytes up to and including `delimiter`, returning them without it.
    /// Returns nil at end of stream; throws `.protocolError` past `limit` bytes.
    func read(through delimiter: [UInt8], limit: Int, deadline: Deadline) throws -> [UInt8]? {
        var searchFrom = head
        while true {
            if let end = firstIndex(of: delimiter, from: searchFrom) {
                let bytes = Array(storage[head..<end])
                skip(end + delimiter.count - head)
                return bytes
            }
            guard storage.count - head <= limit else {
                throw WebSocketClientError.protocolError("HTTP line or header block longer than \(limit) bytes")
            }
            let scanned = storage.count - head
            guard try fill(deadline: deadline) else { return nil }
            // fill may compact the storage, so keep the scan position relative to head.
            searchFrom = head + max(0, scanned - delimiter.count + 1)
        }
    }

    private func firstIndex(of pattern: [UInt8], from start: Int) -> Int? {
        guard storage.count - start >= pattern.count else { return nil }
        var i = start
        while i + pattern.count <= storage.count {
            if storage[i] == pattern[0], storage[i..<(i + pattern.count)].elementsEqual(pattern) { return i }
            i += 1
        }
        return nil
    }

    private func compactIfWorthwhile() {
        if head > 64 * 1024, head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
    }

    // MARK: Writing

    /// Writes all of `bytes`. Throws `.closed` if the peer has gone away, `.timeout` at the deadline.
    func write(_ bytes: [UInt8], deadline: Deadline) throws {
        guard fd >= 0 else { throw WebSocketClientError.closed }
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n >= 0 {
                sent += n
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                try wait(for: Int16(POLLOUT), deadline: deadline)
            } else if errno != EINTR {
                throw WebSocketClientError.closed
            }
        }
    }
}
