import CartDomain
import Foundation
import JSON
import Testing
import WebSocketClient

@Suite("Accounts: register, login, refresh, logout")
struct AccountsTests {
    @Test("register, log in with the email in another case, then /api/me by Bearer and by cookie")
    func registerLoginMe() throws {
        let hub = try HubProcess()
        let client = AccountClient(hub)
        let email = AccountClient.uniqueEmail("reg")
        let registered = try client.register(email, name: "Ada Lovelace")
        #expect(registered.status == 201, "\(registered.bodyText)")
        let user = try #require(registered.json["user"])
        let id = try #require(user["id"]?.stringValue)
        #expect(id.hasPrefix("u-") && Identifier.isValidUserId(id))
        #expect(user["email"]?.stringValue == email)
        #expect(user["name"]?.stringValue == "Ada Lovelace")
        #expect(user["role"]?.stringValue == "customer")
        #expect(user["marketingEmails"] == .bool(true))
        #expect(user["createdAt"]?.stringValue?.hasSuffix("Z") == true)
        #expect(user["passwordHash"] == nil && user["password_hash"] == nil)

        let response = try client.login(email.uppercased())
        #expect(response.status == 200, "\(response.bodyText)")
        let login = try Login(response, email: email)
        #expect(login.body["tokenType"]?.stringValue == "Bearer")
        #expect(login.body["expiresIn"] == .int(900))
        #expect(login.body["user"] == user)
        #expect(login.claims.subject == id)
        #expect(login.claims.role == "customer")
        #expect(login.claims.sessionId.map(Identifier.isValidUserId) == true)
        #expect(login.claims.expiresAt - (login.claims.issuedAt ?? 0) == 900)

        let access = try #require(response.cookie("accessToken")).attributes
        #expect(access["httponly"] != nil && access["samesite"] == "Lax" && access["path"] == "/" && access["max-age"] == "900")
        #expect(access["secure"] == nil, "no TLS here")
        let refresh = try #require(response.cookie("refreshToken")).attributes
        #expect(refresh["httponly"] != nil && refresh["samesite"] == "Lax" && refresh["path"] == "/api/auth")
        #expect(Int(refresh["max-age"] ?? "") == 30 * 86_400)

        for headers in [login.bearer, login.accessCookie] {
            let me = try client.me(headers)
            #expect(me.status == 200, "\(me.bodyText)")
            #expect(me.json == user)
        }
        #expect(try client.me([]).status == 401)
    }

    @Test("an email taken in another case is EMAIL_TAKEN; weak passwords, bad emails and names are refused")
    func registrationRules() throws {
        let hub = try HubProcess()
        let client = AccountClient(hub)
        let email = AccountClient.uniqueEmail("dup")
        #expect(try client.register(email).status == 201)
        let again = try client.register(email.uppercased())
        #expect(again.status == 409 && again.errorCode == "EMAIL_TAKEN", "\(again.bodyText)")

        for password in ["123456789", "", String(repeating: "x", count: 1025)] {
            let weak = try client.register(AccountClient.uniqueEmail("weak"), password: password)
            #expect(weak.status == 400 && weak.errorCode == "WEAK_PASSWORD", "\(password.count) characters: \(weak.bodyText)")
        }
        #expect(try client.register(AccountClient.uniqueEmail("ok10"), password: "0123456789").status == 201)
        for bad in ["no-at-sign.example.com", "a@nodot", "@example.com", "a b@example.com", String(repeating: "a", count: 250) + "@example.com"] {
            let response = try client.register(bad)
            #expect(response.status == 400 && response.errorCode == "BAD_REQUEST", "\(bad): \(response.bodyText)")
        }
        for name in ["", "   ", String(repeating: "n", count: 101)] {
            let response = try client.register(AccountClient.uniqueEmail("name"), name: name)
            #expect(response.status == 400 && response.errorCode == "BAD_REQUEST", "name \(name.count): \(response.bodyText)")
        }
    }

