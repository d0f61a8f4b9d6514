import CartDomain
import WebSocketServer

/// A user's sockets on this instance; the hub is subscribed to the user's channel
/// exactly while the room has sockets.
final class Room {
    let userId: String
    let channel: String
    var sessions: [WebSocketSession] = []
    /// Redis confirmed the subscription: events published from now on reach us.
    var subscribed = false
    /// The newest cart this hub saw for the user, from which it computes changes itself
    /// (CartChange); lua/commit.lua declines them if the cart has moved on since.
    private(set) var cart: CartState?

    /// Takes `state` unless the room already saw a newer one.
    func learn(_ state: CartState) {
        if cart?.isSuperseded(by: state) ?? true { cart = state }
    }

    init(userId: String, channel: String) {
        self.userId = userId
        self.channel = channel
    }
}
