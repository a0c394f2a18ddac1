import Foundation
import Metrics
import NIOHTTP1
import Shared
import Synchronization

import class Prometheus.PrometheusCollectorRegistry
import struct Prometheus.PrometheusMetricsFactory

/// Which API a request used: the `api` label.
enum APIKind: String, Sendable, CaseIterable {
    case chat, messages, responses, models
    case countTokens = "count_tokens"

    /// The API of a path, or nil for the management endpoints (health, metrics, stats, config,
    /// reload), which are neither counted nor access-logged.
    init?(method: HTTPMethod, path: String) {
        switch (method, path) {
        case (.POST, "/v1/chat/completions"): self = .chat
        case (.POST, "/v1/messages"): self = .messages
        case (.POST, "/v1/responses"): self = .responses
        case (.POST, "/v1/messages/count_tokens"): self = .countTokens
        case (.GET, "/v1/models"): self = .models
        default: return nil
        }
    }
}

/// A worker's own metrics (swift-metrics API, Prometheus text exposition). Every series is
/// made once per label set and kept, so a request only finds it in a small dictionary under a
/// lock and bumps an atomic. Token series use the JWT's configured *name*.
///
/// The token gauges and the in-flight gauge are read at scrape time (`exposition`), not kept
/// up to date per request.
final class WorkerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    let tenant: String
    private let durations: [APIKind: Metrics.Timer]
    private let firstBytes: [APIKind: Metrics.Timer]
    private let failovers: Metrics.Counter
    private let inFlight: Metrics.Meter
    private let requests = Mutex<[RequestKey: Metrics.Counter]>([:])
    private let attempts = Mutex<[AttemptKey: Metrics.Counter]>([:])
    /// Token name → its state gauges (one per state) and its quota gauge.
    private let tokenSeries = Mutex<[String: TokenSeries]>([:])
    private let requestCount = Atomic<Int>(0)
    private let errorCount = Atomic<Int>(0)

    /// API requests finished, and those of them answered with a 5xx (for the heartbeat).
    var totals: (requests: Int, errors: Int) { (requestCount.load(ordering: .relaxed), errorCount.load(ordering: .relaxed)) }

    struct RequestKey: Hashable, Sendable {
        var api: APIKind
        var model: String
        var status: UInt
    }

    struct AttemptKey: Hashable, Sendable {
        var token: String
        var outcome: String
    }

    private struct TokenSeries: @unchecked Sendable {
        // Metrics handles are thread-safe reference types (swift-metrics' own types are not
        // marked Sendable on every platform); this struct only lives inside a Mutex.
        var states: [TokenState: Metrics.Gauge]
        var quota: Metrics.Gauge?
    }

    /// Request and time-to-first-byte buckets, in seconds: from a cached answer to a long
    /// generation (the upstream's request timeout defaults to 120 s).
    static let buckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(120),
    ]

    init(tenant: String) {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.buckets
        self.registry = registry
        self.factory = factory
        self.tenant = tenant
        var durations: [APIKind: Metrics.Timer] = [:]
        var firstBytes: [APIKind: Metrics.Timer] = [:]
        for api in APIKind.allCases {
            let labels = [("tenant", tenant), ("api", api.rawValue)]
            durations[api] = Metrics.Timer(label: "jbai_request_duration_seconds", dimensions: labels, factory: factory)
            firstBytes[api] = Metrics.Timer(label: "jbai_time_to_first_byte_seconds", dimensions: labels, factory: factory)
        }
        self.durations = durations
        self.firstBytes = firstBytes
        failovers = Metrics.Counter(label: "jbai_failovers_total", dimensions: [("tenant", tenant)], factory: factory)
        inFlight = Metrics.Meter(label: "jbai_requests_in_flight", dimensions: [("tenant", tenant)], factory: factory)
    }

    // MARK: - Per request

    func requestStarted() { inFlight.increment() }

    /// One finished API request: its count, duration and time to first byte.
    func requestFinished(api: APIKind, model: String, status: UInt, duration: Duration, firstByte: Duration) {
        inFlight.decrement()
        requestCount.add(1, ordering: .relaxed)
        if status >= 500 { errorCount.add(1, ordering: .relaxed) }
        let key = RequestKey(api: api, model: model, status: status)
        let counter = requests.withLock { cache in
            if let counter = cache[key] { return counter }
            let counter = Metrics.Counter(
                label: "jbai_requests_total",
                dimensions: [("tenant", tenant), ("api", api.rawValue), ("model", model), ("status", String(status))],
                factory: factory
            )
            cache[key] = counter
            return counter
        }
        counter.increment()
        durations[api]?.recordNanoseconds(Self.nanoseconds(duration))
        firstBytes[api]?.recordNanoseconds(Self.nanoseconds(firstByte))
    }

    /// One upstream attempt with a JWT and how it ended.
    func attempted(token: String, outcome: String) {
        let key = AttemptKey(token: token, outcome: outcome)
        let counter = attempts.withLock { cache in
            if let counter = cache[key] { return counter }
            let counter = Metrics.Counter(
                label: "jbai_upstream_attempts_total",
                dimensions: [("tenant", tenant), ("token", token), ("outcome", outcome)],
                factory: factory
            )
            cache[key] = counter
            return counter
        }
        counter.increment()
    }

    /// A request moved on to another JWT after an attempt failed.
    func failedOver() { failovers.increment() }

    private static func nanoseconds(_ d: Duration) -> Int64 {
        let (seconds, attoseconds) = d.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    // MARK: - Scrape

    /// The text exposition, with the token gauges set from the pool's report first.
    func exposition(tokens: [TokenReport]) -> String {
        updateTokens(tokens)
        return registry.emitToString()
    }

    private func updateTokens(_ tokens: [TokenReport]) {
        tokenSeries.withLock { series in
            var seen = Set<String>()
            for token in tokens where seen.insert(token.name).inserted {
                var entry = series[token.name] ?? TokenSeries(states: [:], quota: nil)
                for state in TokenState.allCases where state != .unknown {
                    let gauge = entry.states[state] ?? Metrics.Gauge(
                        label: "jbai_token_state",
                        dimensions: [("tenant", tenant), ("token", token.name), ("state", state.rawValue)],
                        factory: factory
                    )
                    entry.states[state] = gauge
                    gauge.record(state == token.state ? 1 : 0)
                }
                if let remaining = token.quota?.remaining {
                    let gauge = entry.quota ?? Metrics.Gauge(
                        label: "jbai_token_quota_remaining", dimensions: [("tenant", tenant), ("token", token.name)],
                        factory: factory
                    )
                    entry.quota = gauge
                    gauge.record(remaining)
                }
                series[token.name] = entry
            }
            // JWTs a reload removed: their series go too.
            for (name, entry) in series where !seen.contains(name) {
                for gauge in entry.states.values { gauge.destroy() }
                entry.quota?.destroy()
                series.removeValue(forKey: name)
            }
        }
    }
}

