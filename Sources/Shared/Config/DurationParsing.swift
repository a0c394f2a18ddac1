// Parsing and formatting of the duration and byte-size syntax used by the fleet file.
//
// Durations: an unsigned decimal number (optionally with a fraction) directly followed by a
// unit, `ms`, `s`, `m` or `h`: `250ms`, `30s`, `1.5s`, `5m`, `1h`. Combinations like `1m30s`
// are not accepted.
// Sizes: an unsigned integer, optionally followed by `B`, a decimal unit (`KB`, `MB`, `GB`,
// `TB`, powers of 1000) or a binary unit (`KiB`, `MiB`, `GiB`, `TiB`, powers of 1024).

/// Parses `250ms`, `30s`, `1.5s`, `5m` or `1h` (surrounding whitespace is ignored).
/// Returns nil for anything else, including negative values, a missing unit and overflow.
public func parseDuration(_ s: String) -> Duration? {
    let text = s.trimmingASCIIWhitespace()
    let units: [(suffix: String, nanoseconds: Int64)] = [
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ]
    for unit in units where text.hasSuffix(unit.suffix) {
        let number = String(text.dropLast(unit.suffix.count))
        // "5ms" also ends with "s"; the number part must then be all digits, so "5m" + "s" fails below.
        guard let nanoseconds = scaledDecimal(number, by: unit.nanoseconds) else { continue }
        return .nanoseconds(nanoseconds)
    }
    return nil
}

/// Parses `512KiB`, `10MiB`, `1GiB`, `10MB`, `100B` or a plain integer number of bytes.
/// Returns nil for anything else, including negative values, fractions and overflow.
public func parseByteSize(_ s: String) -> Int? {
    let text = s.trimmingASCIIWhitespace()
    let units: [(suffix: String, factor: Int)] = [
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
        ("B", 1),
    ]
    var number = Substring(text)
    var factor = 1
    for unit in units where text.hasSuffix(unit.suffix) {
        number = text.dropLast(unit.suffix.count)
        factor = unit.factor
        break
    }
    guard !number.isEmpty, number.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
          let value = Int(number) else { return nil }
    let (product, overflow) = value.multipliedReportingOverflow(by: factor)
    return overflow ? nil : product
}

/// Formats a duration compactly in the syntax `parseDuration` reads: the largest unit that
/// represents it exactly (`1h`, `5m`, `30s`, `250ms`), or fractional milliseconds (`0.5ms`).
public func formatDuration(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    let negative = seconds < 0 || attoseconds < 0
    let magnitude = negative ? Duration.zero - duration : duration
    let (s, atto) = magnitude.components
    let sign = negative ? "-" : ""
    if atto == 0 {
        if s == 0 { return "0s" }
        if s % 3600 == 0 { return "\(sign)\(s / 3600)h" }
        if s % 60 == 0 { return "\(sign)\(s / 60)m" }
        return "\(sign)\(s)s"
    }
    let attoPerMilli: Int64 = 1_000_000_000_000_000
    if atto % attoPerMilli == 0 {
        return "\(sign)\(s * 1000 + atto / attoPerMilli)ms"
    }
    // Below millisecond precision: milliseconds with a fraction (nanosecond resolution).
    let totalNanos = s * 1_000_000_000 + atto / 1_000_000_000
    let whole = totalNanos / 1_000_000
    var fraction = String(totalNanos % 1_000_000)
    fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
    while fraction.hasSuffix("0") { fraction.removeLast() }
    return fraction.isEmpty ? "\(sign)\(whole)ms" : "\(sign)\(whole).\(fraction)ms"
}

/// Formats a byte count with the largest binary unit that represents it exactly
/// (`10MiB`, `512KiB`), or as plain bytes.
public func formatByteSize(_ bytes: Int) -> String {
    guard bytes != 0 else { return "0" }
    for (suffix, factor) in [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
    where bytes % factor == 0 {
        return "\(bytes / factor)\(suffix)"
    }
    return "\(bytes)"
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The duration in whole milliseconds (truncated), as used in JSON encodings.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// The compact form written by `formatDuration`, e.g. `"250ms"` or `"30s"`.
    public var compactDescription: String { formatDuration(self) }
}

/// `digits[.digits]` times `scale`, exactly, in integer arithmetic; nil on bad syntax or overflow.
private func scaledDecimal(_ text: String, by scale: Int64) -> Int64? {
    let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    let isDigits = { (part: Substring) in part.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
    guard let integerPart = parts.first, !integerPart.isEmpty, isDigits(integerPart),
          let whole = Int64(integerPart) else { return nil }
    var (total, overflow) = whole.multipliedReportingOverflow(by: scale)
    guard !overflow else { return nil }
    if parts.count == 2 {
        let fractionPart = parts[1]
        guard !fractionPart.isEmpty, isDigits(fractionPart) else { return nil }
        // Add digit by digit: digit * scale / 10^position, dropping what is below 1ns.
        var divisor: Int64 = 1
        for digit in fractionPart.utf8 {
            guard divisor <= scale else { break }
            divisor *= 10
            let add = Int64(digit - 0x30) * scale / divisor
            (total, overflow) = total.addingReportingOverflow(add)
            guard !overflow else { return nil }
        }
    }
    return total
}

extension String {
    fileprivate func trimmingASCIIWhitespace() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