    @Test("a wrong password and an unknown email get the same 401 INVALID_CREDENTIALS")
    func invalidCredentials() throws {
        let hub = try HubProcess()
        let client = AccountClient(hub)
        let email = AccountClient.uniqueEmail("cred")
        #expect(try client.register(email).status == 201)
        let wrong = try client.login(email, password: "not the password")
        let unknown = try client.login(AccountClient.uniqueEmail("nobody"))
        for response in [wrong, unknown] {
            #expect(response.status == 401 && response.errorCode == "INVALID_CREDENTIALS", "\(response.bodyText)")
            #expect(response.cookie("accessToken") == nil)
        }
        #expect(wrong.json["error"]?["message"] == unknown.json["error"]?["message"])
    }

    @Test("5 failed logins lock the account for a while, from any address, even with the right password")
    func throttlePerAccount() throws {
        let hub = try HubProcess()
        let client = AccountClient(hub)
        let email = AccountClient.uniqueEmail("lock")
        #expect(try client.register(email).status == 201)
        for _ in 0..<5 {
            #expect(try client.login(email, password: "wrong password").errorCode == "INVALID_CREDENTIALS")
        }
        let locked = try AccountClient(hub).login(email.uppercased())
        #expect(locked.status == 429 && locked.errorCode == "RATE_LIMITED", "\(locked.bodyText)")
        let retryAfter = try #require(locked.header("retry-after").flatMap { Int($0) })
        #expect((1...900).contains(retryAfter))
        // Another account from the same address is not affected.
        let other = AccountClient.uniqueEmail("free")
        #expect(try client.register(other).status == 201)
        #expect(try client.login(other).status == 200)
    }

    @Test("30 login attempts a minute per client address, then 429 for that address only")
    func throttlePerAddress() throws {
        let hub = try HubProcess()
        let client = AccountClient(hub)
        for _ in 0..<30 {
            let response = try client.login(AccountClient.uniqueEmail("addr"))
            #expect(response.errorCode == "INVALID_CREDENTIALS", "\(response.bodyText)")
        }
        let limited = try client.login(AccountClient.uniqueEmail("addr"))
        #expect(limited.status == 429 && limited.errorCode == "RATE_LIMITED", "\(limited.bodyText)")
        let retryAfter = try #require(limited.header("retry-after").flatMap { Int($0) })
        #expect((1...60).contains(retryAfter))
        #expect(try AccountClient(hub).login(AccountClient.uniqueEmail("addr")).errorCode == "INVALID_CREDENTIALS")
    }