/// What one request did, filled in along the way by the front and the chat proxy (a task
/// local, so the routes' signatures stay as they are), read once when it ends.
final class RequestObservation: Sendable {
    @TaskLocal static var current: RequestObservation?

    let api: APIKind
    let started: ContinuousClock.Instant
    private let state = Mutex(State())

    struct State: Sendable {
        var model: String?
        var attempts = 0
        var token: String?
        var firstByte: ContinuousClock.Instant?
        /// The client key's name (set once the key is checked).
        var key: String?
        var profile: String?
        /// Estimated tokens of the request and of the answer (`TokenEstimator`).
        var tokensIn: Int?
        var tokensOut: Int?
        /// `QuotaMetadata.spent` of the answer.
        var quotaSpent: Double?
        /// The limiter admitted the request (it holds a `max_concurrent` slot until it ends).
        var admitted = false
    }

    init(api: APIKind, started: ContinuousClock.Instant) {
        self.api = api
        self.started = started
    }

    var snapshot: State { state.withLock { $0 } }

    func model(_ model: String) { state.withLock { $0.model = model } }

    func attempt(token: String) {
        state.withLock {
            $0.attempts += 1
            $0.token = token
        }
    }

    func client(key: String) { state.withLock { $0.key = key } }

    func planned(profile: String, tokensIn: Int) {
        state.withLock {
            $0.profile = profile
            $0.tokensIn = tokensIn
        }
    }

