import ArgumentParser
import NIOCore

/// `closed`: C virtual users, each on its own keep-alive connection, sending the next request
/// as soon as the previous answer is complete, for S seconds.
struct ClosedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "closed",
        abstract: "Closed-loop load: requests/s, latency percentiles (µs), errors by kind."
    )

    @OptionGroup var request: RequestOptions

    @Option(help: "Virtual users, each with one connection.")
    var concurrency = 1

    @Option(help: "Seconds of measured load.")
    var duration: Double = 10

    @Option(help: "Seconds of unmeasured load before the measurement.")
    var warmup: Double = 0

    @Option(help: "Seconds before a request counts as timed out.")
    var timeout: Double = 30

    func validate() throws {
        if concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if duration <= 0 { throw ValidationError("--duration must be positive") }
        if warmup < 0 || timeout <= 0 { throw ValidationError("--warmup must be >= 0 and --timeout > 0") }
    }

    struct Result: Encodable {
        var mode = "closed"
        var url: String
        var concurrency: Int
        var duration_s: Double
        var requests: Int
        var ok: Int
        var rps: Double
        var ok_rps: Double
        var latency_us: LatencySummary
        var errors: [String: Int]
        var connections: Int
    }

    /// What one virtual user saw.
    struct UserStats: Sendable {
        var latency = LatencyRecorder()
        var outcomes = OutcomeCounts()
        var connections = 0

        mutating func merge(_ other: UserStats) {
            latency.merge(other.latency)
            outcomes.merge(other.outcomes)
            connections += other.connections
        }
    }

    func run() async throws {
        let prepared = try request.prepare()
        let connector = Connector(target: prepared.target, connectTimeout: request.connectTimeoutAmount)
        let timeoutAmount = TimeAmount.nanoseconds(Int64(timeout * 1e9))
        let start = Clock.nanos()
        let measureFrom = start + UInt64(warmup * 1e9)
        let stopAt = measureFrom + UInt64(duration * 1e9)

        let total = await withTaskGroup(of: UserStats.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    await Self.virtualUser(
                        prepared, connector: connector, timeout: timeoutAmount, measureFrom: measureFrom, stopAt: stopAt)
                }
            }
            var total = UserStats()
            for await stats in group { total.merge(stats) }
            return total
        }
        let elapsed = Double(Clock.nanos() - measureFrom) / 1e9
        let requests = total.outcomes.total
        let result = Result(
            url: request.url, concurrency: concurrency, duration_s: Output.rounded(elapsed),
            requests: requests, ok: total.outcomes.ok,
            rps: Output.rounded(Double(requests) / elapsed, 1), ok_rps: Output.rounded(Double(total.outcomes.ok) / elapsed, 1),
            latency_us: total.latency.summary, errors: total.outcomes.errors, connections: total.connections
        )
        Output.emit(result)
        let s = result.latency_us
        Output.human(
            "closed c=\(concurrency): \(result.rps) req/s, p50 \(Output.ms(s.p50)) p99 \(Output.ms(s.p99)) max \(Output.ms(s.max)), errors \(result.errors)"
        )
    }

    /// Sends requests back to back until `stopAt`, reconnecting after a failure or a
    /// `Connection: close`. Only requests started at or after `measureFrom` are recorded.
    static func virtualUser(
        _ request: PreparedRequest, connector: Connector, timeout: TimeAmount, measureFrom: UInt64, stopAt: UInt64
    ) async -> UserStats {
        var stats = UserStats()
        func record(_ outcome: Outcome, start: UInt64, end: UInt64) {
            guard start >= measureFrom else { return }
            stats.outcomes.add(outcome)
            if outcome.isSuccess { stats.latency.record(micros: Clock.micros(from: start, to: end)) }
        }
        stats.connections = await Lane(connector: connector).run(
            take: { Clock.nanos() < stopAt },
            connectFailed: { outcome, start, end in record(outcome, start: start, end: end) },
            send: { iterator, outbound, channel, start in
                let result = await exchange(request, iterator: &iterator, outbound: outbound, channel: channel, timeout: timeout)
                record(result.outcome, start: start, end: result.endAt)
                return result.reusable
            }
        )
        return stats
    }
}