    @Test("per-address limits are configurable; behind a trusted proxy they count the X-Forwarded-For client, elsewhere the header changes nothing")
    func throttleBehindProxy() throws {
        let proxy = AccountClient.randomAddress()
        let behind = try HubProcess(environment: ["CARTHUB_TRUSTED_PROXIES": "\(proxy),10.9.8.7", "CARTHUB_REGISTER_ADDRESS_LIMIT": "2"])
        let client = AccountClient(behind, address: proxy)
        func register(_ forwardedFor: String, on client: AccountClient) throws -> HTTPResponse {
            try client.request("POST", "/api/auth/register", json: JSONValue.object([
                "email": .string(AccountClient.uniqueEmail("proxy")), "password": .string(AccountClient.password), "name": "Proxied",
            ]).encoded, headers: [("X-Forwarded-For", forwardedFor)])
        }
        // Forwarded client addresses of their own, like every test's: limits are shared by runs.
        let (first, second) = (AccountClient.randomAddress(), AccountClient.randomAddress())
        #expect(try register(first, on: client).status == 201)
        #expect(try register("203.0.113.1, \(first)", on: client).status == 201, "a spoofed entry left of the proxy's is not the client")
        let limited = try register(first, on: client)
        #expect(limited.status == 429 && limited.errorCode == "RATE_LIMITED", "\(limited.bodyText)")
        #expect(try register("\(second), 10.9.8.7", on: client).status == 201, "another client of the proxy (through a second trusted proxy)")

        // A hub that trusts no proxy counts the peer, whatever the header says.
        let direct = try HubProcess(environment: ["CARTHUB_REGISTER_ADDRESS_LIMIT": "2"])
        let spoofer = AccountClient(direct)
        for (forwarded, status) in [(AccountClient.randomAddress(), 201), (AccountClient.randomAddress(), 201), (AccountClient.randomAddress(), 429)] {
            #expect(try register(forwarded, on: spoofer).status == status)
        }

        // Bad settings stop `carthub serve` at start, naming the variable. (CARTHUB_MAX_QUANTITY=0
        // is checked after these: a hub that took one of them exits on that instead of serving.)
        for (name, value, message) in [("CARTHUB_TRUSTED_PROXIES", "10.0.0.1,proxy.local", "CARTHUB_TRUSTED_PROXIES must list IP addresses"),
                                       ("CARTHUB_LOGIN_ADDRESS_LIMIT", "0", "CARTHUB_LOGIN_ADDRESS_LIMIT must be 1...1000000"),
                                       ("CARTHUB_LOGIN_ACCOUNT_LIMIT", "1000001", "CARTHUB_LOGIN_ACCOUNT_LIMIT must be 1...1000000"),
                                       ("CARTHUB_REGISTER_ADDRESS_LIMIT", "many", "CARTHUB_REGISTER_ADDRESS_LIMIT must be an integer")] {
            let run = try runCLI(["serve"], environment: try HubProcess.environment([name: value, "CARTHUB_MAX_QUANTITY": "0"]))
            #expect(run.status != 0 && run.output.contains(message), "\(name)=\(value): exit \(run.status): \(run.output)")
        }
    }

    @Test("the login cookie opens a socket from an allowed Origin, and only from one")
    func cookieOpensSocket() throws {
        let hub = try HubProcess()
        let login = try AccountClient(hub).newSession("sock")
        let socket = try CartSocket(hub, user: login.userId, headers: login.accessCookie + [("Origin", hub.origin)], bearer: false)
        #expect(socket.hello["userId"]?.stringValue == login.userId)
        #expect(rejection(hub, login.accessCookie + [("Origin", "https://evil.example")]) == 403)
        #expect(rejection(hub, login.accessCookie) == 403)
    }

    @Test("refresh rotates both cookies; replaying the old refresh token is 401 and ends the session")
    func refreshRotation() throws {
        let hub = try HubProcess()
        let client = AccountClient(hub)
        let first = try client.newSession("rot")
        let origin = [("Origin", hub.origin)]
        let socket = try CartSocket(hub, user: first.userId, token: first.accessToken)

        let refreshed = try client.request("POST", "/api/auth/refresh", headers: first.refreshCookie + origin)
        #expect(refreshed.status == 200, "\(refreshed.bodyText)")
        let second = try Login(refreshed, email: first.email)
        #expect(second.refreshToken != first.refreshToken)
        #expect(second.claims.sessionId == first.claims.sessionId)
        #expect(second.body["user"] == first.body["user"])
        #expect(refreshed.cookie("refreshToken")?.attributes["path"] == "/api/auth")
        let meAfter = try client.me(second.accessCookie)
        #expect(meAfter.status == 200, "\(meAfter.bodyText)")

        let replay = try client.request("POST", "/api/auth/refresh", headers: first.refreshCookie + origin)
        #expect(replay.status == 401 && replay.errorCode == "UNAUTHORIZED", "\(replay.bodyText)")
        #expect(replay.cookie("refreshToken")?.attributes["max-age"] == "0")
        #expect(try socket.closeCode(timeout: 10) == 4003)
        #expect(try client.me(second.bearer).status == 401)
        #expect(try client.request("POST", "/api/auth/refresh", headers: second.refreshCookie + origin).status == 401)
        #expect(rejection(hub, second.bearer) == 401)
    }

