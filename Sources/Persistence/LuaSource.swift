import Foundation

/// Reads the Redis scripts from the scripts folder (`CARTHUB_LUA_DIR`).
public enum LuaSource {
    /// What is sent in front of a script, in this order, as one source (Redis scripts
    /// cannot load modules): outcomes.lua remembers request outcomes, commit.lua commits a
    /// change a hub computed (and returns before the rest is even set up), cartlib.lua
    /// writes lines, snapshots, events and jobs as both cart.lua and catalog.lua do.
    static let libraries = [
        "cart.lua": ["outcomes.lua", "commit.lua", "cartlib.lua"],
        "catalog.lua": ["cartlib.lua"],
    ]

    /// The script `name` preceded by its libraries, as one source.
    public static func read(_ name: String, directory: String) throws -> String {
        try (libraries[name, default: []] + [name]).map { file in
            let path = directory + "/" + file
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw PersistenceError("cannot read the Redis script \(path)")
            }
            return text
        }.joined(separator: "\n")
    }
}
