import Postgres
import Testing

@Suite struct PostgresConnectionTests {
    @Test func refusedConnectionIsAConnectionFailure() throws {
        // Port 1 on loopback: nothing listens there, so the connect is refused at once.
        let error = try #require(throws: PostgresError.self) {
            try PostgresConnection(url: "postgres://carthub:nope@127.0.0.1:1/carthub", connectTimeoutSeconds: 2)
        }
        #expect(error.isConnectionFailure)
        #expect(error.sqlState == nil)
        #expect(error.message.contains("127.0.0.1"))
        #expect(!error.message.contains("\n"))
    }

    @Test func malformedURLFailsWithMessage() throws {
        let error = try #require(throws: PostgresError.self) {
            try PostgresConnection(url: "postgres://carthub@127.0.0.1:notaport/carthub")
        }
        #expect(error.isConnectionFailure)
        #expect(!error.message.isEmpty)
    }

    @Test func parametersRoundTripIncludingNullQuotesAndUnicode() throws {
        let c = try connect()
        #expect(c.isOpen)
        let tricky = "O'Reilly \"quoted\" \\ ; drop table books; --"
        let unicode = "Ünïcødé 📚 日本語"
        let rows = try c.query(
            "select $1::text as tricky, $2::text as unicode, char_length($2) as chars, $3::text as missing, $4::int + 1 as next",
            [tricky, unicode, nil, "41"]
        )
        #expect(rows.columns == ["tricky", "unicode", "chars", "missing", "next"])
        #expect(rows.count == 1)
        #expect(rows[0, "tricky"] == tricky)
        #expect(rows[0, "unicode"] == unicode)
        #expect(rows[0, "chars"] == String(unicode.count))
        #expect(rows[0, "missing"] == nil)
        #expect(rows[0, "next"] == "42")
        #expect(try c.query("select $1::text is null as isnull", [nil])[0, "isnull"] == "t")
    }

    @Test func nulInParameterIsRejectedBeforeSending() throws {
        let c = try connect()
        let error = try #require(throws: PostgresError.self) { try c.query("select $1::text", ["a\u{0}b"]) }
        #expect(error.message.contains("$1"))
        #expect(!error.isConnectionFailure)
        #expect(try c.query("select 1 as one")[0, "one"] == "1")
    }

    @Test func executeRunsScriptsAndAffectedRowsCounts() throws {
        let c = try connect()
        try c.execute("""
            create temp table t (n int);
            insert into t select generate_series(1, 5);
            -- NOTICEs (like this drop) are silenced rather than printed to stderr.
            drop table if exists no_such_table_here;
            """)
        #expect(try c.query("update t set n = n + 1 where n > $1", ["2"]).affectedRows == 3)
        #expect(try c.query("select n from t order by n").rows.map { $0[0] } == ["1", "2", "4", "5", "6"])
        #expect(try c.query("create temp table u (n int)").affectedRows == 0)
    }

    @Test func syntaxErrorCarriesSQLStateAndLeavesConnectionUsable() throws {
        let c = try connect()
        let error = try #require(throws: PostgresError.self) { try c.query("selec 1") }
        #expect(error.sqlState == "42601")
        #expect(!error.isConnectionFailure)
        #expect(error.description.contains("42601"))
        #expect(c.isOpen)
        #expect(try c.query("select 2 as two")[0, "two"] == "2")
    }

    @Test func constraintViolationsReportSQLState() throws {
        try withScratchSchema { c, _ throws in
            let insert = "insert into books (id, title, author, price_cents, stock) values ($1, $2, '', $3, 1)"
            let check = try #require(throws: PostgresError.self) { try c.query(insert, ["b1", "Title", "-5"]) }
            #expect(check.sqlState == "23514")
            #expect(!check.isConnectionFailure)

            try c.query(insert, ["b1", "Title", "500"])
            let unique = try #require(throws: PostgresError.self) { try c.query(insert, ["b1", "Again", "600"]) }
            #expect(unique.sqlState == "23505")
            #expect(unique.message.contains("books_pkey"))
            #expect(try c.query("select title from books").rows == [["Title"]])
        }
    }

    @Test func preparedStatementsAreMadeOnceAndOutliveARollback() throws {
        let c = try connect()
        let sql = "select $1::int * 2 as doubled"
        let name = "select name from pg_prepared_statements where statement = $1"
        // Made inside a transaction that rolls back: still usable afterwards.
        _ = try? c.transaction { c throws in
            #expect(try c.prepared(sql, ["4"])[0, "doubled"] == "8")
            throw PostgresError(message: "roll back")
        }
        #expect(try c.prepared(sql, ["21"])[0, "doubled"] == "42")
        #expect(try c.prepared(sql, [nil])[0, "doubled"] == nil)
        #expect(try c.query(name, [sql]).count == 1, "one server-side statement, reused")
        // A statement that fails to prepare is not remembered: fixing the session fixes it.
        let broken = "select n from missing_for_now where n = $1::int"
        #expect(throws: PostgresError.self) { try c.prepared(broken, ["1"]) }
        try c.execute("create temp table missing_for_now (n int); insert into missing_for_now values (1)")
        #expect(try c.prepared(broken, ["1"])[0, "n"] == "1")
        let error = try #require(throws: PostgresError.self) { try c.prepared(sql, ["a\u{0}b"]) }
        #expect(error.message.contains("$1"))
    }

    @Test func arrayLiteralsQuoteEveryElement() throws {
        let c = try connect()
        let values = ["plain", "with \"quotes\"", "back\\slash", "comma, {brace}", "", "Ünïcødé 📚", "NULL"]
        let rows = try c.query("select v from unnest($1::text[]) with ordinality as u(v, i) order by i", [PostgresArray.literal(values)])
        #expect(rows.rows.map { $0[0] } == values)
        #expect(PostgresArray.literal([String]()) == "{}")
        #expect(try c.query("select array_length($1::bigint[], 1) as n", [PostgresArray.literal([Int64(-1), 0, 9_007_199_254_740_993])])[0, "n"] == "3")
    }

    @Test func serverTerminatingTheSessionIsAConnectionFailure() throws {
        let victim = try connect()
        let pid = try #require(victim.query("select pg_backend_pid() as pid")[0, "pid"])
        try connect().query("select pg_terminate_backend($1::int)", [pid])
        let error = try #require(throws: PostgresError.self) { try victim.query("select 1") }
        #expect(error.isConnectionFailure)
        #expect(!victim.isOpen)
    }
}
