import CartDomain
import JSON

/// Why a catalog file was refused; names the book (by array index) and the field.
public struct CatalogFileError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// The file `carthub catalog import FILE.json` reads: a JSON array of
/// `{"id", "title", "author", "priceCents", "stock"}` objects. `author` may be absent
/// or null (meaning ""); unknown keys are ignored so exports from other tools load.
public enum CatalogFile {
    public static let maxBytes = 16 << 20
    public static let maxBooks = 100_000

    /// Every book or the first problem found. Errors say `book N: ...`, where N is the
    /// index into the array, counting from 0.
    public static func parse(_ bytes: [UInt8]) throws(CatalogFileError) -> [Book] {
        guard bytes.count <= maxBytes else {
            throw CatalogFileError("catalog file is \(bytes.count) bytes; the limit is \(maxBytes) (16 MiB)")
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw CatalogFileError("catalog file is not valid JSON: \(error)")
        }
        guard case .array(let items) = document else {
            throw CatalogFileError("catalog file must be a JSON array of books, not \(document.typeName)")
        }
        guard items.count <= maxBooks else {
            throw CatalogFileError("catalog file has \(items.count) books; the limit is \(maxBooks)")
        }
        var books: [Book] = []
        books.reserveCapacity(items.count)
        var firstIndex: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let book = try Self.book(from: item, at: index)
            if let first = firstIndex[book.id] {
                throw CatalogFileError("book \(index): id \"\(book.id)\" already used by book \(first)")
            }
            firstIndex[book.id] = index
            books.append(book)
        }
        return books
    }

    private static func book(from item: JSONValue, at index: Int) throws(CatalogFileError) -> Book {
        func problem(_ text: String) -> CatalogFileError { CatalogFileError("book \(index): \(text)") }
        guard case .object(let fields) = item else { throw problem("must be an object, not \(item.typeName)") }

        func string(_ key: String, optional: Bool = false) throws(CatalogFileError) -> String {
            switch fields[key] {
            case .string(let value)?:
                // Postgres text cannot hold NUL, and it has no business in a catalog anyway.
                guard !value.utf8.contains(0) else { throw problem("\(key) must not contain NUL characters") }
                return value
            case nil where optional, .null? where optional: return ""
            case nil: throw problem("\(key) is missing")
            case let other?: throw problem("\(key) must be a string, not \(other.typeName)")
            }
        }
        func integer(_ key: String) throws(CatalogFileError) -> Int64 {
            switch fields[key] {
            case .int(let value)?: return value
            case nil: throw problem("\(key) is missing")
            case let other?: throw problem("\(key) must be an integer, not \(other.typeName)")
            }
        }

        let book = Book(
            id: try string("id"), title: try string("title"), author: try string("author", optional: true),
            priceCents: try integer("priceCents"), stock: try integer("stock")
        )
        if let text = book.validationProblem { throw problem(text) }
        return book
    }
}
