/// The client address that per-address limits count (login attempts, registrations).
///
/// It is the TCP peer, unless the peer is one of the deployment's trusted proxies
/// (`CARTHUB_TRUSTED_PROXIES`): each proxy appends the address it saw to
/// `X-Forwarded-For`, so the list is read from the right, past the trusted proxies, and
/// the first address that is not one is the client. Entries further left are the
/// client's own word and are not believed. Behind a proxy that is not listed, every
/// client counts as that proxy.
public enum ClientAddress {
    public static func resolve(peer: String, forwardedFor: String?, trustedProxies: Set<String>) -> String {
        guard trustedProxies.contains(peer), let forwardedFor else { return peer }
        var nearest = peer
        for entry in forwardedFor.split(separator: ",", omittingEmptySubsequences: false).reversed() {
            var trimmed = entry.drop { $0 == " " || $0 == "\t" }
            while let last = trimmed.last, last == " " || last == "\t" { trimmed = trimmed.dropLast() }
            let address = String(trimmed)
            // A trusted proxy wrote something else than an address: count its sender as it.
            guard isPlausible(address) else { return nearest }
            if !trustedProxies.contains(address) { return address }
            nearest = address
        }
        return nearest
    }

    /// IPv4 or IPv6 text (`203.0.113.7`, `2001:db8::1`): hex digits, dots and colons, at
    /// most 45 characters. Also what may go into a Redis key.
    public static func isPlausible(_ s: String) -> Bool {
        let utf8 = s.utf8
        guard (1...45).contains(utf8.count), utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":") }) else { return false }
        return utf8.allSatisfy { c in
            (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"))
                || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F")) || c == UInt8(ascii: ".") || c == UInt8(ascii: ":")
        }
    }
}
