import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The worker's access log: one line per API request on stderr (the supervisor's tenant log),
/// as `key=value` text or one JSON object (`log_format: text|json`). Never a secret: the JWT by
/// its name, the client key by its fingerprint.
struct AccessLog: Sendable {
    var format: LogFormat
    var tenant: String

    struct Entry: Sendable, Equatable {
        var time: Date
        var api: String
        var model: String
        var status: UInt
        var duration: Duration
        var firstByte: Duration
        var attempts: Int
        var token: String?
        var key: String?
    }

    func line(_ e: Entry) -> String {
        let time = Self.timestamp(e.time)
        let ms = Self.milliseconds(e.duration)
        let ttfb = Self.milliseconds(e.firstByte)
        switch format {
        case .text:
            return "access time=\(time) tenant=\(tenant) api=\(e.api) model=\(Self.quoted(e.model)) status=\(e.status) "
                + "duration_ms=\(ms) ttfb_ms=\(ttfb) attempts=\(e.attempts) token=\(Self.quoted(e.token ?? "-")) "
                + "key=\(Self.quoted(e.key ?? "-"))"
        case .json:
            // Written by hand (JSONEncoder took ~20 µs a line): one object, keys sorted.
            var out = "{\"api\":"
            JSONText.appendString(e.api, to: &out)
            out += ",\"attempts\":\(e.attempts),\"duration_ms\":\(ms),\"key\":"
            JSONText.appendString(e.key, to: &out)
            out += ",\"model\":"
            JSONText.appendString(e.model, to: &out)
            out += ",\"status\":\(e.status),\"tenant\":"
            JSONText.appendString(tenant, to: &out)
            out += ",\"time\":\"\(time)\",\"token\":"
            JSONText.appendString(e.token, to: &out)
            out += ",\"ttfb_ms\":\(ttfb)}"
            return out
        }
    }

    func emit(_ entry: Entry, to fd: Int32 = 2) {
        var text = line(entry)
        text.append("\n")
        // One write(2) per line: lines from concurrent requests never interleave.
        text.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
    }

    /// UTC, ISO 8601 with milliseconds (`2026-12-01T14:27:53.123Z`), what
    /// `Date.ISO8601FormatStyle(includingFractionalSeconds: true)` writes, at a tenth of its cost.
    static func timestamp(_ date: Date) -> String {
        let since1970 = date.timeIntervalSince1970
        var seconds = time_t(since1970.rounded(.down))
        var millis = Int(((since1970 - Double(seconds)) * 1000).rounded(.down))
        if millis >= 1000 { seconds += 1; millis -= 1000 }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var out = [UInt8]()
        out.reserveCapacity(24)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var v = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(v / divisor % 10))
                v %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2); out.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2); out.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2); out.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2); out.append(UInt8(ascii: "."))
        digits(millis, 3); out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Milliseconds with one decimal.
    static func milliseconds(_ d: Duration) -> Double {
        (d.seconds * 10_000).rounded() / 10
    }

    /// A value as is, or in quotes when it has spaces, quotes, `=`, backslashes or control
    /// characters (models and names may).
    /// Quoted the JSON way, so a control character (a newline) cannot start a forged line.
    static func quoted(_ value: String) -> String {
        guard value.isEmpty || value.utf8.contains(where: { $0 <= 0x20 || $0 == 0x22 || $0 == 0x3D || $0 == 0x5C })
        else { return value }
        var out = ""
        JSONText.appendString(value, to: &out)
        return out
    }
}