    @Test("logout: 204, the session's sockets close with 4003 on both hubs, another session stays, the token is refused everywhere")
    func logoutAcrossHubs() throws {
        let a = try HubProcess()
        let b = try HubProcess()
        let client = AccountClient(a)
        let email = AccountClient.uniqueEmail("out")
        #expect(try client.register(email).status == 201)
        let ending = try client.logIn(email)
        let staying = try AccountClient(b).logIn(email)
        #expect(ending.claims.sessionId != staying.claims.sessionId)

        let onA = try CartSocket(a, user: ending.userId, headers: ending.accessCookie + [("Origin", a.origin)], bearer: false)
        let onB = try CartSocket(b, user: ending.userId, token: ending.accessToken)
        let other = try CartSocket(a, user: staying.userId, token: staying.accessToken)

        let logout = try AccountClient(b).request("POST", "/api/auth/logout", headers: ending.bearer)
        #expect(logout.status == 204, "\(logout.bodyText)")
        #expect(logout.cookie("accessToken")?.attributes["max-age"] == "0")
        #expect(logout.cookie("refreshToken")?.attributes["max-age"] == "0")
        #expect(try onA.closeCode(timeout: 10) == 4003)
        #expect(try onB.closeCode(timeout: 10) == 4003)
        #expect(try other.call("cart.get").isOK)

        for hub in [a, b] {
            let me = try AccountClient(hub).me(ending.bearer)
            #expect(me.status == 401 && me.errorCode == "UNAUTHORIZED")
            #expect(rejection(hub, ending.bearer) == 401)
            #expect(try AccountClient(hub).me(staying.bearer).status == 200)
        }
        let refresh = try client.request("POST", "/api/auth/refresh", headers: ending.refreshCookie + [("Origin", a.origin)])
        #expect(refresh.status == 401)
        // A hub started afterwards learns the deny-list from Redis.
        let late = try HubProcess()
        #expect(rejection(late, ending.bearer) == 401)
        #expect(try AccountClient(late).me(ending.bearer).status == 401)
    }

    @Test("logout by the refresh cookie alone ends that session; doing it again is harmless")
    func logoutByRefreshCookie() throws {
        let hub = try HubProcess()
        let client = AccountClient(hub)
        let login = try client.newSession("rc")
        let logout = try client.request("POST", "/api/auth/logout", headers: login.refreshCookie + [("Origin", hub.origin)])
        #expect(logout.status == 204, "\(logout.bodyText)")
        #expect(try client.me(login.bearer).status == 401)
        #expect(try client.request("POST", "/api/auth/logout", headers: login.refreshCookie + [("Origin", hub.origin)]).status == 204)
        #expect(try client.request("POST", "/api/auth/refresh", headers: login.refreshCookie + [("Origin", hub.origin)]).status == 401)
    }

    @Test("cookie-authenticated refresh and logout need an allowed Origin or Referer; Bearer logout does not")
    func crossSiteRequests() throws {
        let hub = try HubProcess()
        let client = AccountClient(hub)
        let login = try client.newSession("csrf")
        let cookies = [("Cookie", "accessToken=\(login.accessToken); refreshToken=\(login.refreshToken)")]
        for path in ["/api/auth/refresh", "/api/auth/logout"] {
            for extra in [[("Origin", "https://evil.example")], [("Referer", "https://evil.example/page")], []] {
                let response = try client.request("POST", path, headers: cookies + extra)
                #expect(response.status == 403 && response.errorCode == "FORBIDDEN", "\(path) \(extra): \(response.bodyText)")
            }
        }
        #expect(try client.me(login.bearer).status == 200, "the refused calls changed nothing")
        let viaReferer = try client.request("POST", "/api/auth/refresh", headers: login.refreshCookie + [("Referer", hub.origin + "/shop")])
        #expect(viaReferer.status == 200, "\(viaReferer.bodyText)")
        let fresh = try Login(viaReferer, email: login.email)
        let logout = try client.request("POST", "/api/auth/logout", headers: fresh.bearer)
        #expect(logout.status == 204, "\(logout.bodyText)")
    }

