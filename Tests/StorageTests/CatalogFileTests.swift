import CartDomain
import Storage
import Testing

@Suite struct CatalogFileTests {
    private func parse(_ json: String) throws(CatalogFileError) -> [Book] {
        try CatalogFile.parse(Array(json.utf8))
    }

    /// The error message for `bytes`, or nil if they parsed.
    private func problem(_ bytes: [UInt8]) -> String? {
        do {
            _ = try CatalogFile.parse(bytes)
            return nil
        } catch {
            return error.message
        }
    }

    private func problem(_ json: String) -> String? { problem(Array(json.utf8)) }

    @Test func parsesBooksWithOptionalAuthorAndIgnoresUnknownKeys() throws {
        let books = try parse("""
            [
              {"id": "moby-dick", "title": "Moby-Dick", "author": "Herman Melville", "priceCents": 1299, "stock": 4},
              {"id": "anon.1", "title": "Beowulf", "priceCents": 0, "stock": 0, "isbn": "x", "tags": [{"a": 1}]},
              {"id": "anon_2", "title": "Edda", "author": null, "priceCents": 5, "stock": 1}
            ]
            """)
        #expect(books == [
            Book(id: "moby-dick", title: "Moby-Dick", author: "Herman Melville", priceCents: 1299, stock: 4),
            Book(id: "anon.1", title: "Beowulf", author: "", priceCents: 0, stock: 0),
            Book(id: "anon_2", title: "Edda", author: "", priceCents: 5, stock: 1),
        ])
        #expect(try parse("[]") == [])
    }

    @Test func rejectsNonArraysAndInvalidJSON() {
        #expect(problem(#"{"id": "a"}"#) == "catalog file must be a JSON array of books, not object")
        #expect(problem("not json")?.hasPrefix("catalog file is not valid JSON") == true)
        #expect(problem("[1]") == "book 0: must be an object, not integer")
    }

    @Test func namesIndexAndFieldOfWrongTypes() {
        #expect(problem(#"[{"id": "a", "title": "T", "priceCents": 12.5, "stock": 1}]"#)
            == "book 0: priceCents must be an integer, not number")
        #expect(problem(#"[{"id": "a", "title": "T", "priceCents": 1, "stock": 1}, {"id": "b", "title": "T", "priceCents": "3", "stock": 1}]"#)
            == "book 1: priceCents must be an integer, not string")
        #expect(problem(#"[{"id": 7, "title": "T", "priceCents": 1, "stock": 1}]"#) == "book 0: id must be a string, not integer")
        #expect(problem(#"[{"id": "a", "title": "T", "author": 5, "priceCents": 1, "stock": 1}]"#)
            == "book 0: author must be a string, not integer")
        #expect(problem(#"[{"id": "a", "priceCents": 1, "stock": 1}]"#) == "book 0: title is missing")
        #expect(problem(#"[{"id": "a", "title": null, "priceCents": 1, "stock": 1}]"#) == "book 0: title must be a string, not null")
        #expect(problem(#"[{"id": "a", "title": "T", "priceCents": 1}]"#) == "book 0: stock is missing")
    }

    @Test func appliesDomainValidation() {
        #expect(problem(#"[{"id": "has space", "title": "T", "priceCents": 1, "stock": 1}]"#)
            == "book 0: id must be 1-64 characters of A-Z a-z 0-9 _ . -")
        #expect(problem(#"[{"id": "ünï", "title": "T", "priceCents": 1, "stock": 1}]"#)?.hasPrefix("book 0: id must be") == true)
        #expect(problem(#"[{"id": "a", "title": "T", "priceCents": -1, "stock": 1}]"#)
            == "book 0: priceCents must be an integer from 0 to \(Book.maxPriceCents)")
        #expect(problem(#"[{"id": "a", "title": "T", "priceCents": 1, "stock": -3}]"#)?.hasPrefix("book 0: stock must be") == true)
        #expect(problem(#"[{"id": "a", "title": "", "priceCents": 1, "stock": 1}]"#)?.hasPrefix("book 0: title must be") == true)
        #expect(problem(#"[{"id": "a", "title": "T\u0000", "priceCents": 1, "stock": 1}]"#)
            == "book 0: title must not contain NUL characters")
    }

    @Test func rejectsDuplicateIds() {
        let json = #"""
            [{"id": "a", "title": "T", "priceCents": 1, "stock": 1},
             {"id": "b", "title": "T", "priceCents": 1, "stock": 1},
             {"id": "a", "title": "U", "priceCents": 2, "stock": 2}]
            """#
        #expect(problem(json) == #"book 2: id "a" already used by book 0"#)
    }

    @Test func enforcesSizeLimits() {
        let tooBig = [UInt8](repeating: UInt8(ascii: " "), count: CatalogFile.maxBytes + 1)
        #expect(problem(tooBig) == "catalog file is \(CatalogFile.maxBytes + 1) bytes; the limit is \(CatalogFile.maxBytes) (16 MiB)")

        let tooMany = "[" + Array(repeating: "{}", count: CatalogFile.maxBooks + 1).joined(separator: ",") + "]"
        #expect(problem(tooMany) == "catalog file has \(CatalogFile.maxBooks + 1) books; the limit is \(CatalogFile.maxBooks)")
    }
}
