import Postgres

/// What the mail queue may do with a message it is about to send.
public enum MailSendStart: Sendable, Equatable {
    /// Recorded as `sending` by this worker: send it. `failures` counts earlier failures.
    case send(attempts: Int, failures: Int)
    /// The server took it already: acknowledge the job, send nothing.
    case alreadySent
    /// Another worker recorded `sending` within the sending lease: leave it for now.
    case busyElsewhere
}

/// The `mail_sends` table: the state of every mail by Message-ID.
public enum MailStore {
    /// Records `sending` before the SMTP transaction. A row in `sending` by another
    /// worker is taken over only once `leaseSeconds` have passed (that worker died or
    /// hung), so two live workers never send the same message at once.
    public static func begin(_ c: PostgresConnection, messageId: String, kind: String, recipient: String, worker: String, leaseSeconds: Double) throws -> MailSendStart {
        let row = try c.query("""
            insert into mail_sends (message_id, kind, recipient, state, attempts, sending_by, sending_at)
            values ($1, $2, $3, 'sending', 1, $4, now())
            on conflict (message_id) do update set
                state = 'sending', attempts = mail_sends.attempts + 1, sending_by = excluded.sending_by, sending_at = now()
            where mail_sends.state <> 'sent'
              and (mail_sends.state <> 'sending' or mail_sends.sending_by = excluded.sending_by
                   or mail_sends.sending_at < now() - make_interval(secs => $5::double precision))
            returning attempts, failures
            """, [messageId, kind, recipient, worker, String(leaseSeconds)]).rows.first
        if let row { return .send(attempts: Int(row[0] ?? "") ?? 1, failures: Int(row[1] ?? "") ?? 0) }
        let state = try c.query("select state from mail_sends where message_id = $1", [messageId]).rows.first?.first ?? nil
        return state == "sent" ? .alreadySent : .busyElsewhere
    }

    /// The server accepted the message.
    public static func sent(_ c: PostgresConnection, messageId: String) throws {
        try c.query("update mail_sends set state = 'sent', sent_at = now(), last_error = null where message_id = $1", [messageId])
    }

    /// A try failed; `counts` when it counts towards parking. Returns the failures so far.
    public static func failed(_ c: PostgresConnection, messageId: String, error: String, counts: Bool) throws -> Int {
        let row = try c.query("""
            update mail_sends set state = 'failed', last_error = $2, failures = failures + $3::int
            where message_id = $1 and state <> 'sent' returning failures
            """, [messageId, String(error.prefix(1000)), counts ? "1" : "0"]).rows.first
        return Int(row?[0] ?? "") ?? 0
    }

    public static func parked(_ c: PostgresConnection, messageId: String, error: String) throws {
        try c.query("update mail_sends set state = 'parked', last_error = $2 where message_id = $1 and state <> 'sent'",
                    [messageId, String(error.prefix(1000))])
    }

    /// A parked mail put back on the queue starts counting failures afresh.
    public static func resetFailures(_ c: PostgresConnection, messageId: String) throws {
        try c.query("update mail_sends set failures = 0, state = 'failed' where message_id = $1 and state <> 'sent'", [messageId])
    }

    /// Mails per state, for `carthub mail status`.
    public static func counts(_ c: PostgresConnection) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try c.query("select state, count(*) from mail_sends group by state").rows {
            if let state = row[0], let n = row[1].flatMap({ Int($0) }) { counts[state] = n }
        }
        return counts
    }
}

/// A cart idle long enough for a reminder, with whom to write to.
public struct AbandonedCart: Sendable, Equatable {
    public var userId: String
    public var epoch: Int64
    public var version: Int64
    public var email: String
    public var name: String
}

/// The abandoned-cart reminders: which carts qualify, and the one reminder per
/// (user, epoch, version) in `cart_reminders`.
public enum ReminderStore {
    /// Non-empty carts last changed at or before `cutoffMs`, of users with marketing mail
    /// on, not yet reminded at their current (epoch, version); in user id order after
    /// `afterUser`, at most `limit`.
    public static func abandonedCarts(_ c: PostgresConnection, cutoffMs: Int64, afterUser: String, limit: Int) throws -> [AbandonedCart] {
        try c.query("""
            select c.user_id, c.epoch, c.version, u.email, u.name
            from carts c join users u on u.id = c.user_id
            where c.updated_at <= to_timestamp($1::bigint / 1000.0)
              and u.marketing_emails
              and c.user_id > $2
              and exists (select 1 from cart_items i where i.user_id = c.user_id)
              and not exists (select 1 from cart_reminders r
                              where r.user_id = c.user_id and r.epoch = c.epoch and r.version = c.version)
            order by c.user_id
            limit $3
            """, [String(cutoffMs), afterUser, String(limit)]).rows.map { row in
            AbandonedCart(userId: row[0] ?? "", epoch: Int64(row[1] ?? "") ?? 0, version: Int64(row[2] ?? "") ?? 0,
                          email: row[3] ?? "", name: row[4] ?? "")
        }
    }

    /// Records the reminder of this abandonment; false when it exists already.
    public static func record(_ c: PostgresConnection, userId: String, epoch: Int64, version: Int64, messageId: String) throws -> Bool {
        try c.query("""
            insert into cart_reminders (user_id, epoch, version, message_id) values ($1, $2, $3, $4)
            on conflict do nothing
            """, [userId, String(epoch), String(version), messageId]).affectedRows == 1
    }
}
