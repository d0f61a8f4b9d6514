import JSON
import Redis
import Testing

@Suite("Redis over its Unix socket")
struct RedisTransportTests {
    @Test("REDIS_URL takes redis:// and unix:// forms, and refuses malformed ones")
    func urls() {
        let tcp = RedisConfiguration(url: "redis://:p%40ss@10.0.0.5:6380/2")
        #expect(tcp == RedisConfiguration(host: "10.0.0.5", port: 6380, password: "p@ss", database: 2))
        #expect(tcp?.endpoint == "10.0.0.5:6380")
        let unix = RedisConfiguration(url: "unix://:secret@/run/redis/redis.sock?db=3")
        #expect(unix == RedisConfiguration(socketPath: "/run/redis/redis.sock", password: "secret", database: 3))
        #expect(unix?.endpoint == "/run/redis/redis.sock")
        #expect(RedisConfiguration(url: "unix:///var/run/my%20redis.sock") == RedisConfiguration(socketPath: "/var/run/my redis.sock"))
        let longest = "/" + String(repeating: "s", count: RedisConfiguration.maxSocketPathBytes - 1)
        #expect(RedisConfiguration(url: "unix://" + longest)?.socketPath == longest)
        for bad in ["unix://relative/redis.sock", "unix://", "unix:///r.sock?db=-1", "unix:///r.sock?database=1",
                    "unix:///r%00.sock", "unix://" + longest + "s", "redis://:pw@/0", "redis://host:70000/0", "http://host"] {
            #expect(RedisConfiguration(url: bad) == nil, "\(bad) was accepted")
        }
    }

    @Test("a hub on the socket and a hub on TCP share a user's room both ways")
    func socketAndTCPHubsShareRooms() throws {
        let catalog = try TestCatalog(stocks: [50])
        let onSocket = try HubProcess(environment: ["REDIS_URL": try TestEnvironment.redisSocketURL()])
        let onTCP = try HubProcess()
        let user = TestEnvironment.uniquePrefix("unix")
        let a = try CartSocket(onSocket, user: user)
        let b = try CartSocket(onTCP, user: user)

        let added = try a.call("cart.add", ["bookId": .string(catalog[0].id), "quantity": 2])
        #expect(added.isOK, "\(added.encoded)")
        let seenOnTCP = try b.event()
        #expect(seenOnTCP.cartVersion == 1)
        #expect(seenOnTCP["cart"]?["items"]?.arrayValue?.first?["quantity"] == 2)

        let changed = try b.call("cart.setQuantity", ["bookId": .string(catalog[0].id), "quantity": 5])
        #expect(changed.isOK, "\(changed.encoded)")
        #expect(try a.event().cartVersion == 1, "its own change comes first")
        let seenOnSocket = try a.event()
        #expect(seenOnSocket.cartVersion == 2)
        #expect(seenOnSocket["cart"]?["totalCents"]?.intValue == 5 * catalog[0].priceCents)
    }

    @Test("serve refuses a unix:// REDIS_URL it cannot use, naming the forms it takes")
    func badSocketURL() throws {
        for url in ["unix://redis.sock", "unix:///tmp/r.sock?db=x"] {
            let run = try runCLI(["serve"], environment: try HubProcess.environment(["REDIS_URL": url, "CARTHUB_MAX_QUANTITY": "0"]))
            #expect(run.status != 0 && run.output.contains("unix://[:password@]/path/to/redis.sock"), "\(url): exit \(run.status): \(run.output)")
        }
    }
}
