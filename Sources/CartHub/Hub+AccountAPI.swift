import Auth
import CartDomain
import Diagnostics
import JSON
import Storage

/// `POST /api/auth/register`, `GET /api/me` and `PATCH /api/me`.
extension Hub {
    func register(_ call: APICall) {
        guard serving(call) != nil, let body = call.jsonObject(), let email = call.string(body, "email"),
            let password = call.string(body, "password"), let name = call.string(body, "name")
        else { return }
        if let problem = AccountRules.emailProblem(email) ?? AccountRules.nameProblem(name) ?? AccountRules.passwordProblem(password) {
            return call.fail(problem)
        }
        let limits = configuration.loginThrottle
        let limit = Limit(key: AuthKeys.registrations(address: clientAddress(call)), limit: limits.registrationsPerAddress,
                          windowSeconds: limits.registrationWindowSeconds, what: "registrations from this address")
        throttle(call, limit) { [unowned self] in
            hashPassword(call, { PasswordHash.make(password: password) }) { [unowned self] hash in
                let id = RandomToken.identifier(prefix: "u-")
                database.run({ c in try UserStore.create(c, id: id, email: email, name: name, passwordHash: hash, role: "customer") }) { [unowned self] result in
                    switch result {
                    case .success(let user?): call.respond(201, json: JSONValue.object(["user": user.json]).encoded)
                    case .success(nil): call.fail(.emailTaken, "an account with this email exists already")
                    case .failure(let error): storeUnavailable(call, error)
                    }
                }
            }
        }
    }

    func getMe(_ call: APICall) {
        guard let claims = authenticate(call, mutating: false) else { return }
        let id = claims.subject
        database.run({ c in try UserStore.find(c, id: id) }) { [unowned self] result in
            switch result {
            case .success(let user?): call.respond(200, json: user.json.encoded)
            case .success(nil): call.fail(.notFound, "no account belongs to this token's user")
            case .failure(let error): storeUnavailable(call, error)
            }
        }
    }

    /// `PATCH /api/me {"marketingEmails": bool}`: the account's marketing mail (the
    /// abandoned-cart reminders) on or off. A cookie request needs an allowed Origin.
    func patchMe(_ call: APICall) {
        guard let claims = authenticate(call, mutating: true), let body = call.jsonObject() else { return }
        if let unknown = body.keys.sorted().first(where: { $0 != "marketingEmails" }) {
            return call.fail(.badRequest, "unknown member \(JSONString.quoted(String(unknown.prefix(64)))); only marketingEmails can be changed")
        }
        guard let value = body["marketingEmails"] else { return call.fail(.badRequest, "\"marketingEmails\" is required") }
        guard let enabled = value.boolValue else { return call.fail(.badRequest, "\"marketingEmails\" must be a boolean, not \(value.typeName)") }
        let id = claims.subject
        database.run({ c in try UserStore.setMarketingEmails(c, id: id, enabled) }) { [unowned self] result in
            switch result {
            case .success(let user?): call.respond(200, json: user.json.encoded)
            case .success(nil): call.fail(.notFound, "no account belongs to this token's user")
            case .failure(let error): storeUnavailable(call, error)
            }
        }
    }

    /// Runs password hashing on its own threads; answers 503 when too much is waiting.
    func hashPassword<T: Sendable>(_ call: APICall, _ work: @escaping @Sendable () -> T, then proceed: @escaping (T) -> Void) {
        let accepted = passwords.submit(work) { result in
            guard case .success(let value) = result else { return call.fail(.internal, "password hashing failed") }
            proceed(value)
        }
        if !accepted {
            call.fail(.unavailable, "too many logins in progress; retry shortly", headers: [("retry-after", "1")])
        }
    }

    /// Postgres failed: 503, and a log line saying why.
    func storeUnavailable(_ call: APICall, _ error: Error) {
        Log.warning("\(call.head.method) \(call.head.path): \(error)")
        call.fail(.unavailable, "the account store is unavailable; retry shortly", headers: [("retry-after", "1")])
    }
}
