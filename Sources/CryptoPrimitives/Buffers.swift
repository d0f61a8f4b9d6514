// OpenSSL treats a NULL data pointer as "no input" in some calls and as an error or a
// request to reuse earlier state in others, so empty inputs get a real address instead.

extension Array where Element == UInt8 {
    func withNonNullBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        isEmpty ? emptyInput(body) : withUnsafeBufferPointer(body)
    }
}

extension UnsafeRawBufferPointer {
    func withNonNullBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        isEmpty ? emptyInput(body) : withMemoryRebound(to: UInt8.self, body)
    }
}

private func emptyInput<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
    var placeholder: UInt8 = 0
    return withUnsafeMutablePointer(to: &placeholder) { body(UnsafeBufferPointer(start: $0, count: 0)) }
}
