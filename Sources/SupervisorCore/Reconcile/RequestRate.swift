/// Requests per second and the share of them that failed, from the running totals a worker
/// reports with each heartbeat, over the last `window`.
struct RequestRate: Sendable, Equatable {
    struct Sample: Sendable, Equatable {
        var at: ContinuousClock.Instant
        var requests: Int
        var errors: Int
    }

    static let window: Duration = .seconds(10)
    private(set) var samples: [Sample] = []

    /// A heartbeat's totals (nil from a worker that does not report them).
    mutating func add(now: ContinuousClock.Instant, requests: Int?, errors: Int?) {
        guard let requests else { return }
        let sample = Sample(at: now, requests: requests, errors: errors ?? 0)
        // A new worker counts from zero again.
        if let last = samples.last, requests < last.requests { samples = [] }
        samples.append(sample)
        // Keep one sample at or before the window's start, so the rate spans the whole window.
        while samples.count > 2, now - samples[1].at >= Self.window { samples.removeFirst() }
    }

    /// Requests per second over the window; nil before two samples.
    func perSecond(now: ContinuousClock.Instant) -> Double? {
        guard let first = samples.first, let last = samples.last, last.at > first.at else { return nil }
        let span = (last.at - first.at).seconds
        return Double(last.requests - first.requests) / span
    }

    /// Failed share (0…1) of the requests in the window; nil when there were none.
    var errorRate: Double? {
        guard let first = samples.first, let last = samples.last else { return nil }
        let requests = last.requests - first.requests
        guard requests > 0 else { return nil }
        return Double(last.errors - first.errors) / Double(requests)
    }
}
