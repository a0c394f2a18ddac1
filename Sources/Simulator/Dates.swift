import Foundation

/// ISO 8601 dates as the simulator writes (`2025-01-02T00:00:00Z`) and reads them.
enum ISODate {
    static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }

    static func parse(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
    }

    /// The next midnight UTC after `now`: when a quota without its own `until` resets.
    static func nextMidnightUTC(after now: Date) -> Date {
        let day = 86_400.0
        return Date(timeIntervalSince1970: (floor(now.timeIntervalSince1970 / day) + 1) * day)
    }
}
