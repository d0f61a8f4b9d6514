// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "carthub",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "carthub", targets: ["carthub"]),
        .executable(name: "carthub-bench", targets: ["carthub-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // Thin system-library shims, one per C library (swift-nio style).
        .systemLibrary(name: "CLibWebSockets", pkgConfig: "libwebsockets", providers: [.apt(["libwebsockets-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Plain Swift, no C: values and rules.
        .target(name: "JSON"),
        .target(name: "CartDomain", dependencies: ["JSON"]),

        // Swift wrappers that own every C pointer's lifetime.
        .target(name: "CryptoPrimitives", dependencies: ["COpenSSL"]),
        .target(name: "Auth", dependencies: ["JSON", "CryptoPrimitives"]),
        .target(name: "Diagnostics"),
        .target(name: "EventLoop", dependencies: ["CLibUV"]),
        .target(
            name: "Redis",
            dependencies: ["CHiredis", "CLibUV", "EventLoop", "Diagnostics", .product(name: "DequeModule", package: "swift-collections")]
        ),
        .target(name: "Postgres", dependencies: ["CLibPQ"]),
        .target(
            name: "WebSocketServer",
            dependencies: ["CLibWebSockets", "CLibUV", "EventLoop", "Diagnostics", .product(name: "DequeModule", package: "swift-collections")]
        ),
        .target(name: "WebSocketClient"),
        .target(name: "SMTP", dependencies: ["CCurl"]),

        // The product.
        .target(name: "Storage", dependencies: ["Postgres", "CartDomain", "JSON"], resources: [.copy("Migrations")]),
        .target(name: "Scheduling", dependencies: ["CartDomain", "Redis", "Postgres", "Storage", "Diagnostics"]),
        .target(name: "Mail", dependencies: ["SMTP", "CartDomain", "JSON", "Redis", "Postgres", "Storage", "Diagnostics"]),
        // Mail: the expiry (worker) and the hub enqueue the order mails.
        .target(name: "Persistence", dependencies: ["CartDomain", "Redis", "Postgres", "Storage", "JSON", "Diagnostics", "Mail"]),
        .target(
            name: "CartHub",
            dependencies: [
                "CartDomain", "JSON", "Auth", "CryptoPrimitives", "EventLoop", "Redis", "Postgres", "Storage", "Persistence", "Mail", "WebSocketServer", "Diagnostics",
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            // Resources/openapi.json; Web/ is the browser client (WebAssets), served at / and /assets/.
            resources: [.copy("Resources"), .copy("Web")]
        ),
        .executableTarget(
            name: "carthub",
            dependencies: [
                "CartHub", "Persistence", "Storage", "Auth", "Redis", "Postgres", "WebSocketClient", "CartDomain", "JSON", "Diagnostics", "EventLoop",
                "Scheduling", "Mail", "SMTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Load generator (scripts/bench.sh): one libuv loop driving many sockets.
        .executableTarget(
            name: "carthub-bench",
            dependencies: [
                "CLibUV", "EventLoop", "WebSocketClient", "Auth", "Diagnostics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/CarthubBench"
        ),

        .testTarget(name: "DomainTests", dependencies: ["JSON", "CartDomain", "Auth", "CryptoPrimitives", "Scheduling", "Mail"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["carthub", "CartHub", "WebSocketClient", "Redis", "Postgres", "Storage", "Auth", "JSON", "CartDomain", "CryptoPrimitives", "Mail", "Scheduling"],
            // Browser/e2e.py: the browser test's selenium script, run by BrowserTests.swift.
            exclude: ["Browser"]
        ),
        .testTarget(name: "WebSocketClientTests", dependencies: ["WebSocketClient"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Postgres", "CartDomain"]),
    ]
)
