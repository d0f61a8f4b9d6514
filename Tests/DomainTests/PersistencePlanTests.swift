import CartDomain
import Testing

@Suite("Persistence planning")
struct PersistencePlanTests {
    func job(_ user: String, _ epoch: Int64, _ version: Int64, _ change: PersistenceJob.Change, total: Int64 = 0) -> PersistenceJob {
        PersistenceJob(entryId: "\(version)-0", userId: user, version: CartVersion(epoch: epoch, version: version), totalCents: total, updatedAtMs: 1000 * version, change: change)
    }

    let line = CartLineState(quantity: 2, unitPriceCents: 150, title: "Dune")

    @Test("decisions", arguments: [
        (nil, (1, 1), PersistencePlanner.Decision.apply),
        (nil, (1, 2), .gap),
        ((1, 4), (1, 5), .apply),
        ((1, 4), (1, 4), .skip),
        ((1, 4), (1, 3), .skip),
        ((1, 4), (1, 6), .gap),
        ((2, 4), (1, 9), .skip),
        ((1, 4), (2, 1), .apply),
        ((1, 4), (2, 3), .gap),
    ] as [((Int64, Int64)?, (Int64, Int64), PersistencePlanner.Decision)])
    func decisions(stored: (Int64, Int64)?, job: (Int64, Int64), expected: PersistencePlanner.Decision) {
        let s = stored.map { CartVersion(epoch: $0.0, version: $0.1) }
        #expect(PersistencePlanner.decide(stored: s, job: CartVersion(epoch: job.0, version: job.1)) == expected)
    }

    @Test("a run of jobs folds into one change set with the final line states")
    func folding() {
        let plan = PersistencePlanner.plan([
            job("a", 1, 1, .put(bookId: "b1", line: line)),
            job("a", 1, 2, .put(bookId: "b2", line: line)),
            job("a", 1, 3, .remove(bookId: "b1")),
            job("a", 1, 3, .remove(bookId: "b2")),
        ], stored: [:])
        #expect(plan.applied == 3 && plan.skipped == 1)
        #expect(plan.changes.count == 1)
        #expect(plan.changes[0].version == CartVersion(epoch: 1, version: 3))
        #expect(plan.changes[0].puts == ["b2": line])
        #expect(plan.changes[0].removes == ["b1"])
    }

    @Test("clear drops what came before it in the batch")
    func clear() {
        let plan = PersistencePlanner.plan([
            job("a", 1, 5, .put(bookId: "b1", line: line)),
            job("a", 1, 6, .clear),
            job("a", 1, 7, .put(bookId: "b3", line: line)),
        ], stored: ["a": CartVersion(epoch: 1, version: 4)])
        #expect(plan.changes[0].clearFirst)
        #expect(plan.changes[0].puts == ["b3": line])
        #expect(plan.changes[0].removes.isEmpty)
    }

    @Test("a gap turns the cart into a full sync and nothing of it is applied incrementally")
    func gap() {
        let plan = PersistencePlanner.plan([
            job("a", 1, 1, .put(bookId: "b1", line: line)),
            job("b", 1, 1, .put(bookId: "b1", line: line)),
            job("a", 1, 3, .clear),
            job("a", 1, 4, .clear),
        ], stored: [:])
        #expect(plan.fullSyncs == ["a"])
        #expect(plan.changes.map(\.userId) == ["b"])
        #expect(plan.applied == 1 && plan.skipped == 3)
    }

    @Test("malformed stream entries are refused")
    func parsing() {
        let good = ["u": "u1", "op": "put", "b": "bk-1", "q": "2", "p": "150", "t": "Dune", "e": "1", "v": "3", "tot": "300", "at": "17"]
        #expect(PersistenceJob(entryId: "1-0", fields: good)?.change == .put(bookId: "bk-1", line: line))
        for key in ["u", "e", "v", "tot", "at", "b", "q", "p", "t", "op"] {
            var bad = good
            bad[key] = nil
            #expect(PersistenceJob(entryId: "1-0", fields: bad) == nil, "missing \(key)")
        }
        var bad = good
        bad["q"] = "0"
        #expect(PersistenceJob(entryId: "1-0", fields: bad) == nil)
        bad = good
        bad["op"] = "explode"
        #expect(PersistenceJob(entryId: "1-0", fields: bad) == nil)
        #expect(PersistenceJob(entryId: "1-0", fields: ["u": "u1", "op": "clear", "e": "1", "v": "1", "tot": "0", "at": "1"])?.change == .clear)
    }
}

@Suite("Keys and timestamps")
struct KeysAndTimestampTests {
    @Test("ISO 8601 in UTC with milliseconds, before and after the epoch, leap days included")
    func iso8601() {
        #expect(Timestamp.iso8601(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp.iso8601(milliseconds: 1_795_791_512_345) == "2026-11-27T14:58:32.345Z")
        #expect(Timestamp.iso8601(milliseconds: 951_782_400_007) == "2000-02-29T00:00:00.007Z")
        #expect(Timestamp.iso8601(milliseconds: 253_402_300_799_999) == "9999-12-31T23:59:59.999Z")
        #expect(Timestamp.iso8601(milliseconds: 253_402_300_800_000) == "10000-01-01T00:00:00.000Z")
    }

    @Test("every key of a user and of its shard carries the shard's tag, within the first 1,024 shards and beyond")
    func shardTags() {
        for shards in [64, 5000] {
            for user in ["u-1", "alice@example.com", "z"] {
                let keys = CartKeys(userId: user, shards: shards)
                let tag = "{s:\(keys.shard)}"
                #expect(keys.meta == "cart:\(tag):\(user)" && keys.lines == "cart:\(tag):\(user):lines")
                #expect(keys.scriptKeys == [keys.meta, keys.lines, "jobs:\(tag)", "gen:\(tag)", "carts:\(tag)", "catalogrev:\(tag)", "bookcarts:\(tag):"])
            }
        }
        #expect(CartKeys.lease(shard: 4321) == "lease:{s:4321}")
    }
}