    func admitted() { state.withLock { $0.admitted = true } }

    /// The answer is complete: what it cost and its estimated size.
    func answered(quotaSpent: Double?, tokensOut: Int) {
        state.withLock {
            $0.quotaSpent = quotaSpent
            $0.tokensOut = tokensOut
        }
    }

    /// The first byte of the answer is about to go out (kept from the first call).
    func firstByte() {
        let now = ContinuousClock.now
        state.withLock { if $0.firstByte == nil { $0.firstByte = now } }
    }
}

extension WorkerMetrics {
    /// The text exposition format's content type.
    static let contentType: HTTPHeaders = ["content-type": "text/plain; version=0.0.4; charset=utf-8"]
}

extension TokenOutcome {
    /// The `outcome` label of `jbai_upstream_attempts_total`.
    var metricLabel: String {
        switch self {
        case .success, .probeHealthy: return "success"
        case .unauthorized: return "unauthorized"
        case .quotaExhausted: return "quota_exhausted"
        case .forbidden: return "forbidden"
        case .rateLimited: return "rate_limited"
        case .upstreamFailure: return "upstream_error"
        case .cancelled: return "cancelled"
        case .requestRejected: return "rejected"
        }
    }
}

/// Per client key: requests, quota spent, limit rejections; and the ledger's dropped records.
final class KeyMetrics: Sendable {
    private let factory: PrometheusMetricsFactory
    private let tenant: String
    private let requests = Mutex<[String: Metrics.Counter]>([:])
    private let spent = Mutex<[String: Metrics.FloatingPointCounter]>([:])
    private let rejections = Mutex<[String: Metrics.Counter]>([:])
    private let dropped: Metrics.Counter

    init(metrics: WorkerMetrics) {
        factory = PrometheusMetricsFactory(registry: metrics.registry)
        tenant = metrics.tenant
        dropped = Metrics.Counter(label: "jbai_usage_records_dropped_total", dimensions: [("tenant", tenant)], factory: factory)
    }

    private func series<C>(_ cache: borrowing Mutex<[String: C]>, _ id: String, _ make: () -> C) -> C {
        cache.withLock { c in
            if let existing = c[id] { return existing }
            let made = make()
            c[id] = made
            return made
        }
    }

    /// One finished API request of `key`, and the quota it spent.
    func finished(key: String, quotaSpent: Double?) {
        series(requests, key) {
            Metrics.Counter(label: "jbai_key_requests_total", dimensions: [("tenant", tenant), ("key", key)], factory: factory)
        }.increment()
        if let quotaSpent, quotaSpent > 0, quotaSpent.isFinite {
            series(spent, key) {
                Metrics.FloatingPointCounter(
                    label: "jbai_key_quota_spent_total", dimensions: [("tenant", tenant), ("key", key)], factory: factory)
            }.increment(by: quotaSpent)
        }
    }

    func rejected(key: String, limit: String) {
        series(rejections, key + "\u{0}" + limit) {
            Metrics.Counter(
                label: "jbai_limit_rejections_total", dimensions: [("tenant", tenant), ("key", key), ("limit", limit)], factory: factory)
        }.increment()
    }

    func droppedRecords(_ count: Int) { dropped.increment(by: Int64(count)) }
}
