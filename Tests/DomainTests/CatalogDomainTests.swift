import CartDomain
import Testing

@Suite("Catalog changes: patches, keys, script arguments")
struct CatalogDomainTests {
    let book = Book(id: "bk-1", title: "Dune", author: "Herbert", priceCents: 1299, stock: 10, revision: 7)

    @Test func aPatchChangesOnlyItsFieldsAndTellsTheStockDifference() {
        let nothing = BookPatch().applied(to: book)
        #expect(nothing.book == book && !nothing.changed && nothing.stockDelta == 0)
        let same = BookPatch(title: "Dune", stock: 10).applied(to: book)
        #expect(!same.changed && same.stockDelta == 0)
        let cut = BookPatch(priceCents: 999, stock: 4).applied(to: book)
        #expect(cut.changed && cut.stockDelta == -6)
        #expect(cut.book.priceCents == 999 && cut.book.title == "Dune" && cut.book.author == "Herbert" && cut.book.revision == 7)
        #expect(BookPatch(author: "F. Herbert").applied(to: book).changed)
    }

    @Test func revisionDefaultsToZero() {
        #expect(Book(id: "a", title: "A", author: "", priceCents: 1, stock: 1).revision == 0)
    }

    @Test func catalogKeysShareTheShardSlot() {
        let keys = CartKeys(userId: "u-42", shards: 64)
        let tag = "{s:\(keys.shard)}"
        #expect(keys.scriptKeys.count == 7)
        #expect(keys.scriptKeys.allSatisfy { $0.contains(tag) })
        #expect(keys.catalogRevisions == "catalogrev:\(tag)")
        #expect(keys.bookIndexPrefix == "bookcarts:\(tag):")
        #expect(CartKeys.bookIndex(shard: keys.shard, bookId: "bk-1") == keys.bookIndexPrefix + "bk-1")
        #expect(CartKeys.catalogChanged("bk-1") == ["PUBLISH", "catalog:changed", "bk-1"])
        #expect(CartKeys.catalogChanged(nil) == ["PUBLISH", "catalog:changed", "*"])
    }

    @Test func commandArgumentsFollowTheScriptHeader() {
        let call = CartScriptCall(command: .setQuantity(bookId: "bk-1", quantity: 3), userId: "u-42", requestId: "r-1", connectionId: nil, via: "ws",
                                  nowMs: 1_000, limits: CartLimits(), rememberedRequests: 32, book: book, shards: 64)
        #expect(call.keys == CartKeys(userId: "u-42", shards: 64).scriptKeys)
        #expect(call.args.count == 17)
        #expect(Array(call.args[0..<5]) == ["set", "u-42", "r-1", "", "ws"])
        #expect(call.args[7] == "room:u-42")
        #expect(Array(call.args[11...]) == ["bk-1", "3", "Dune", "1299", "10", "7"])
        #expect(call.evalArguments.first == "7")
        let clear = CartScriptCall(command: .clear, userId: "u-42", requestId: "r-2", connectionId: "c", via: "ws",
                                   nowMs: 1_000, limits: CartLimits(), rememberedRequests: 32, book: nil, shards: 64)
        #expect(Array(clear.args[11...]) == ["", "0", "", "0", "0", "0"])
    }

    @Test func theCartOfAReplyIsTakenOutOfTheEventAfterAChange() {
        let cart = #"{"userId":"u","items":[{"bookId":"b","title":"x\",\"origin\":{\"","quantity":1}],"updatedAt":null}"#
        let origin = #"{"requestId":"r\",\"origin\":{\"","connectionId":null,"via":"ws"}"#
        #expect(CartScriptCall.cart(fromReply: #"{"type":"cart.updated","cart":"# + cart + #","origin":"# + origin + "}") == cart)
        #expect(CartScriptCall.cart(fromReply: cart) == cart)
    }

    @Test func rehydrationSendsFiveFieldsPerLineWithTheKnownStock() {
        let stored = CartSnapshot(userId: "u-42", version: CartVersion(epoch: 1, version: 4), totalCents: 500, updatedAt: nil, lines: [
            "b": CartLineState(quantity: 1, unitPriceCents: 300, title: "B"),
            "a": CartLineState(quantity: 2, unitPriceCents: 100, title: "A"),
        ])
        let call = CartScriptCall(rehydrating: "u-42", from: stored, stock: { $0 == "a" ? 1 : nil }, shards: 64)
        #expect(call.args[0] == "rehydrate")
        #expect(Array(call.args[11...]) == ["0", "500", "", "a", "2", "100", "A", "1", "b", "1", "300", "B", ""])
        let empty = CartScriptCall(rehydrating: "u-42", from: nil, stock: { _ in nil }, shards: 64)
        #expect(Array(empty.args[11...]) == ["0", "0", ""])
    }
}
