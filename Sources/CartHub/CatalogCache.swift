import CartDomain
import Diagnostics
import EventLoop
import Storage

/// The books the hub prices carts with: loaded from Postgres off the loop thread,
/// swapped in on the loop thread. `catalog:changed` with a book id reloads that book;
/// `*` (or anything else), and every subscriber (re)connect, reload everything.
///
/// The database thread answers in the order it was asked, so a result applied later
/// is never older than one applied before; the revision check below is a second guard.
final class CatalogCache {
    private var books: [String: Book] = [:] {
        didSet { sortedBooks = nil }
    }
    /// Books by id (byte-wise) for paging, rebuilt after a change on first use.
    private var sortedBooks: [Book]?
    private(set) var isLoaded = false
    /// Called after every successful full load.
    var onLoaded: (() -> Void)?
    private var loading = false
    private var reloadRequested = false
    private let loop: EventLoop
    private let database: DatabaseThread

    init(loop: EventLoop, database: DatabaseThread) {
        self.loop = loop
        self.database = database
    }

    func book(_ id: String) -> Book? { books[id] }

    func page(query: String, after: String?, limit: Int) -> CatalogPage {
        if sortedBooks == nil { sortedBooks = books.values.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) } }
        return CatalogPage(sorted: sortedBooks!, query: query, after: after, limit: limit)
    }

    /// A `catalog:changed` payload: one book id, or a full reload for anything else.
    func changed(_ payload: String) {
        if payload != CartKeys.allBooks, Identifier.isValidBookId(payload) {
            refresh(payload)
        } else {
            reload()
        }
    }

    /// Loads now, or once more after the load in progress (changes may have raced it).
    func reload() {
        guard !loading else {
            reloadRequested = true
            return
        }
        loading = true
        database.run({ try CatalogStore.loadAll($0) }) { [weak self] result in self?.finished(result) }
    }

    /// Reloads one book (dropping it when it was deleted); `done` runs on the loop
    /// afterwards, whether or not Postgres answered.
    func refresh(_ id: String, _ done: (() -> Void)? = nil) {
        database.run({ try CatalogStore.load($0, id: id) }) { [weak self] result in
            defer { done?() }
            guard let self else { return }
            switch result {
            case .success(let record):
                if let known = books[id], let record, known.revision > record.book.revision { return }
                books[id] = record.flatMap { $0.deleted ? nil : $0.book }
            case .failure(let error):
                Log.warning("reloading book \(id) failed: \(error)")
            }
        }
    }

    private func finished(_ result: Result<[Book], Error>) {
        loading = false
        switch result {
        case .success(let list):
            books = Dictionary(list.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
            if !isLoaded { Log.info("catalog loaded: \(books.count) books") }
            isLoaded = true
            onLoaded?()
        case .failure(let error):
            Log.warning("catalog load failed: \(error); retrying in 2 s")
            loop.schedule(after: 2) { [weak self] in self?.reload() }
        }
        if reloadRequested {
            reloadRequested = false
            reload()
        }
    }
}
