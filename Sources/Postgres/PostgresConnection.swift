internal import CLibPQ

/// One blocking libpq session.
///
/// Ownership: a connection is used by one thread at a time. libpq lets a session move
/// between threads but never be used by two at once, so the class is deliberately not
/// `Sendable`; each worker thread or CLI command opens its own. Every call blocks until
/// the server answers, so never use it on the event-loop thread.
public final class PostgresConnection {
    private let conn: OpaquePointer
    /// Names of the statements `prepared` has set up in this session, by SQL text.
    private var statements: [String: String] = [:]

    /// Connects with a `postgres://` URL (or any libpq conninfo string).
    ///
    /// `connect_timeout`, `client_encoding=UTF8` and an application name are passed as
    /// defaults ahead of the URL, so a URL that sets them itself wins.
    public init(url: String, connectTimeoutSeconds: Int = 5) throws(PostgresError) {
        let keywords = ["connect_timeout", "client_encoding", "fallback_application_name", "dbname", nil]
        let values = [String(connectTimeoutSeconds), "UTF8", "carthub", url, nil]
        // expand_dbname = 1: the "dbname" value is parsed as a URL / conninfo and its
        // settings override the keywords listed before it.
        let connection = withCStrings(keywords) { k in withCStrings(values) { v in PQconnectdbParams(k, v, 1) } }
        guard let connection else {
            throw PostgresError(message: "out of memory allocating a Postgres connection", isConnectionFailure: true)
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = singleLine(PQerrorMessage(connection))
            PQfinish(connection)
            throw PostgresError(message: "cannot connect to Postgres: \(message)", isConnectionFailure: true)
        }
        conn = connection
        // libpq prints NOTICEs ("table already exists, skipping", ...) to stderr by default.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
    }

    deinit { PQfinish(conn) }

    /// True while the session is usable; false after the server went away.
    public var isOpen: Bool { PQstatus(conn) == CONNECTION_OK }

