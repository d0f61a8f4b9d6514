/// Lays out arguments as the C argv/argvlen pair hiredis wants, in one allocation.
func withArgv<R>(_ args: [String], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R) -> R {
    var total = 0
    for arg in args { total += arg.utf8.count }
    let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(total, 1), alignment: 1)
    let pointers = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: args.count)
    let lengths = UnsafeMutablePointer<Int>.allocate(capacity: args.count)
    defer {
        storage.deallocate()
        pointers.deallocate()
        lengths.deallocate()
    }
    var offset = 0
    for (i, arg) in args.enumerated() {
        var arg = arg
        let count = arg.withUTF8 { utf8 in
            UnsafeMutableRawBufferPointer(rebasing: storage[offset..<offset + utf8.count]).copyMemory(from: UnsafeRawBufferPointer(utf8))
            return utf8.count
        }
        pointers[i] = UnsafePointer((storage.baseAddress! + offset).assumingMemoryBound(to: CChar.self))
        lengths[i] = count
        offset += count
    }
    return body(Int32(args.count), pointers, UnsafePointer(lengths))
}
