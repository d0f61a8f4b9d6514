import WebSocketServer

/// A user's sockets on this instance; the hub is subscribed to the user's channel
/// exactly while the room has sockets.
final class Room {
    let userId: String
    let channel: String
    var sessions: [WebSocketSession] = []
    /// Redis confirmed the subscription: events published from now on reach us.
    var subscribed = false

    init(userId: String, channel: String) {
        self.userId = userId
        self.channel = channel
    }
}
