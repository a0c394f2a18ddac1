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

    private static let timeStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    func line(_ e: Entry) -> String {
        let time = e.time.formatted(Self.timeStyle)
        let ms = Self.milliseconds(e.duration)
        let ttfb = Self.milliseconds(e.firstByte)
        switch format {
        case .text:
            return "access time=\(time) tenant=\(tenant) api=\(e.api) model=\(Self.quoted(e.model)) status=\(e.status) "
                + "duration_ms=\(ms) ttfb_ms=\(ttfb) attempts=\(e.attempts) token=\(Self.quoted(e.token ?? "-")) "
                + "key=\(Self.quoted(e.key ?? "-"))"
        case .json:
            var object: [String: JSONValue] = [
                "time": .string(time), "tenant": .string(tenant), "api": .string(e.api), "model": .string(e.model),
                "status": .number(Double(e.status)), "duration_ms": .number(ms), "ttfb_ms": .number(ttfb),
                "attempts": .number(Double(e.attempts)),
            ]
            object["token"] = e.token.map { .string($0) } ?? .null
            object["key"] = e.key.map { .string($0) } ?? .null
            return JSONValue.object(object).jsonText
        }
    }

    func emit(_ entry: Entry) {
        let bytes = Array((line(entry) + "\n").utf8)
        // One write(2) per line: lines from concurrent requests never interleave.
        bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    /// Milliseconds with one decimal.
    static func milliseconds(_ d: Duration) -> Double {
        (d.seconds * 10_000).rounded() / 10
    }

    /// A value as is, or in quotes when it has spaces, quotes or `=` (models and names may).
    static func quoted(_ value: String) -> String {
        guard value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
