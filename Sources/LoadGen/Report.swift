import Foundation
import Histogram
import Synchronization

/// A latency distribution in microseconds (HdrHistogram, 3 significant digits, up to 1 hour).
struct LatencyRecorder: Sendable {
    private var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three
    )

    var count: UInt64 { histogram.totalCount }

    mutating func record(micros: UInt64) {
        _ = histogram.record(min(max(micros, 1), 3_600_000_000))
    }

    mutating func merge(_ other: LatencyRecorder) {
        histogram.add(other.histogram)
    }

    func percentile(_ p: Double) -> UInt64 { histogram.valueAtPercentile(p) }

    var summary: LatencySummary {
        guard histogram.totalCount > 0 else { return LatencySummary() }
        return LatencySummary(
            count: histogram.totalCount,
            min: histogram.min, p50: histogram.valueAtPercentile(50), p90: histogram.valueAtPercentile(90),
            p99: histogram.valueAtPercentile(99), p999: histogram.valueAtPercentile(99.9),
            max: histogram.max, mean: (histogram.mean * 10).rounded() / 10
        )
    }

    /// Counts per power-of-two bucket: `[[upper_bound_us, count], …]`, empty buckets left out.
    var buckets: [[UInt64]] {
        guard histogram.totalCount > 0 else { return [] }
        var rows: [[UInt64]] = []
        var upper: UInt64 = 1
        var below: UInt64 = 0
        while below < histogram.totalCount {
            let count = histogram.count(within: 0...upper)
            if count > below { rows.append([upper, count - below]) }
            below = count
            upper *= 2
        }
        return rows
    }
}

/// Percentiles of one distribution, all in microseconds.
struct LatencySummary: Codable, Sendable {
    var count: UInt64 = 0
    var min: UInt64 = 0
    var p50: UInt64 = 0
    var p90: UInt64 = 0
    var p99: UInt64 = 0
    var p999: UInt64 = 0
    var max: UInt64 = 0
    var mean: Double = 0
}

/// Outcome counts by key (`ok`, `refused`, `http_500`…).
struct OutcomeCounts: Sendable {
    private(set) var counts: [String: Int] = [:]

    mutating func add(_ outcome: Outcome, _ n: Int = 1) { counts[outcome.key, default: 0] += n }
    mutating func merge(_ other: OutcomeCounts) { counts.merge(other.counts, uniquingKeysWith: +) }
    var total: Int { counts.values.reduce(0, +) }
    var ok: Int { counts["ok"] ?? 0 }
    var errors: [String: Int] { counts.filter { $0.key != "ok" } }
}

/// Writes the one machine-readable line (stdout) and the human line (stderr).
enum Output {
    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    static func emit<T: Encodable>(_ value: T) {
        FileHandle.standardOutput.write(Data((json(value) + "\n").utf8))
    }

    static func human(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static func rounded(_ value: Double, _ places: Double = 3) -> Double {
        let scale = pow(10, places)
        return (value * scale).rounded() / scale
    }

    static func ms(_ micros: UInt64) -> String {
        String(format: "%.2fms", Double(micros) / 1000)
    }
}

/// A lock-protected value shared by child tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
