/// The net effect of a run of applicable jobs on one cart.
public struct CartChangeSet: Sendable, Equatable {
    public var userId: String
    public var version: CartVersion
    public var totalCents: Int64
    public var updatedAtMs: Int64
    /// All lines go before `puts` are written.
    public var clearFirst = false
    /// Each touched book's final line.
    public var puts: [String: CartLineState] = [:]
    public var removes: Set<String> = []

    public init(userId: String, version: CartVersion, totalCents: Int64, updatedAtMs: Int64) {
        self.userId = userId
        self.version = version
        self.totalCents = totalCents
        self.updatedAtMs = updatedAtMs
    }
}

/// What a batch of jobs does to Postgres, decided against the stored versions.
public struct PersistencePlan: Sendable, Equatable {
    public var changes: [CartChangeSet] = []
    /// Carts whose jobs skip ahead of what is stored: copy them whole from Redis.
    public var fullSyncs: Set<String> = []
    public var applied = 0
    public var skipped = 0

    public init() {}
}

public enum PersistencePlanner {
    public enum Decision: Sendable, Equatable { case apply, skip, gap }

    /// A job applies only right after the stored version; an older or equal one is a
    /// duplicate; a newer one leaves a hole that only a full copy can fill. A new
    /// epoch starts at version 1 on top of the state it was rebuilt from.
    public static func decide(stored: CartVersion?, job: CartVersion) -> Decision {
        guard let stored else { return job.version == 1 ? .apply : .gap }
        if job.epoch < stored.epoch { return .skip }
        if job.epoch > stored.epoch { return job.version == 1 ? .apply : .gap }
        if job.version <= stored.version { return .skip }
        return job.version == stored.version + 1 ? .apply : .gap
    }

    /// Folds jobs (in stream order) into one change set per cart.
    public static func plan(_ jobs: [PersistenceJob], stored: [String: CartVersion]) -> PersistencePlan {
        var plan = PersistencePlan()
        var current = stored
        var index: [String: Int] = [:]
        var appliedByUser: [String: Int] = [:]
        for job in jobs {
            if plan.fullSyncs.contains(job.userId) {
                plan.skipped += 1
                continue
            }
            switch decide(stored: current[job.userId], job: job.version) {
            case .skip:
                plan.skipped += 1
            case .gap:
                plan.fullSyncs.insert(job.userId)
                // The full copy covers what this batch had already folded in for the cart.
                let folded = appliedByUser.removeValue(forKey: job.userId) ?? 0
                plan.applied -= folded
                plan.skipped += 1 + folded
                if let i = index.removeValue(forKey: job.userId) {
                    plan.changes[i].userId = ""
                }
            case .apply:
                plan.applied += 1
                appliedByUser[job.userId, default: 0] += 1
                current[job.userId] = job.version
                let i: Int
                if let existing = index[job.userId] {
                    i = existing
                } else {
                    i = plan.changes.count
                    index[job.userId] = i
                    plan.changes.append(CartChangeSet(userId: job.userId, version: job.version, totalCents: job.totalCents, updatedAtMs: job.updatedAtMs))
                }
                plan.changes[i].version = job.version
                plan.changes[i].totalCents = job.totalCents
                plan.changes[i].updatedAtMs = job.updatedAtMs
                switch job.change {
                case .clear:
                    plan.changes[i].clearFirst = true
                    plan.changes[i].puts = [:]
                    plan.changes[i].removes = []
                case .remove(let book):
                    plan.changes[i].puts[book] = nil
                    plan.changes[i].removes.insert(book)
                case .put(let book, let line):
                    plan.changes[i].removes.remove(book)
                    plan.changes[i].puts[book] = line
                case .several(let puts, let removes):
                    for book in removes {
                        plan.changes[i].puts[book] = nil
                        plan.changes[i].removes.insert(book)
                    }
                    for (book, line) in puts {
                        plan.changes[i].removes.remove(book)
                        plan.changes[i].puts[book] = line
                    }
                }
            }
        }
        // Carts that turned into full syncs left an emptied slot behind.
        plan.changes.removeAll { $0.userId.isEmpty }
        return plan
    }
}
