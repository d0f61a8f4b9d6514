import CartDomain
import Diagnostics
import WebSocketServer

extension Hub: WebSocketServerDelegate {
    public func authorizeUpgrade(_ head: RequestHead) -> UpgradeDecision {
        guard head.path == "/ws" else { return .reject(status: 404, message: "WebSocket endpoint is /ws") }
        guard !draining else { return .reject(status: 503, message: "server is shutting down") }
        guard let authenticator else { return .reject(status: 503, message: "not ready") }
        let now = wallClockMilliseconds()
        switch authenticator.authenticate(authorization: head.header("authorization"), cookie: head.header("cookie"), origin: head.header("origin"), now: now / 1000) {
        case .failure(.unauthorized(let message)):
            return .reject(status: 401, message: message)
        case .failure(.forbidden(let message)):
            return .reject(status: 403, message: message)
        case .success(let claims) where isRevoked(claims):
            return .reject(status: 401, message: Self.revokedMessage)
        case .success(let claims):
            if let room = rooms[claims.subject], room.sessions.count >= configuration.maxSocketsPerUser {
                return .reject(status: 429, message: "at most \(configuration.maxSocketsPerUser) sockets per user")
            }
            nextConnection += 1
            return .accept(ClientSession(
                userId: claims.subject,
                connectionId: "\(instanceId)-\(String(nextConnection, radix: 36))",
                sessionId: claims.sessionId,
                expiresAt: claims.expiresAt,
                bucket: TokenBucket(rate: configuration.commandsPerSecond, burst: configuration.commandBurst, now: loop.now)))
        }
    }

    public func sessionOpened(_ session: WebSocketSession) {
        let client = client(session)
        let room: Room
        if let existing = rooms[client.userId] {
            room = existing
        } else {
            room = Room(userId: client.userId, channel: CartKeys.channel(userId: client.userId))
            rooms[client.userId] = room
            subscriber.subscribe(room.channel)
        }
        room.sessions.append(session)
        if room.subscribed { greet(session) }
    }

    public func sessionClosed(_ session: WebSocketSession) {
        let client = client(session)
        guard let room = rooms[client.userId] else { return }
        room.sessions.removeAll { $0 === session }
        if room.sessions.isEmpty {
            rooms[client.userId] = nil
            subscriber.unsubscribe(room.channel)
        }
    }

    public func sessionReceivedBinary(_ session: WebSocketSession) {
        let client = client(session)
        guard client.bucket.take(now: loop.now) else {
            reply(ServerFrame.replyError(requestId: nil, error: Self.rateLimited), to: session)
            return
        }
        reply(ServerFrame.replyError(requestId: nil, error: CartError(.badRequest, "binary frames are not supported; send JSON text frames")), to: session)
    }

    public func session(_ session: WebSocketSession, received message: UnsafeRawBufferPointer) {
        let client = client(session)
        client.lastReceivedAt = loop.now
        let parsed = CommandParser.parse(Array(message), limits: configuration.limits)
        guard client.bucket.take(now: loop.now) else {
            let requestId = try? parsed.get().requestId
            reply(ServerFrame.replyError(requestId: requestId, error: Self.rateLimited), to: session)
            return
        }
        let request: ClientRequest
        switch parsed {
        case .failure(let rejected):
            countCommand("invalid", rejected.error.code.rawValue)
            reply(ServerFrame.replyError(requestId: rejected.requestId, error: rejected.error), to: session)
            return
        case .success(let ok):
            request = ok
        }
        guard !draining else {
            reply(ServerFrame.replyError(requestId: request.requestId, error: CartError(.shuttingDown, "server is shutting down; reconnect")), to: session)
            return
        }
        client.inFlight += 1
        let origin = CartService.Origin(requestId: request.requestId, connectionId: client.connectionId, via: "ws")
        let type = request.command.type
        let finish: (Result<String, CartError>) -> Void = { [weak self, weak session] result in
            client.inFlight -= 1
            guard let self, let session else { return }
            switch result {
            case .success: countCommand(type, "ok")
            case .failure(let error): countCommand(type, error.code.rawValue)
            }
            let reply = switch result {
            case .success(let data): ServerFrame.replyOK(requestId: request.requestId, data: data)
            case .failure(let error): ServerFrame.replyError(requestId: request.requestId, error: error)
            }
            self.reply(reply, to: session)
        }
        switch request.command {
        case .cart(let command):
            carts.execute(command, userId: client.userId, origin: origin, now: wallClockMilliseconds()) { finish($0.map { #"{"cart":"# + $0 + "}" }) }
        case .order(let command):
            orders.perform(command, userId: client.userId, origin: origin, now: wallClockMilliseconds(), finish)
        }
    }

    /// Replies wait until the socket got its `hello`, which stays the first message,
    /// except while draining, when answering beats ordering.
    func reply(_ frame: String, to session: WebSocketSession) {
        let client = client(session)
        if client.greeted || draining {
            session.send(frame)
        } else if client.heldReplies.count < Self.maxHeldReplies {
            client.heldReplies.append(frame)
        } else {
            session.close(code: CloseCode.slowConsumer, reason: "too many commands before hello", flush: false)
        }
    }

    static let maxHeldReplies = 1024
    static let rateLimited = CartError(.rateLimited, "too many commands; slow down")

    /// Sockets whose token expired must re-authenticate (web-client-protocol.md).
    func closeExpiredSessions() {
        let now = wallClockMilliseconds() / 1000
        for room in rooms.values {
            for session in room.sessions where client(session).expiresAt <= now {
                session.close(code: CloseCode.tokenExpired, reason: "token expired; refresh and reconnect")
            }
        }
    }
}
