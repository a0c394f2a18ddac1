import Foundation

// Tolerant readers for upstream JSON: public clients of JetBrains AI disagree on whether
// amounts, indexes and times are numbers or strings, so every field the worker reads accepts
// either, and a field of a shape nobody expected reads as absent instead of failing the answer.

extension KeyedDecodingContainer {
    /// A string, or a number/bool rendered as text; nil when absent, null or of another shape.
    func lenientString(_ key: Key) -> String? {
        guard contains(key), (try? decodeNil(forKey: key)) == false else { return nil }
        if let s = try? decode(String.self, forKey: key) { return s }
        if let i = try? decode(Int64.self, forKey: key) { return String(i) }
        if let d = try? decode(Double.self, forKey: key) { return formatAmount(d) }
        if let b = try? decode(Bool.self, forKey: key) { return String(b) }
        return nil
    }

    /// An integer sent as a number (`1`, `1.0`) or a string (`"1"`).
    func lenientInt(_ key: Key) -> Int? {
        guard contains(key), (try? decodeNil(forKey: key)) == false else { return nil }
        if let i = try? decode(Int.self, forKey: key) { return i }
        if let d = try? decode(Double.self, forKey: key), d.isFinite, d == d.rounded(), abs(d) < 1e15 { return Int(d) }
        if let s = try? decode(String.self, forKey: key) { return Int(s.trimmingCharacters(in: .whitespaces)) }
        return nil
    }

    /// A point in time: epoch milliseconds (or seconds) as a number or numeric string, or an
    /// ISO 8601 string. See `parseInstant`.
    func lenientInstant(_ key: Key) -> UpstreamInstant? {
        guard contains(key), (try? decodeNil(forKey: key)) == false else { return nil }
        if let d = try? decode(Double.self, forKey: key) { return UpstreamInstant(epoch: d) }
        if let s = try? decode(String.self, forKey: key) { return UpstreamInstant(text: s) }
        return nil
    }

    /// A nested object decoded leniently; nil when absent or of another shape.
    func lenient<T: Decodable>(_ type: T.Type, _ key: Key) -> T? {
        guard contains(key) else { return nil }
        return try? decodeIfPresent(T.self, forKey: key)
    }
}

/// A time the upstream reported, kept both as a date (when it could be read) and as the text
/// the worker reports onwards (ISO 8601 when the date is known, the raw text otherwise).
struct UpstreamInstant: Sendable, Equatable {
    var date: Date?
    var text: String

    /// Epoch milliseconds, as JetBrains' own client reads it. A value too small to be
    /// milliseconds after 1973 (< 1e11) is taken as seconds: a hedge, nobody has seen it.
    /// A time that cannot be one (NaN, infinite, before 1970 or after 9999, e.g. `"nan"` or
    /// `1e300`) is unreadable: a JWT told to wait for it would never come back.
    init(epoch value: Double) {
        let seconds = abs(value) >= 1e11 ? value / 1000 : value
        guard seconds.isFinite, (0...Self.latest).contains(seconds) else {
            self.init(date: nil, text: formatAmount(value))
            return
        }
        let date = Date(timeIntervalSince1970: seconds)
        self.init(date: date, text: formatISODate(date))
    }

    /// 9999-12-31T23:59:59Z, the last time ISO 8601's four-digit years can write.
    static let latest: TimeInterval = 253_402_300_799

    init(text raw: String) {
        let trimmed = raw.trimmingCharacters(in: .whitespaces)
        if let number = Double(trimmed) {
            self.init(epoch: number)
        } else if let date = parseDate(trimmed) {
            self.init(date: date, text: formatISODate(date))
        } else {
            self.init(date: nil, text: raw)
        }
    }

    init(date: Date?, text: String) {
        self.date = date
        self.text = text
    }
}

/// `1000.0` → `"1000"`, `12.5` → `"12.5"`.
func formatAmount(_ value: Double) -> String {
    if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String(value)
}

/// Sendable value formats, made once: an `ISO8601DateFormatter` per call cost more than the
/// rest of an answer's decoding (it is built for every quota event of every answer).
private let isoWhole = Date.ISO8601FormatStyle()
private let isoFractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

/// Parses the ISO 8601 dates the upstream uses (with or without fractional seconds).
func parseDate(_ text: String) -> Date? {
    if let d = try? isoWhole.parse(text) { return d }
    return try? isoFractional.parse(text)
}

func formatISODate(_ date: Date) -> String {
    isoWhole.format(date)
}

/// A dynamic coding key, for reading objects whose keys are not known in advance.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
