/// A fully materialized result in text format: every value is Postgres's text
/// rendering of the column, and `nil` is SQL NULL.
public struct PostgresRows: Sendable {
    public let columns: [String]
    public let rows: [[String?]]
    /// What the command tag reports (`INSERT 0 3` → 3); 0 for commands without a count.
    public let affectedRows: Int

    public init(columns: [String], rows: [[String?]], affectedRows: Int) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
    }

    public var count: Int { rows.count }

    /// The value in `column` of row `row`. An unknown column name is a programming
    /// error (a typo in a query or its reader), so it traps rather than reading as NULL.
    public subscript(row: Int, column: String) -> String? {
        guard let index = columns.firstIndex(of: column) else {
            preconditionFailure("no column \"\(column)\" in result (columns: \(columns))")
        }
        return rows[row][index]
    }
}
