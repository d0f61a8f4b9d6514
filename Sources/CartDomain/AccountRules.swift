/// What an account's email, name and password must look like (register and
/// `carthub user create`). Each check returns the error to answer, or nil.
public enum AccountRules {
    public static let maxEmailLength = 254
    public static let nameLengths = 1...100
    public static let passwordLengths = 10...1024
    /// Bounds hashing cost whatever the characters (1024 four-byte characters fit).
    public static let maxPasswordBytes = 4096

    /// `local@domain.tld`: no spaces or control characters, one `@`, a dot inside the domain.
    public static func emailProblem(_ email: String) -> CartError? {
        let invalid = CartError(.badRequest, "email must look like name@example.com (at most \(maxEmailLength) characters)")
        guard email.utf8.count <= maxEmailLength, email.unicodeScalars.allSatisfy({ !isSpaceOrControl($0) }) else { return invalid }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { return invalid }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty }) else { return invalid }
        return nil
    }

    public static func nameProblem(_ name: String) -> CartError? {
        guard nameLengths.contains(name.count), name.unicodeScalars.contains(where: { !isSpaceOrControl($0) }),
            !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else { return CartError(.badRequest, "name must be \(nameLengths.lowerBound)-\(nameLengths.upperBound) characters, not blank, without control characters") }
        return nil
    }

    public static func passwordProblem(_ password: String) -> CartError? {
        guard passwordLengths.contains(password.count), password.utf8.count <= maxPasswordBytes else {
            return CartError(.weakPassword, "password must be \(passwordLengths.lowerBound)-\(passwordLengths.upperBound) characters")
        }
        return nil
    }

    private static func isSpaceOrControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
    }
}
