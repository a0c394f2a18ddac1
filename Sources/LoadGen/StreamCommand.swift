import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1


/// `stream`: N streamed (SSE) requests, C at a time; records for each the arrival of the
/// response head, of every `data:` event, and of the end.
struct StreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "SSE timing: time to first byte and first event, total time, every event's arrival and the gaps between events."
    )

    @OptionGroup var request: RequestOptions

    @Option(help: "Requests to send.")
    var requests = 10

    @Option(help: "Requests in flight at once (each on its own keep-alive connection).")
    var concurrency = 1

    @Option(help: "Seconds before a request counts as timed out.")
    var timeout: Double = 120

    @Option(help: "Count only `data:` events whose payload contains this text (default: every event).")
    var match: String?

    @Option(help: "Skip `data:` events whose payload contains this text.")
    var exclude: String?

    @Option(name: .customLong("samples-file"), help: "Write every request's timings as JSON lines here.")
    var samplesFile: String?

    func validate() throws {
        if requests < 1 || concurrency < 1 { throw ValidationError("--requests and --concurrency must be at least 1") }
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
    }

    /// One streamed request; times are microseconds from the moment it was sent.
    struct Sample: Codable, Sendable {
        /// Unix time the request was sent (events_us are relative to it).
        var start_unix: Double = 0
        var outcome: String
        var head_us: UInt64?
        var first_event_us: UInt64?
        var total_us: UInt64
        /// Arrival of every counted event.
        var events_us: [UInt64]
        /// Every `data:` line, counted or not.
        var data_lines: Int
    }

    struct Result: Encodable {
        var mode = "stream"
        var url: String
        var requests: Int
        var concurrency: Int
        var ok: Int
        var errors: [String: Int]
        var events_per_request: [Int]
        var ttfb_us: LatencySummary
        var first_event_us: LatencySummary
        var total_us: LatencySummary
        var gap_us: LatencySummary
        var gap_buckets_us: [[UInt64]]
        /// Per event index: the median arrival time over the successful requests.
        var offsets_us_median: [UInt64]
    }

    func run() async throws {
        let prepared = try request.prepare()
        let connector = Connector(target: prepared.target, connectTimeout: request.connectTimeoutAmount)
        let filter = EventFilter(match: match, exclude: exclude)
        let timeoutAmount = TimeAmount.nanoseconds(Int64(timeout * 1e9))
        let next = Ticket()
        let base = TimeBase()
        let total = requests

        let samples = await withTaskGroup(of: [Sample].self) { group in
            for _ in 0..<min(concurrency, requests) {
                group.addTask {
                    var mine: [Sample] = []
                    await Lane(connector: connector).run(
                        take: { next.take() < total },
                        connectFailed: { outcome, start, end in
                            mine.append(Sample(
                                start_unix: base.unix(start), outcome: outcome.key, total_us: Clock.micros(from: start, to: end), events_us: [], data_lines: 0))
                        },
                        send: { iterator, outbound, channel, start in
                            let (sample, reusable) = await Self.streamOnce(
                                prepared, iterator: &iterator, outbound: outbound, channel: channel, start: start,
                                timeout: timeoutAmount, filter: filter, base: base)
                            mine.append(sample)
                            return reusable
                        }
                    )
                    return mine
                }
            }
            var all: [Sample] = []
            for await part in group { all += part }
            return all
        }
        if let samplesFile {
            let lines = samples.map { Output.json($0) }.joined(separator: "\n") + "\n"
            _ = FileManager.default.createFile(atPath: samplesFile, contents: Data(lines.utf8))
        }
        let result = Self.summarize(samples, url: request.url, concurrency: concurrency)
        Output.emit(result)
        Output.human(
            "stream: \(result.ok)/\(result.requests) ok, first event p50 \(Output.ms(result.first_event_us.p50)), total p50 \(Output.ms(result.total_us.p50)), gap p50 \(Output.ms(result.gap_us.p50)) p99 \(Output.ms(result.gap_us.p99)) max \(Output.ms(result.gap_us.max))"
        )
    }

    /// One streamed exchange; event times are taken when the chunk completing the event arrives.
    static func streamOnce(
        _ request: PreparedRequest, iterator: inout ResponseIterator,
        outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>, channel: any Channel, start: UInt64,
        timeout: TimeAmount, filter: EventFilter, base: TimeBase
    ) async -> (Sample, Bool) {
        var events: [UInt64] = []
        var lines = 0
        var scanner = SSEScanner()
        let result = await exchange(
            request, iterator: &iterator, outbound: outbound, channel: channel, timeout: timeout,
            onBody: { buffer, at in
                scanner.feed(buffer) { payload in
                    lines += 1
                    if filter.counts(payload) { events.append(Clock.micros(from: start, to: at)) }
                }
            })
        let sample = Sample(
            start_unix: base.unix(start), outcome: result.outcome.key, head_us: result.headAt.map { Clock.micros(from: start, to: $0) },
            first_event_us: events.first, total_us: Clock.micros(from: start, to: result.endAt), events_us: events,
            data_lines: lines)
        return (sample, result.reusable)
    }

    static func summarize(_ samples: [Sample], url: String, concurrency: Int) -> Result {
        var outcomes: [String: Int] = [:]
        var head = LatencyRecorder()
        var first = LatencyRecorder()
        var total = LatencyRecorder()
        var gaps = LatencyRecorder()
        var counts: [Int] = []
        let ok = samples.filter { $0.outcome == "ok" }
        for sample in samples { outcomes[sample.outcome, default: 0] += 1 }
        for sample in ok {
            if let h = sample.head_us { head.record(micros: h) }
            if let f = sample.first_event_us { first.record(micros: f) }
            total.record(micros: sample.total_us)
            counts.append(sample.events_us.count)
            for (a, b) in zip(sample.events_us, sample.events_us.dropFirst()) { gaps.record(micros: b - a) }
        }
        let longest = counts.max() ?? 0
        var medians: [UInt64] = []
        for index in 0..<longest {
            let column = ok.compactMap { $0.events_us.count > index ? $0.events_us[index] : nil }.sorted()
            medians.append(column[column.count / 2])
        }
        return Result(
            url: url, requests: samples.count, concurrency: concurrency, ok: ok.count,
            errors: outcomes.filter { $0.key != "ok" }, events_per_request: [counts.min() ?? 0, counts.max() ?? 0],
            ttfb_us: head.summary, first_event_us: first.summary, total_us: total.summary, gap_us: gaps.summary,
            gap_buckets_us: gaps.buckets, offsets_us_median: medians
        )
    }
}

/// Which `data:` payloads count as events.
struct EventFilter: Sendable {
    var match: String?
    var exclude: String?

    func counts(_ payload: String) -> Bool {
        if let match, !payload.contains(match) { return false }
        if let exclude, payload.contains(exclude) { return false }
        return true
    }
}
