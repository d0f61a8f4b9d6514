import ArgumentParser
import Auth
import CartDomain
import Postgres
import Storage

struct User: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage user accounts.", subcommands: [Create.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an account and print its user id.",
            discussion: """
                The password is the first line of standard input (10-1024 characters), e.g.
                  read -rs PW && printf '%s\\n' "$PW" | carthub user create --email ops@example.com --role admin
                """)

        @Option(help: "Email address (unique, compared case-insensitively).") var email: String
        @Option(help: "Display name (default: the part of the email before @).") var name: String?
        @Option(help: "customer or admin.") var role: String = "customer"
        @Option(name: .customLong("database-url"), help: "Postgres URL (DATABASE_URL).") var databaseURL: String?

        func validate() throws {
            guard UserStore.roles.contains(role) else { throw ValidationError("--role must be customer or admin") }
            if let problem = AccountRules.emailProblem(email) ?? AccountRules.nameProblem(displayName) {
                throw ValidationError(problem.message)
            }
        }

        private var displayName: String { name ?? String(email.prefix { $0 != "@" }) }

        func run() throws {
            guard let password = readLine(strippingNewline: true) else {
                throw CommandFailure("no password: write it as the first line of standard input")
            }
            if let problem = AccountRules.passwordProblem(password) { throw CommandFailure(problem.message) }
            let hash = PasswordHash.make(password: password)
            let database = try PostgresConnection(url: Env.databaseURL(databaseURL))
            guard let user = try UserStore.create(database, id: RandomToken.identifier(prefix: "u-"), email: email, name: displayName,
                                                  passwordHash: hash, role: role)
            else { throw CommandFailure("an account with the email \(email) exists already") }
            print(user.id)
        }
    }
}

/// A failure worth one line on stderr and exit status 1, without the usage text.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
