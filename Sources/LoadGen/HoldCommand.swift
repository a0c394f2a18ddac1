import ArgumentParser
import Foundation
import NIOCore

/// `hold`: N slow streams at once. Prints `{"event":"established",…}` on stdout as soon as
/// every stream has its first byte (or failed), keeps them to their end, then prints the result.
struct HoldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold",
        abstract: "Open N concurrent slow streams, signal when all are established, hold them until done."
    )

    @OptionGroup var request: RequestOptions

    @Option(help: "Streams to hold at once.")
    var count: Int

    @Option(help: "Seconds before a stream counts as timed out.")
    var timeout: Double = 600

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1") }
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
    }

    struct Progress: Sendable {
        var established = 0
        var failedEarly = 0
        var signalled = false
    }

    struct Signal: Encodable {
        var event = "established"
        var established: Int
        var failed: Int
        var elapsed_s: Double
    }

    struct Result: Encodable {
        var mode = "hold"
        var url: String
        var count: Int
        var ok: Int
        var errors: [String: Int]
        var established: Int
        var established_after_s: Double?
        var ttfb_us: LatencySummary
        var total_us: LatencySummary
    }

    struct StreamResult: Sendable {
        var outcome: Outcome
        var headUs: UInt64?
        var totalUs: UInt64
    }

    func run() async throws {
        let prepared = try request.prepare()
        let connector = Connector(target: prepared.target, connectTimeout: request.connectTimeoutAmount)
        let timeoutAmount = TimeAmount.nanoseconds(Int64(timeout * 1e9))
        let start = Clock.nanos()
        let progress = Locked(Progress())
        let signalledAt = Locked<Double?>(nil)
        let n = count

        @Sendable func update(_ change: (inout Progress) -> Void) {
            let signal: Signal? = progress.withLock { p in
                change(&p)
                guard !p.signalled, p.established + p.failedEarly >= n else { return nil }
                p.signalled = true
                return Signal(established: p.established, failed: p.failedEarly, elapsed_s: Output.rounded(Double(Clock.nanos() - start) / 1e9))
            }
            if let signal {
                signalledAt.withLock { $0 = signal.elapsed_s }
                Output.emit(signal)
            }
        }

        let results = await withTaskGroup(of: StreamResult.self) { group in
            for _ in 0..<count {
                group.addTask {
                    let begin = Clock.nanos()
                    let channel: ClientChannel
                    do {
                        channel = try await connector.connect()
                    } catch {
                        update { $0.failedEarly += 1 }
                        return StreamResult(outcome: Outcome.classify(error), totalUs: Clock.micros(from: begin, to: Clock.nanos()))
                    }
                    let result = try? await channel.executeThenClose { inbound, outbound in
                        var iterator = inbound.makeAsyncIterator()
                        return await exchange(
                            prepared, iterator: &iterator, outbound: outbound, channel: channel.channel, timeout: timeoutAmount,
                            onHead: { _, _ in update { $0.established += 1 } })
                    }
                    let end = result?.endAt ?? Clock.nanos()
                    if result?.headAt == nil { update { $0.failedEarly += 1 } }
                    return StreamResult(
                        outcome: result?.outcome ?? .closed, headUs: result?.headAt.map { Clock.micros(from: begin, to: $0) },
                        totalUs: Clock.micros(from: begin, to: end))
                }
            }
            var all: [StreamResult] = []
            for await r in group { all.append(r) }
            return all
        }

        var outcomes = OutcomeCounts()
        var ttfb = LatencyRecorder()
        var total = LatencyRecorder()
        for r in results {
            outcomes.add(r.outcome)
            if let h = r.headUs { ttfb.record(micros: h) }
            if r.outcome.isSuccess { total.record(micros: r.totalUs) }
        }
        let result = Result(
            url: request.url, count: count, ok: outcomes.ok, errors: outcomes.errors,
            established: progress.withLock { $0.established }, established_after_s: signalledAt.withLock { $0 },
            ttfb_us: ttfb.summary, total_us: total.summary)
        Output.emit(result)
        Output.human("hold \(count): \(result.established) established, \(result.ok) ok, errors \(result.errors)")
    }
}
