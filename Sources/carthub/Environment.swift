import ArgumentParser
import Foundation
import Redis
import Scheduling

/// Flags win over environment variables, which win over defaults.
enum Env {
    static func string(_ flag: String?, _ name: String, default fallback: String) -> String {
        optional(flag, name) ?? fallback
    }

    /// A setting with no default: the flag, else the variable, else nil.
    static func optional(_ flag: String?, _ name: String) -> String? {
        flag ?? value(name)
    }

    static func value(_ name: String) -> String? {
        guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else { return nil }
        return v
    }

    static func int(_ flag: Int?, _ name: String, default fallback: Int) throws -> Int {
        if let flag { return flag }
        guard let raw = value(name) else { return fallback }
        guard let n = Int(raw) else { throw ValidationError("\(name) must be an integer, got \(raw)") }
        return n
    }

    /// A duration (`7d`, `36h`, `2s`, `1500ms`; a bare number is seconds) in milliseconds.
    static func duration(_ name: String, default fallback: Int64) throws -> Int64 {
        guard let raw = value(name) else { return fallback }
        guard let ms = DurationText.milliseconds(raw) else { throw ValidationError("\(name) must be a duration such as 7d, 36h, 90m or 2s, got \(raw)") }
        return ms
    }

    /// An on/off variable: unset, `0` or `false` is off; `1` or `true` is on; anything else is an error.
    static func flag(_ name: String) throws -> Bool {
        switch value(name)?.lowercased() {
        case nil, "0", "false": return false
        case "1", "true": return true
        case let raw?: throw ValidationError("\(name) must be 1 or 0, got \(raw)")
        }
    }

    static func redis(_ flag: String?) throws -> RedisConfiguration {
        let url = string(flag, "REDIS_URL", default: "redis://127.0.0.1:6379/0")
        guard let configuration = RedisConfiguration(url: url) else {
            throw ValidationError("REDIS_URL must look like redis://[:password@]host:port/db")
        }
        return configuration
    }

    static func databaseURL(_ flag: String?) -> String {
        string(flag, "DATABASE_URL", default: "postgres://carthub@127.0.0.1:5432/carthub")
    }

    static func jwtSecret(_ flag: String?) throws -> [UInt8] {
        guard let secret = flag ?? value("JWT_SECRET") else {
            throw ValidationError("JWT_SECRET is required (at least 32 bytes)")
        }
        let bytes = Array(secret.utf8)
        guard bytes.count >= 32 else { throw ValidationError("JWT_SECRET must be at least 32 bytes, got \(bytes.count)") }
        return bytes
    }

    /// The nearest `lua/` above the executable (the checkout's, for `.build/<config>/carthub`), else `./lua`.
    static func luaDirectory(_ flag: String?) -> String {
        if let dir = flag ?? value("CARTHUB_LUA_DIR") { return dir }
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = folder.appendingPathComponent("lua")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("cart.lua").path) { return candidate.path }
            folder.deleteLastPathComponent()
        }
        return "lua"
    }
}
