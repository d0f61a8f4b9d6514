/// A failed connect, statement or transaction, with Postgres's own words.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// The server's primary message (plus its DETAIL line when it sent one), or libpq's.
    public var message: String
    /// The five-character SQLSTATE (`23505`, `40001`, ...) when the server sent one.
    public var sqlState: String?
    /// True when the connection itself is unusable (refused, dropped, server shut down):
    /// the caller should reconnect and retry instead of treating the data as bad.
    public var isConnectionFailure: Bool

    public init(message: String, sqlState: String? = nil, isConnectionFailure: Bool = false) {
        self.message = message
        self.sqlState = sqlState
        self.isConnectionFailure = isConnectionFailure
    }

    public var description: String {
        sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message
    }

    /// SQLSTATEs that mean "this session is gone" rather than "this statement failed":
    /// class 08 (connection exception) and the 57P0x shutdown / not-yet-accepting codes.
    static func isConnectionState(_ state: String?) -> Bool {
        guard let state else { return false }
        return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
    }
}
