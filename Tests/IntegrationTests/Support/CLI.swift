import Foundation

/// Runs `carthub ARGS` to completion; its exit status and standard output and error together.
func runCLI(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: TestEnvironment.binary)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["CARTHUB_LUA_DIR"] = TestEnvironment.luaDirectory
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let out = Pipe()
    process.standardOutput = out
    process.standardError = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
