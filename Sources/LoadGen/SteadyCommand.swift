import ArgumentParser
import Foundation
import NIOCore

/// `steady`: open-loop load at a fixed rate, each request on a fresh connection (so a refused
/// or reset connection shows as such), every request recorded. Given the orchestrator's
/// events (`{"t": unix_ts, "event": "..."}` per line), reports for each event how long until
/// the next successful answer and what failed after it.
struct SteadyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steady",
        abstract: "Open-loop steady load at R req/s; outcomes per request, recovery after external events."
    )

    @OptionGroup var request: RequestOptions

    @Option(help: "Requests started per second (on schedule, whatever the answers do).")
    var rate: Double

    @Option(help: "Seconds of load.")
    var duration: Double

    @Option(help: "Seconds before a request (connect included) counts as timed out.")
    var timeout: Double = 10

    @Option(name: .customLong("events-file"), help: "JSON lines {\"t\": unix_ts, \"event\": \"...\"}, read at the end.")
    var eventsFile: String?

    @Option(name: .customLong("records-file"), help: "Write every request as a JSON line here.")
    var recordsFile: String?

    func validate() throws {
        if rate <= 0 || duration <= 0 || timeout <= 0 { throw ValidationError("--rate, --duration and --timeout must be positive") }
        if rate * duration > 10_000_000 { throw ValidationError("too many requests") }
    }

    /// One request: Unix times of its start and end, how it ended.
    struct Record: Codable, Sendable {
        var start: Double
        var end: Double
        var outcome: String
        var latency_us: UInt64
        /// How late it started against its schedule.
        var lag_us: UInt64
    }

    struct EventLine: Decodable {
        var t: Double
        var event: String
    }

    struct EventReport: Encodable {
        var event: String
        var t: Double
        /// From the event to the end of the first successful answer after it.
        var time_to_next_ok_s: Double?
        /// From the end of the last successful answer before the event to the event.
        var last_ok_before_s: Double?
        /// Requests that ended between this event and the next one, by outcome.
        var outcomes_after: [String: Int]
        var failures_after: Int
        var refused_after: Int
        /// Failures that ended before the first success after the event.
        var failures_until_recovered: Int
        /// The slowest successful answer among requests started after the event and before
        /// the next success plus one second (requests held in a backlog show up here).
        var max_latency_during_recovery_ms: Double?
    }

    struct Result: Encodable {
        var mode = "steady"
        var url: String
        var rate: Double
        var duration_s: Double
        var sent: Int
        var ok: Int
        var counts: [String: Int]
        var latency_us: LatencySummary
        var max_start_lag_ms: Double
        var events: [EventReport]
    }

    func run() async throws {
        let prepared = try request.prepare()
        let connector = Connector(target: prepared.target, connectTimeout: request.connectTimeoutAmount)
        let base = TimeBase()
        let records = Locked<[Record]>([])
        let total = Int((rate * duration).rounded())
        let interval = 1e9 / rate
        let timeoutNanos = UInt64(timeout * 1e9)

        await withDiscardingTaskGroup { group in
            for index in 0..<total {
                let due = base.nanos + UInt64(Double(index) * interval)
                let now = Clock.nanos()
                if due > now { try? await Task.sleep(for: .nanoseconds(Int64(due - now))) }
                group.addTask {
                    let record = await Self.one(prepared, connector: connector, due: due, timeoutNanos: timeoutNanos, base: base)
                    records.withLock { $0.append(record) }
                }
            }
        }

        let all = records.withLock { $0 }.sorted { $0.start < $1.start }
        if let recordsFile {
            let text = all.map { Output.json($0) }.joined(separator: "\n") + "\n"
            _ = FileManager.default.createFile(atPath: recordsFile, contents: Data(text.utf8))
        }
        let events = try eventsFile.map(Self.readEvents) ?? []
        let result = Self.summarize(all, events: events, url: request.url, rate: rate, duration: duration)
        Output.emit(result)
        var line = "steady \(rate)/s: \(result.ok)/\(result.sent) ok, counts \(result.counts)"
        for e in result.events {
            line += "\n  \(e.event): next ok after \(e.time_to_next_ok_s.map { String(format: "%.3fs", $0) } ?? "never"), failures \(e.failures_after) (refused \(e.refused_after))"
        }
        Output.human(line)
    }

    static func one(
        _ request: PreparedRequest, connector: Connector, due: UInt64, timeoutNanos: UInt64, base: TimeBase
    ) async -> Record {
        let start = Clock.nanos()
        let deadline = start + timeoutNanos
        func record(_ outcome: Outcome, end: UInt64) -> Record {
            Record(
                start: base.unix(start), end: base.unix(end), outcome: outcome.key,
                latency_us: Clock.micros(from: start, to: end), lag_us: Clock.micros(from: due, to: start))
        }
        let channel: ClientChannel
        do {
            channel = try await connector.connect(timeout: .nanoseconds(Int64(timeoutNanos)))
        } catch {
            return record(Outcome.classify(error), end: Clock.nanos())
        }
        let now = Clock.nanos()
        guard now < deadline else {
            try? await channel.channel.close()
            return record(.timeout, end: now)
        }
        let result = try? await channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            return await exchange(
                request, iterator: &iterator, outbound: outbound, channel: channel.channel,
                timeout: .nanoseconds(Int64(deadline - now)))
        }
        guard let result else { return record(.closed, end: Clock.nanos()) }
        return record(result.outcome, end: result.endAt)
    }

    static func readEvents(_ path: String) throws -> [EventLine] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        return String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).compactMap { line in
            try? decoder.decode(EventLine.self, from: Data(line.utf8))
        }.sorted { $0.t < $1.t }
    }

    static func summarize(_ records: [Record], events: [EventLine], url: String, rate: Double, duration: Double) -> Result {
        var counts: [String: Int] = [:]
        var latency = LatencyRecorder()
        var maxLag: UInt64 = 0
        for r in records {
            counts[r.outcome, default: 0] += 1
            if r.outcome == "ok" { latency.record(micros: r.latency_us) }
            maxLag = max(maxLag, r.lag_us)
        }
        let oks = records.filter { $0.outcome == "ok" }.sorted { $0.end < $1.end }
        var reports: [EventReport] = []
        for (index, event) in events.enumerated() {
            let windowEnd = index + 1 < events.count ? events[index + 1].t : Double.infinity
            let nextOK = oks.first { $0.end >= event.t }
            let lastOK = oks.last { $0.end < event.t }
            var after: [String: Int] = [:]
            for r in records where r.end >= event.t && r.end < windowEnd { after[r.outcome, default: 0] += 1 }
            let recoveredAt = nextOK?.end ?? Double.infinity
            let failuresUntil = records.filter { $0.outcome != "ok" && $0.end >= event.t && $0.end <= recoveredAt }.count
            let recovering = oks.filter { $0.start >= event.t && $0.start <= recoveredAt + 1 && $0.start < windowEnd }
            reports.append(EventReport(
                event: event.event, t: event.t,
                time_to_next_ok_s: nextOK.map { Output.rounded($0.end - event.t, 4) },
                last_ok_before_s: lastOK.map { Output.rounded(event.t - $0.end, 4) },
                outcomes_after: after, failures_after: after.filter { $0.key != "ok" }.values.reduce(0, +),
                refused_after: after["refused"] ?? 0, failures_until_recovered: failuresUntil,
                max_latency_during_recovery_ms: recovering.map(\.latency_us).max().map { Output.rounded(Double($0) / 1000, 2) }
            ))
        }
        return Result(
            url: url, rate: rate, duration_s: duration, sent: records.count, ok: counts["ok"] ?? 0, counts: counts,
            latency_us: latency.summary, max_start_lag_ms: Output.rounded(Double(maxLag) / 1000, 2), events: reports
        )
    }
}
