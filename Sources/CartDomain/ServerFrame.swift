import JSON

/// The hub's outgoing frames. Cart snapshots arrive from Redis already encoded,
/// so they are spliced in, never parsed and re-encoded.
public enum ServerFrame {
    public static func hello(userId: String, connectionId: String, cart: String) -> String {
        var out = #"{"type":"hello","userId":"#
        JSONString.appendQuoted(userId, to: &out)
        out += #","connectionId":"#
        JSONString.appendQuoted(connectionId, to: &out)
        out += #","cart":"#
        out += cart
        out += "}"
        return out
    }

    public static func replyOK(requestId: String, cart: String) -> String {
        var out = #"{"type":"reply","requestId":"#
        JSONString.appendQuoted(requestId, to: &out)
        out += #","ok":true,"data":{"cart":"#
        out += cart
        out += "}}"
        return out
    }

    public static func replyError(requestId: String?, error: CartError) -> String {
        var out = #"{"type":"reply","requestId":"#
        if let requestId { JSONString.appendQuoted(requestId, to: &out) } else { out += "null" }
        out += #","ok":false,"error":"#
        appendError(error, to: &out)
        out += "}"
        return out
    }

    /// `{"code","message"[,"details"]}`: the error object of a socket reply and of a REST error body.
    public static func appendError(_ error: CartError, to out: inout String) {
        out += #"{"code":""#
        out += error.code.rawValue
        out += #"","message":"#
        JSONString.appendQuoted(error.message, to: &out)
        if let details = error.details { out += #","details":"# + details }
        out += "}"
    }

    /// A reply whose data is a JSON object already encoded (e.g. `{"order":ORDER}`).
    public static func replyOK(requestId: String, data: String) -> String {
        var out = #"{"type":"reply","requestId":"#
        JSONString.appendQuoted(requestId, to: &out)
        out += #","ok":true,"data":"#
        out += data
        out += "}"
        return out
    }

    /// A `cart.updated` the hub makes itself (e.g. a resync after pub/sub was lost);
    /// those caused by commands are built by the cart script.
    public static func cartUpdated(cart: String, via: String) -> String {
        var out = #"{"type":"cart.updated","cart":"#
        out += cart
        out += #","origin":{"requestId":null,"connectionId":null,"via":"#
        JSONString.appendQuoted(via, to: &out)
        out += "}}"
        return out
    }
}
