/// A point in time on the monotonic clock; nil means "never".
struct Deadline {
    private let instant: ContinuousClock.Instant?

    /// A non-finite or absurdly large `seconds` waits forever; a negative one has already passed.
    init(seconds: Double) {
        if seconds.isFinite, seconds < 1e9 {
            instant = .now + .milliseconds(Int64((max(seconds, 0) * 1000).rounded(.up)))
        } else {
            instant = nil
        }
    }

    /// Milliseconds left, for poll(2); -1 waits forever. Rounded up so that a
    /// poll timing out means the deadline really has passed.
    var pollTimeout: Int32 {
        guard let instant else { return -1 }
        let left = ContinuousClock.now.duration(to: instant)
        guard left > .zero else { return 0 }
        return Int32(min((left / .milliseconds(1)).rounded(.up), Double(Int32.max)))
    }

    var hasPassed: Bool {
        guard let instant else { return false }
        return ContinuousClock.now >= instant
    }

    func capped(atSeconds seconds: Double) -> Deadline {
        let other = Deadline(seconds: seconds)
        guard let mine = instant else { return other }
        guard let theirs = other.instant else { return self }
        return mine < theirs ? self : other
    }
}
