/// RFC 3339 UTC timestamps with milliseconds, without Foundation's formatter cost.
public enum Timestamp {
    /// `1700000000123` → `2023-11-14T22:13:20.123Z`.
    public static func iso8601(milliseconds ms: Int64) -> String {
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let millis = ms - seconds * 1000
        var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secOfDay = seconds - days * 86_400
        // Howard Hinnant's civil_from_days.
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        // Every change stamps one: written in place, without a string per field. The year
        // is four digits for any time a clock gives, and as long as it needs otherwise.
        let yearText = pad(year, 4).utf8
        return String(unsafeUninitializedCapacity: yearText.count + 20) { out in
            var at = out.initialize(from: yearText).1
            func put(_ separator: UInt8, _ value: Int64, _ width: Int) {
                out[at] = separator
                var v = value
                for i in stride(from: width, through: 1, by: -1) {
                    out[at + i] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
                at += width + 1
            }
            put(UInt8(ascii: "-"), month, 2)
            put(UInt8(ascii: "-"), day, 2)
            put(UInt8(ascii: "T"), secOfDay / 3600, 2)
            put(UInt8(ascii: ":"), secOfDay / 60 % 60, 2)
            put(UInt8(ascii: ":"), secOfDay % 60, 2)
            put(UInt8(ascii: "."), millis, 3)
            out[at] = UInt8(ascii: "Z")
            return at + 1
        }
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