    @Test("carthub user create --role admin makes a user whose tokens carry role admin; a taken email fails")
    func adminFromCommandLine() throws {
        let hub = try HubProcess()
        let email = AccountClient.uniqueEmail("admin")
        let created = try runUserCreate(["--email", email, "--role", "admin", "--name", "Ops"], stdin: AccountClient.password + "\n")
        #expect(created.status == 0, "\(created.stderr)")
        let id = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("u-") && Identifier.isValidUserId(id))
        let login = try AccountClient(hub).logIn(email)
        #expect(login.userId == id)
        #expect(login.claims.role == "admin")
        #expect(login.body["user"]?["role"]?.stringValue == "admin")

        let duplicate = try runUserCreate(["--email", email.lowercased()], stdin: AccountClient.password + "\n")
        #expect(duplicate.status != 0 && duplicate.stderr.contains("exists already"), "\(duplicate.stderr)")
        let short = try runUserCreate(["--email", AccountClient.uniqueEmail("short")], stdin: "short\n")
        #expect(short.status != 0 && short.stderr.contains("10-1024"), "\(short.stderr)")
    }

    @Test("malformed bodies: missing fields, wrong types, bad JSON are 400; a non-JSON content type is 415")
    func requestShapes() throws {
        let hub = try HubProcess()
        let client = AccountClient(hub)
        let bad: [(String, String)] = [
            ("/api/auth/login", #"{"email":"a@example.com"}"#),
            ("/api/auth/login", #"{"password":"0123456789ab"}"#),
            ("/api/auth/login", #"{"email":"a@example.com","password":1234567890}"#),
            ("/api/auth/login", #"{"email":null,"password":"0123456789ab"}"#),
            ("/api/auth/login", #"["a@example.com","0123456789ab"]"#),
            ("/api/auth/login", #"{"email":"a@example.com","#),
            ("/api/auth/login", ""),
            ("/api/auth/register", #"{"email":"a@example.com","password":"0123456789ab"}"#),
            ("/api/auth/register", #"{"email":"a@example.com","password":"0123456789ab","name":42}"#),
        ]
        for (path, body) in bad {
            let response = try client.request("POST", path, json: body)
            #expect(response.status == 400 && response.errorCode == "BAD_REQUEST", "\(path) \(body): \(response.bodyText)")
        }
        for path in ["/api/auth/login", "/api/auth/register"] {
            let response = try client.request("POST", path, json: #"{"email":"a@example.com","password":"0123456789ab","name":"A"}"#,
                                              headers: [("Content-Type", "text/plain")])
            #expect(response.status == 415 && response.errorCode == "UNSUPPORTED_MEDIA_TYPE", "\(path): \(response.bodyText)")
        }
        #expect(try client.request("GET", "/api/auth/login").status == 405)
        #expect(try client.request("POST", "/api/me").status == 405)
    }

    // MARK: Helpers

    /// The HTTP status a handshake with these headers is refused with (nil: it opened).
    private func rejection(_ hub: HubProcess, _ headers: [(String, String)]) -> Int? {
        do {
            let socket = try WebSocketClient.connect(url: hub.socketURL, headers: headers)
            socket.close()
            return nil
        } catch WebSocketClientError.handshakeRejected(let response) {
            return response.status
        } catch {
            Issue.record("handshake failed: \(error)")
            return -1
        }
    }

    private func runUserCreate(_ arguments: [String], stdin: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.binary)
        process.arguments = ["user", "create"] + arguments
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = try TestEnvironment.databaseURL()
        process.environment = env
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}
