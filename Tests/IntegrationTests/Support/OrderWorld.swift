import CartDomain
import CryptoPrimitives
import Foundation
import JSON
import Postgres
import Redis
import Storage
import Testing

/// Hubs, workers and the private Redis and Postgres of one order test.
struct OrderWorld {
    static let webhookSecret = "order-tests-webhook-secret-0123456789abcdef"

    let stack: PersistenceTests.Stack
    let catalog: TestCatalog
    var hubs: [HubProcess]
    var workers: [WorkerProcess]
    let environment: [String: String]

    init(stocks: [Int64], hubs hubCount: Int = 1, workers workerCount: Int = 1, ttl: Int = 900, extra: [String: String] = [:]) throws {
        stack = try PersistenceTests.Stack()
        catalog = try TestCatalog("ord", stocks: stocks, database: stack.postgres.connect())
        var environment = stack.environment
        environment["PAYMENT_WEBHOOK_SECRET"] = Self.webhookSecret
        environment["CARTHUB_RESERVATION_TTL"] = String(ttl)
        environment["CARTHUB_LEASE_MS"] = "2000"
        for (k, v) in extra { environment[k] = v }
        self.environment = environment
        hubs = try (0..<hubCount).map { _ in try HubProcess(environment: environment) }
        workers = try (0..<workerCount).map { _ in try WorkerProcess(environment: environment) }
        try waitForStock()
    }

    func redis() throws -> BlockingRedisConnection { try stack.redisConnection() }
    func postgres() throws -> PostgresConnection { try stack.postgres.connect() }

    /// The stock is built for the Redis generation in force.
    func waitForStock(within seconds: Double = 15) throws {
        _ = try eventually(within: seconds, "the Redis stock to be built") {
            let r = try redis()
            let generation = try r.command(["GET", CartKeys.generation]).stringValue
            let built = try r.command(["HGET", StockKeys.meta, "g"]).stringValue
            return generation != nil && built == generation ? true : nil
        }
    }

    func available(_ book: Book) throws -> Int64? { try redis().command(["HGET", StockKeys.available, book.id]).intValue }
    func reservations() throws -> Int64 { try redis().command(["SCARD", StockKeys.reservations]).intValue ?? -1 }
    func postgresStock(_ book: Book) throws -> Int64? { try CatalogStore.load(postgres(), id: book.id)?.book.stock }
    func order(_ id: String) throws -> Order? { try OrderStore.load(postgres(), id: id) }

    /// A user's socket on hub `hub` with `quantity` of `book` in the cart.
    func shopper(_ label: String, _ book: Book, _ quantity: Int64 = 1, hub: Int = 0) throws -> CartSocket {
        let socket = try CartSocket(hubs[hub], user: TestEnvironment.uniquePrefix(label))
        let reply = try socket.call("cart.add", ["bookId": .string(book.id), "quantity": .int(quantity)])
        #expect(reply.isOK, "\(reply.encoded)")
        return socket
    }

    /// `order.create` over the socket; the reply.
    func checkout(_ socket: CartSocket, key: String? = nil) throws -> JSONValue {
        try socket.call("order.create", ["idempotencyKey": .string(key ?? UUID().uuidString)], timeout: 20)
    }

    /// The payment provider's notification, signed (or with `signature`).
    func pay(_ orderId: String, _ status: String = "succeeded", ref: String? = nil, hub: Int = 0, signature: String? = nil) throws -> REST.Answer {
        let body = Array(JSONValue.object(["orderId": .string(orderId), "status": .string(status), "paymentRef": .string(ref ?? "pay-\(orderId)")]).encoded.utf8)
        let mac = Hex.encode(HMACSHA256.authenticationCode(key: Array(Self.webhookSecret.utf8), message: body))
        return try REST(hubs[hub]).call("POST", "/api/payments/webhook", body: body,
                                        headers: [("Content-Type", "application/json"), ("X-Signature", signature ?? "sha256=\(mac)")])
    }

    /// Runs `carthub stock verify` (with `--repair`); exit status and output.
    func verifyStock(repair: Bool) throws -> (status: Int32, output: String) {
        try runCLI(["stock", "verify"] + (repair ? ["--repair"] : []), environment: stack.environment)
    }
}

extension CartSocket {
    /// The next `order.updated` whose order has `status` (and `id`, when given).
    func orderUpdate(_ status: String, id: String? = nil, timeout: Double = 15) throws -> JSONValue {
        try next(timeout: timeout) {
            $0["type"]?.stringValue == "order.updated" && $0["order"]?["status"]?.stringValue == status
                && (id == nil || $0["order"]?["id"]?.stringValue == id)
        }
    }
}

extension JSONValue {
    /// `data.order` of a reply, or `order` of a REST body.
    var order: JSONValue? { self["data"]?["order"] ?? self["order"] }
    var orderId: String? { order?["id"]?.stringValue }
}
