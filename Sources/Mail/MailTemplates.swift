import CartDomain
import JSON

/// What every template may use besides the job.
public struct MailContext: Sendable {
    /// The web client's address, for the link back (`CARTHUB_PUBLIC_URL`).
    public var publicURL: String
    public init(publicURL: String) { self.publicURL = publicURL }
}

/// Turns a job of one kind into subject, plain text and HTML.
public typealias MailTemplate = @Sendable (MailJob, MailContext) throws -> RenderedMail

/// The templates by job kind. A new kind of mail is one entry here plus one
/// `MailQueue.enqueue` where its event happens.
public enum MailTemplates {
    public static let all: [String: MailTemplate] = {
        var templates: [String: MailTemplate] = [CartReminder.kind: CartReminder.render]
        for kind in OrderMail.kinds.values { templates[kind] = OrderMail.render }
        return templates
    }()

    /// A job of an unknown kind, or with data its template cannot use, fails for good
    /// (it is parked, not retried forever).
    public static func render(_ job: MailJob, context: MailContext) throws -> RenderedMail {
        guard let template = all[job.kind] else { throw MailError("no template for mail kind \"\(job.kind)\"") }
        return try template(job, context)
    }
}

/// Cart and order lines as templates list them: the `lines` array of a job's data.
extension OrderItem {
    /// `{"bookId","title","quantity","unitPriceCents"}`.
    public var mailJSON: JSONValue {
        .object(["bookId": .string(bookId), "title": .string(title), "quantity": .int(quantity), "unitPriceCents": .int(unitPriceCents)])
    }

    static func mailLines(of data: JSONValue) throws -> [OrderItem] {
        guard let items = data["lines"]?.arrayValue else { throw MailError("the mail's data has no lines") }
        return try items.map { item in
            guard let id = item["bookId"]?.stringValue, let title = item["title"]?.stringValue,
                  let quantity = item["quantity"]?.intValue, let price = item["unitPriceCents"]?.intValue
            else { throw MailError("a line of the mail's data is malformed: \(item.encoded)") }
            return OrderItem(bookId: id, title: title, unitPriceCents: price, quantity: quantity)
        }
    }

    /// The data's lines (at least one, else `what` cannot be rendered) and its total
    /// (`totalCents`, or the lines' sum).
    static func mailLinesAndTotal(of data: JSONValue, for what: String) throws -> (lines: [OrderItem], totalCents: Int64) {
        let lines = try mailLines(of: data)
        guard !lines.isEmpty else { throw MailError("\(what) needs at least one line") }
        return (lines, data["totalCents"]?.intValue ?? lines.reduce(0) { $0 + $1.lineTotalCents })
    }
}

/// Shared pieces of the templates.
public enum MailFormat {
    /// 1299 → `12.99`; -5 → `-0.05`.
    public static func money(_ cents: Int64) -> String {
        let sign = cents < 0 ? "-" : ""
        let magnitude = cents.magnitude
        return sign + String(magnitude / 100) + "." + String(magnitude % 100).leftPadded(to: 2)
    }

    /// Text safe inside HTML elements and double-quoted attributes.
    public static func html(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// The lines as plain-text rows: `2 × Title — 12.99 each, 25.98`.
    static func textRows(_ lines: [OrderItem]) -> String {
        lines.map { "  \($0.quantity) × \($0.title) — \(money($0.unitPriceCents)) each, \(money($0.lineTotalCents))" }
            .joined(separator: "\n")
    }

    /// The lines as an HTML table with a total row.
    static func htmlTable(_ lines: [OrderItem], totalCents: Int64) -> String {
        var rows = lines.map { line in
            "<tr><td>\(html(line.title))</td><td align=\"right\">\(line.quantity)</td>"
                + "<td align=\"right\">\(money(line.unitPriceCents))</td><td align=\"right\">\(money(line.lineTotalCents))</td></tr>"
        }
        rows.insert("<tr><th align=\"left\">Book</th><th>Qty</th><th>Price</th><th>Subtotal</th></tr>", at: 0)
        rows.append("<tr><td colspan=\"3\"><strong>Total</strong></td><td align=\"right\"><strong>\(money(totalCents))</strong></td></tr>")
        return "<table cellpadding=\"4\" cellspacing=\"0\" border=\"1\">\n" + rows.joined(separator: "\n") + "\n</table>"
    }

    /// `Hello Ada,`, or `Hello,` without a name.
    static func greeting(_ name: String) -> String { name.isEmpty ? "Hello," : "Hello \(name)," }

    static func htmlDocument(title: String, body: String) -> String {
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>\(html(title))</title></head>\n<body>\n\(body)\n</body></html>\n"
    }
}

/// `cart.reminder`: the cart sat untouched; its lines, the total and a link back.
/// Data: `{"lines":[{bookId,title,quantity,unitPriceCents}],"totalCents":N}`.
public enum CartReminder {
    public static let kind = "cart.reminder"

    public static func data(lines: [OrderItem], totalCents: Int64) -> JSONValue {
        .object(["lines": .array(lines.map(\.mailJSON)), "totalCents": .int(totalCents)])
    }

    @Sendable
    public static func render(_ job: MailJob, _ context: MailContext) throws -> RenderedMail {
        let (lines, total) = try OrderItem.mailLinesAndTotal(of: job.data, for: "a reminder")
        let greeting = MailFormat.greeting(job.name)
        let subject = lines.count == 1 ? "Still thinking about “\(lines[0].title)”?" : "Your cart is waiting: \(lines.count) books"
        let text = """
            \(greeting)

            You left these books in your cart:

            \(MailFormat.textRows(lines))

            Total: \(MailFormat.money(total))

            Pick up where you left off: \(context.publicURL)

            You get this mail because reminders are on for your account. To stop them,
            turn off marketing emails in your account settings.
            """
        let body = """
            <p>\(MailFormat.html(greeting))</p>
            <p>You left these books in your cart:</p>
            \(MailFormat.htmlTable(lines, totalCents: total))
            <p><a href="\(MailFormat.html(context.publicURL))">Pick up where you left off</a></p>
            <p style="color:#666;font-size:small">You get this mail because reminders are on for your account.
            To stop them, turn off marketing emails in your account settings.</p>
            """
        return RenderedMail(subject: subject, text: text, html: MailFormat.htmlDocument(title: subject, body: body))
    }
}
