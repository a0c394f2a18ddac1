import Foundation

/// One JWT's state as a worker reports it, and as the supervisor shows and carries it over.
public enum TokenState: String, Codable, Sendable, Hashable, CaseIterable {
    case healthy
    case coolingDown = "cooling_down"
    case quotaExhausted = "quota_exhausted"
    case invalid
    /// A license token whose JWT has not been fetched yet.
    case pending
    /// No worker has reported on it (the supervisor's view before the first heartbeat).
    case unknown
}

/// The quota of one JWT as the upstream reported it (after a chat, in `QuotaMetadata`, or from
/// the quota endpoint). Amounts are kept as the text of the number; `until` as ISO 8601 when it
/// could be read. Every field is optional: a shape nobody expected leaves them empty.
public struct QuotaReport: Codable, Sendable, Equatable {
    public var spent: String?
    public var current: String?
    public var maximum: String?
    public var until: String?
    /// `tariffQuota.available`, when the answer has it.
    public var available: String?
    /// What is left of paid top-up credit (`topUpQuota`), when the answer has it.
    public var topUpAvailable: String?

    public init(
        spent: String? = nil, current: String? = nil, maximum: String? = nil, until: String? = nil,
        available: String? = nil, topUpAvailable: String? = nil
    ) {
        self.spent = spent
        self.current = current
        self.maximum = maximum
        self.until = until
        self.available = available
        self.topUpAvailable = topUpAvailable
    }

    enum CodingKeys: String, CodingKey {
        case spent, current, maximum, until, available
        case topUpAvailable = "top_up_available"
    }

    public var isEmpty: Bool { self == QuotaReport() }

    /// Quota left: `available` when the upstream gave it, else maximum − current.
    public var remaining: Double? {
        if let available = available.flatMap(Double.init) { return available }
        guard let maximum = maximum.flatMap(Double.init), let current = current.flatMap(Double.init) else { return nil }
        return max(0, maximum - current)
    }
}

/// One row of a worker's token report (`GET /health`, `GET /stats`).
public struct TokenReport: Codable, Sendable, Equatable {
    public var name: String
    public var fingerprint: String
    public var state: TokenState
    public var until: Date?
    public var priority: Int
    public var weight: Int
    public var inFlight: Int
    public var successes: Int
    public var failures: Int
    public var consecutiveFailures: Int
    public var lastError: String?
    public var lastUsed: Date?
    /// `jwt` or `license`.
    public var source: String
    public var metadata: [String: String]
    public var quota: QuotaReport?

    public init(
        name: String, fingerprint: String, state: TokenState, until: Date? = nil, priority: Int = 1, weight: Int = 1,
        inFlight: Int = 0, successes: Int = 0, failures: Int = 0, consecutiveFailures: Int = 0,
        lastError: String? = nil, lastUsed: Date? = nil, source: String = "jwt", metadata: [String: String] = [:],
        quota: QuotaReport? = nil
    ) {
        self.name = name
        self.fingerprint = fingerprint
        self.state = state
        self.until = until
        self.priority = priority
        self.weight = weight
        self.inFlight = inFlight
        self.successes = successes
        self.failures = failures
        self.consecutiveFailures = consecutiveFailures
        self.lastError = lastError
        self.lastUsed = lastUsed
        self.source = source
        self.metadata = metadata
        self.quota = quota
    }

    enum CodingKeys: String, CodingKey {
        case name, fingerprint, state, until, priority, weight, successes, failures, metadata, source, quota
        case inFlight = "in_flight"
        case consecutiveFailures = "consecutive_failures"
        case lastError = "last_error"
        case lastUsed = "last_used"
    }
}

/// A worker's health document: its public `GET /health`, and on its control socket the same
/// plus the process extras — which is what the supervisor's heartbeat reads. One type for both
/// ends, so a field renamed on one side cannot silently go missing on the other.
public struct WorkerHealth: Codable, Sendable, Equatable {
    /// ok (every JWT usable), degraded, or down (none).
    public var status: String
    public var healthyTokens: Int
    public var totalTokens: Int
    public var strategy: String
    public var tenant: String
    public var tokens: [TokenReport]
    // Control-socket extras.
    public var pid: Int32?
    public var uptimeS: Double?
    public var version: String?
    public var requestsInFlight: Int?
    public var listen: String?
    public var draining: Bool?
    /// API requests answered since the worker started, and those answered with a 5xx status
    /// (the supervisor derives requests per second and the error rate from them).
    public var requestsTotal: Int?
    public var errorsTotal: Int?

    public init(
        status: String, healthyTokens: Int, totalTokens: Int, strategy: String, tenant: String, tokens: [TokenReport],
        pid: Int32? = nil, uptimeS: Double? = nil, version: String? = nil, requestsInFlight: Int? = nil,
        listen: String? = nil, draining: Bool? = nil
    ) {
        self.status = status
        self.healthyTokens = healthyTokens
        self.totalTokens = totalTokens
        self.strategy = strategy
        self.tenant = tenant
        self.tokens = tokens
        self.pid = pid
        self.uptimeS = uptimeS
        self.version = version
        self.requestsInFlight = requestsInFlight
        self.listen = listen
        self.draining = draining
    }

    /// The document for a set of token rows: ok when every JWT is healthy, down when none is.
    public init(tenant: String, strategy: String, tokens: [TokenReport]) {
        let healthy = tokens.filter { $0.state == .healthy }.count
        let status = healthy == tokens.count ? "ok" : (healthy == 0 ? "down" : "degraded")
        self.init(
            status: status, healthyTokens: healthy, totalTokens: tokens.count, strategy: strategy, tenant: tenant,
            tokens: tokens
        )
    }

    enum CodingKeys: String, CodingKey {
        case status, strategy, tenant, tokens, pid, version, listen, draining
        case healthyTokens = "healthy_tokens"
        case totalTokens = "total_tokens"
        case uptimeS = "uptime_s"
        case requestsInFlight = "requests_in_flight"
        case requestsTotal = "requests_total"
        case errorsTotal = "errors_total"
    }
}
