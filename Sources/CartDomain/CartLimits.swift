/// Per-deployment bounds on what a client may ask for.
public struct CartLimits: Sendable, Equatable {
    /// Largest quantity of one line.
    public var maxQuantity: Int64 = 99
    /// Most distinct books in one cart.
    public var maxLines: Int = 100
    /// Largest text frame after reassembly.
    public var maxMessageBytes: Int = 64 * 1024

    public static let maxRequestIdLength = 64

    public init(maxQuantity: Int64 = 99, maxLines: Int = 100, maxMessageBytes: Int = 64 * 1024) {
        self.maxQuantity = maxQuantity
        self.maxLines = maxLines
        self.maxMessageBytes = maxMessageBytes
    }
}
