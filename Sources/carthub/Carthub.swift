import ArgumentParser

@main
struct Carthub: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "carthub",
        abstract: "Realtime shopping-cart hub: WebSocket + REST over Redis and Postgres.",
        discussion: """
            Environment (each overridable by the matching flag):
              REDIS_URL                 redis://[:password@]host:port/db   (default redis://127.0.0.1:6379/0)
              DATABASE_URL              postgres://user:pass@host:port/db  (default postgres://carthub@127.0.0.1:5432/carthub)
              JWT_SECRET                HS256 secret, at least 32 bytes (required by serve and token)
              CARTHUB_HOST              listen address (default 127.0.0.1)
              CARTHUB_PORT              listen port (default 8080; 0 picks a free one)
              CARTHUB_ALLOWED_ORIGINS   comma-separated Origins allowed on sockets and cookie requests
                                        (default: the hub's own origin)
              CARTHUB_SHARDS            shard count, fixed per deployment (default 64)
              CARTHUB_LUA_DIR           folder holding the Lua scripts (default: the checkout's lua/)
              CARTHUB_MAX_QUANTITY      largest quantity of one cart line (default 99)
              CARTHUB_MAX_LINES         most distinct books in one cart (default 100)
              CARTHUB_MAX_SOCKETS_PER_USER  sockets one user may hold on one instance (default 20)
              CARTHUB_RATE_LIMIT        commands per second per socket (default 200)
              CARTHUB_RATE_BURST        burst allowance per socket (default 400)
              CARTHUB_REDIS_TIMEOUT_MS  a Redis command unanswered this long fails with UNAVAILABLE (default 1500)
              CARTHUB_PING_INTERVAL     idle seconds before a socket is pinged (default 20)
              CARTHUB_PONG_TIMEOUT      seconds without a pong before a socket is dropped (default 50)
              CARTHUB_ACCESS_TOKEN_TTL  seconds an access token (and its cookie) lives, 60...86400 (default 900)
              CARTHUB_REFRESH_TOKEN_TTL seconds a refresh token lives (default 2592000, 30 days)
              CARTHUB_RESERVATION_TTL   seconds an unpaid order holds its stock before it expires (default 900)
              PAYMENT_WEBHOOK_SECRET    HMAC-SHA256 key of POST /api/payments/webhook, at least 32 bytes
                                        (unset: every call is refused, 401)
              CARTHUB_DEMO_PAYMENTS     demo only: 1 enables POST /api/demo/pay/{id} (the browser client's Pay
                                        button; signed and sent through the webhook's code; needs
                                        PAYMENT_WEBHOOK_SECRET). Off (default): the route answers 404
              CARTHUB_TEST_CRASH_AFTER_RESERVE  test-only: 1 makes the hub exit right after reserving an
                                        order's stock, before writing the order (recovery tests)
              CARTHUB_LOG               debug | info | warning | error (default info)
            """,
        subcommands: [Serve.self, Worker.self, Client.self, Token.self, User.self, Migrate.self, Catalog.self, Reconcile.self, Stock.self, DeadLetters.self, Status.self, Schedules.self]
    )
}