    /// Runs one statement with `$1, $2, ...` placeholders bound to `params` (text format;
    /// `nil` is SQL NULL). Values never become part of the SQL text.
    @discardableResult
    public func query(_ sql: String, _ params: [String?] = []) throws(PostgresError) -> PostgresRows {
        try rejectNUL(in: params)
        try rejectNUL(in: sql)
        let result = withCStrings(params) { values in
            PQexecParams(conn, sql, Int32(values.count), nil, values, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Like `query`, but the server parses and plans `sql` once per session (a named
    /// prepared statement): for the statements a loop runs over and over, where that
    /// work would cost more than the execution.
    @discardableResult
    public func prepared(_ sql: String, _ params: [String?] = []) throws(PostgresError) -> PostgresRows {
        try rejectNUL(in: params)
        let name: String
        if let known = statements[sql] {
            name = known
        } else {
            try rejectNUL(in: sql)
            name = "carthub_\(statements.count)"
            // A prepared statement outlives a rolled-back transaction, so it is recorded once made.
            _ = try consume(PQprepare(conn, name, sql, Int32(params.count), nil))
            statements[sql] = name
        }
        let result = withCStrings(params) { values in
            PQexecPrepared(conn, name, Int32(values.count), values, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Runs a script of one or more `;`-separated statements without parameters
    /// (migrations, BEGIN/COMMIT). Only the last statement's rows would be returned,
    /// so nothing is.
    public func execute(_ sql: String) throws(PostgresError) {
        try rejectNUL(in: sql)
        _ = try consume(PQexec(conn, sql))
    }

    /// Runs `body` between BEGIN and COMMIT, rolling back if it throws.
    ///
    /// If COMMIT itself fails with `isConnectionFailure`, the outcome is unknown to the
    /// client: the server may have committed just before the connection dropped.
    @discardableResult
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        switch PQtransactionStatus(conn) {
        case PQTRANS_IDLE: break
        case PQTRANS_UNKNOWN: throw connectionError()
        default:
            // A nested BEGIN is only a warning and the inner COMMIT would end the outer
            // transaction early, so nesting is refused outright.
            throw PostgresError(message: "transaction() called while a transaction is already open")
        }
        try execute("BEGIN")
        let value: T
        do {
            value = try body(self)
        } catch {
            rollback()
            throw error
        }
        // A failed statement whose error `body` caught leaves the transaction aborted, and
        // COMMIT would then quietly roll back; make that loud instead.
        if PQtransactionStatus(conn) == PQTRANS_INERROR {
            rollback()
            throw PostgresError(message: "transaction aborted by an earlier failed statement; rolled back")
        }
        try execute("COMMIT")
        return value
    }

    private func rollback() {
        // Best effort: if the connection is gone the server discards the transaction anyway.
        _ = try? execute("ROLLBACK")
    }

    private func rejectNUL(in sql: String) throws(PostgresError) {
        if sql.utf8.contains(0) { throw PostgresError(message: "SQL text contains a NUL character") }
    }

    /// Text-format parameters are C strings: an embedded NUL would silently cut the value.
    private func rejectNUL(in params: [String?]) throws(PostgresError) {
        if let index = params.firstIndex(where: { $0?.utf8.contains(0) == true }) {
            throw PostgresError(message: "parameter $\(index + 1) contains a NUL character")
        }
    }

    /// Turns a PGresult into rows or an error, and always frees it.
    private func consume(_ result: OpaquePointer?) throws(PostgresError) -> PostgresRows {
        // NULL means the command never reached the server (or libpq ran out of memory).
        guard let result else { throw connectionError() }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return rows(of: result)
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            abandonCopy()
            throw PostgresError(message: "COPY FROM STDIN / TO STDOUT is not supported by PostgresConnection")
        default:
            throw error(from: result)
        }
    }

    private func rows(of result: OpaquePointer) -> PostgresRows {
        let fieldCount = PQnfields(result)
        let columns = (0..<fieldCount).map { String(cString: PQfname(result, $0)) }
        let rows = (0..<PQntuples(result)).map { row in
            (0..<fieldCount).map { field -> String? in
                PQgetisnull(result, row, field) != 0 ? nil : String(cString: PQgetvalue(result, row, field))
            }
        }
        return PostgresRows(columns: columns, rows: rows, affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0)
    }

    private func error(from result: OpaquePointer) -> PostgresError {
        // The PG_DIAG_* codes are character-literal macros, which Swift cannot import.
        func field(_ code: Unicode.Scalar) -> String? {
            PQresultErrorField(result, Int32(code.value)).map { String(cString: $0) }
        }
        let state = field("C")  // PG_DIAG_SQLSTATE
        var message = field("M") ?? singleLine(PQresultErrorMessage(result))  // PG_DIAG_MESSAGE_PRIMARY
        if let detail = field("D") { message += " — \(detail)" }  // PG_DIAG_MESSAGE_DETAIL
        if message.isEmpty { message = singleLine(PQerrorMessage(conn)) }
        return PostgresError(
            message: message,
            sqlState: state,
            isConnectionFailure: PQstatus(conn) == CONNECTION_BAD || PostgresError.isConnectionState(state)
        )
    }

    private func connectionError() -> PostgresError {
        let message = singleLine(PQerrorMessage(conn))
        return PostgresError(message: message.isEmpty ? "Postgres connection lost" : message, isConnectionFailure: true)
    }

    /// Leaves COPY mode so the session stays usable after an unsupported COPY statement.
    private func abandonCopy() {
        _ = PQputCopyEnd(conn, "COPY is not supported")  // ends COPY IN; harmless otherwise
        var buffer: UnsafeMutablePointer<CChar>?
        while PQgetCopyData(conn, &buffer, 0) > 0 { PQfreemem(buffer) }  // drains COPY OUT
        while let next = PQgetResult(conn) { PQclear(next) }
    }
}

/// Copies each string into a NUL-terminated C buffer for the duration of `body`;
/// `nil` entries stay NULL pointers (SQL NULL, or an array terminator).
private func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let buffers = strings.map { string in
        string.map { string in
            let cString = string.utf8CString
            let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: cString.count)
            _ = buffer.initialize(from: cString)
            return buffer
        }
    }
    defer { buffers.forEach { $0?.deallocate() } }
    return body(buffers.map { $0.map { UnsafePointer($0.baseAddress!) } })
}

/// libpq messages end in a newline and may span lines ("\n\tIs the server running..."):
/// fold them onto one line for logs and CLI output.
private func singleLine(_ message: UnsafePointer<CChar>?) -> String {
    guard let message else { return "" }
    return String(cString: message)
        .split(whereSeparator: \.isNewline)
        .map { $0.trimmingPrefix(while: \.isWhitespace) }
        .filter { !$0.isEmpty }
        .joined(separator: " ")
}
