import Postgres
import Testing

@Suite struct TransactionTests {
    struct Boom: Error {}

    @Test func commitIsVisibleToOtherSessions() throws {
        try withScratchSchema(migrate: false) { c, schema throws in
            try c.execute("create table t (n int primary key)")
            let value = try c.transaction { tx in
                try tx.query("insert into t values (1), (2)").affectedRows
            }
            #expect(value == 2)
            #expect(try connect(schema: schema).query("select count(*) as n from t")[0, "n"] == "2")
        }
    }

    @Test func throwingBodyRollsBackAndRethrows() throws {
        try withScratchSchema(migrate: false) { c, _ throws in
            try c.execute("create table t (n int primary key)")
            #expect(throws: Boom.self) {
                try c.transaction { tx in
                    try tx.query("insert into t values (1)")
                    throw Boom()
                }
            }
            #expect(try c.query("select count(*) as n from t")[0, "n"] == "0")
            // The session is idle again: a new transaction works.
            try c.transaction { tx in try tx.query("insert into t values (3)") }
            #expect(try c.query("select n from t").rows == [["3"]])
        }
    }

    @Test func failedStatementCaughtInsideBodyStillRollsBack() throws {
        try withScratchSchema(migrate: false) { c, _ throws in
            try c.execute("create table t (n int primary key)")
            let error = try #require(throws: PostgresError.self) {
                try c.transaction { tx in
                    try tx.query("insert into t values (1)")
                    _ = try? tx.query("insert into t values (1)")  // duplicate, swallowed
                }
            }
            #expect(error.message.contains("rolled back"))
            #expect(try c.query("select count(*) as n from t")[0, "n"] == "0")
        }
    }

    @Test func nestedTransactionIsRefused() throws {
        let c = try connect()
        #expect(throws: PostgresError.self) {
            try c.transaction { tx in try tx.transaction { _ in } }
        }
        #expect(try c.query("select 1 as one").count == 1)
    }
}
