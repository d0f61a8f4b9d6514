/// A storage-level problem that is not a Postgres error: a missing or misnamed migration
/// file, a database row the code cannot read, an import the store refuses.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
