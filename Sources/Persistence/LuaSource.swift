import Foundation

/// Reads the Redis scripts from the scripts folder (`CARTHUB_LUA_DIR`).
public enum LuaSource {
    /// Code cart.lua and catalog.lua share; sent in front of each (Redis scripts cannot load modules).
    public static let cartLibrary = "cartlib.lua"

    /// The script `name`; with `cartLibrary`, that file followed by the script, as one source.
    public static func read(_ name: String, directory: String, withCartLibrary: Bool = false) throws -> String {
        let names = withCartLibrary ? [cartLibrary, name] : [name]
        return try names.map { file in
            let path = directory + "/" + file
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw PersistenceError("cannot read the Redis script \(path)")
            }
            return text
        }.joined(separator: "\n")
    }
}
