/// A whole cart as Redis holds it, for full syncs and rehydration.
public struct CartSnapshot: Sendable, Equatable {
    public var userId: String
    public var version: CartVersion
    public var totalCents: Int64
    /// RFC 3339, or nil for a cart never changed.
    public var updatedAt: String?
    public var lines: [String: CartLineState]

    public init(userId: String, version: CartVersion, totalCents: Int64, updatedAt: String?, lines: [String: CartLineState]) {
        self.userId = userId
        self.version = version
        self.totalCents = totalCents
        self.updatedAt = updatedAt
        self.lines = lines
    }
}
