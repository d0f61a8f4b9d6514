import CartDomain
import Diagnostics
import EventLoop
import Foundation
import Postgres
import Storage

/// The books the hub prices carts with: loaded from Postgres off the loop thread,
/// swapped in on the loop thread, reloaded whenever `catalog:changed` is published.
/// Loop-confined: only the load closure crosses threads, and it touches no state.
final class CatalogCache: @unchecked Sendable {
    private var books: [String: Book] = [:]
    private(set) var isLoaded = false
    /// Called after every successful load.
    var onLoaded: (() -> Void)?
    private var loading = false
    private var reloadRequested = false
    private let loop: EventLoop
    private let databaseURL: String

    init(loop: EventLoop, databaseURL: String) {
        self.loop = loop
        self.databaseURL = databaseURL
    }

    func book(_ id: String) -> Book? { books[id] }

    var count: Int { books.count }

    /// Loads now, or once more after the load in progress (changes may have raced it).
    func reload() {
        guard !loading else {
            reloadRequested = true
            return
        }
        loading = true
        let url = databaseURL
        let loop = loop
        Thread.detachNewThread {
            let result: Result<[Book], Error> = Result { try CatalogStore.loadAll(PostgresConnection(url: url)) }
            loop.post { [self] in finished(result) }
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
