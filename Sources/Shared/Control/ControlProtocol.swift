import Foundation

/// The supervisor's health and status documents, shared by the supervisor (which serves them on
/// `/health` and its control socket) and `ctl` (which prints them). Monitoring scripts parse
/// them: fields may be added, never renamed.
public struct FleetHealth: Codable, Sendable, Equatable {
    public var status: String
    public var healthyTenants: Int
    public var totalTenants: Int
    public var tenants: [String: TenantHealth]

    public init(status: String, healthyTenants: Int, totalTenants: Int, tenants: [String: TenantHealth]) {
        self.status = status
        self.healthyTenants = healthyTenants
        self.totalTenants = totalTenants
        self.tenants = tenants
    }

    enum CodingKeys: String, CodingKey {
        case status, tenants
        case healthyTenants = "healthy_tenants"
        case totalTenants = "total_tenants"
    }
}

/// How a worker process ended.
public struct ExitInfo: Codable, Sendable, Equatable {
    public var code: Int32?
    public var signal: String?
    public var at: Date

    public init(code: Int32? = nil, signal: String? = nil, at: Date) {
        self.code = code
        self.signal = signal
        self.at = at
    }

    public var description: String {
        if let signal { return "killed by \(signal)" }
        return "exit code \(code ?? -1)"
    }
}

public struct TokenBrief: Codable, Sendable, Equatable {
    public var name: String
    public var fingerprint: String
    public var state: String
    public init(name: String, fingerprint: String, state: String) {
        self.name = name
        self.fingerprint = fingerprint
        self.state = state
    }
}

/// One tenant in the unified health document.
public struct TenantHealth: Codable, Sendable, Equatable {
    /// The slot's state: starting, running, backoff, stopping, stopped, fatal.
    public var state: String
    public var pid: Int32?
    public var uptimeS: Double?
    public var restarts: Int
    public var lastExit: ExitInfo?
    public var listen: String
    /// The worker's own status (ok, degraded, down), or `unknown` when it is not answering.
    public var status: String
    public var healthyTokens: Int
    public var totalTokens: Int
    public var strategy: String
    public var tokens: [TokenBrief]
    public var requestsInFlight: Int?
    /// Why the tenant is fatal or backing off, for people.
    public var detail: String?

    public init(
        state: String, pid: Int32?, uptimeS: Double?, restarts: Int, lastExit: ExitInfo?, listen: String,
        status: String, healthyTokens: Int, totalTokens: Int, strategy: String, tokens: [TokenBrief],
        requestsInFlight: Int? = nil, detail: String? = nil
    ) {
        self.state = state
        self.pid = pid
        self.uptimeS = uptimeS
        self.restarts = restarts
        self.lastExit = lastExit
        self.listen = listen
        self.status = status
        self.healthyTokens = healthyTokens
        self.totalTokens = totalTokens
        self.strategy = strategy
        self.tokens = tokens
        self.requestsInFlight = requestsInFlight
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey {
        case state, pid, restarts, listen, status, strategy, tokens, detail
        case uptimeS = "uptime_s"
        case lastExit = "last_exit"
        case healthyTokens = "healthy_tokens"
        case totalTokens = "total_tokens"
        case requestsInFlight = "requests_in_flight"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(state, forKey: .state)
        try c.encode(pid, forKey: .pid)  // null when no worker runs
        try c.encode(uptimeS, forKey: .uptimeS)
        try c.encode(restarts, forKey: .restarts)
        try c.encode(lastExit, forKey: .lastExit)
        try c.encode(listen, forKey: .listen)
        try c.encode(status, forKey: .status)
        try c.encode(healthyTokens, forKey: .healthyTokens)
        try c.encode(totalTokens, forKey: .totalTokens)
        try c.encode(strategy, forKey: .strategy)
        try c.encode(tokens, forKey: .tokens)
        try c.encodeIfPresent(requestsInFlight, forKey: .requestsInFlight)
        try c.encodeIfPresent(detail, forKey: .detail)
    }
}

/// `ctl status --json`: the same per-tenant objects as the health document, under `tenants`.
public struct FleetStatus: Codable, Sendable, Equatable {
    public var supervisorPid: Int32
    public var uptimeS: Double
    public var config: String
    public var tenants: [String: TenantHealth]

    public init(supervisorPid: Int32, uptimeS: Double, config: String, tenants: [String: TenantHealth]) {
        self.supervisorPid = supervisorPid
        self.uptimeS = uptimeS
        self.config = config
        self.tenants = tenants
    }

    enum CodingKeys: String, CodingKey {
        case config, tenants
        case supervisorPid = "supervisor_pid"
        case uptimeS = "uptime_s"
    }
}

/// The answer to `POST /reload`.
public struct ReloadReport: Codable, Sendable, Equatable {
    public var ok: Bool
    /// Validation errors (file:line:column: key: message); nothing changed when non-empty.
    public var errors: [String]
    /// Tenant → what happened: started, stopped, replaced, unchanged.
    public var actions: [String: String]

    public init(ok: Bool, errors: [String] = [], actions: [String: String] = [:]) {
        self.ok = ok
        self.errors = errors
        self.actions = actions
    }
}

/// A plain answer to a tenant command (start, stop, restart) or an error.
public struct ControlReply: Codable, Sendable, Equatable {
    public var ok: Bool
    public var message: String
    public init(ok: Bool, message: String) {
        self.ok = ok
        self.message = message
    }
}

/// The last lines of a tenant's log.
public struct LogTail: Codable, Sendable, Equatable {
    public var tenant: String
    public var lines: [String]
    public init(tenant: String, lines: [String]) {
        self.tenant = tenant
        self.lines = lines
    }
}

extension JSONEncoder {
    /// Encoder for control documents: sorted keys, ISO 8601 dates.
    public static func control(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }
}

extension JSONDecoder {
    public static func control() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}

/// What the supervisor hands a worker on stdin (one JSON line): the resolved tenant, and the
/// health of JWTs carried over from the worker it replaces (a JWT that stays keeps its state).
public struct SupervisedStart: Codable, Sendable, Equatable {
    public var tenant: TenantConfig
    public var tokenStates: [CarriedTokenState]

    public init(tenant: TenantConfig, tokenStates: [CarriedTokenState] = []) {
        self.tenant = tenant
        self.tokenStates = tokenStates
    }
}

/// One JWT's health as the previous worker reported it, by the token's name in the new settings.
public struct CarriedTokenState: Codable, Sendable, Equatable {
    public var name: String
    /// healthy, cooling_down, quota_exhausted, invalid.
    public var state: String
    public var until: Date?
    public var consecutiveFailures: Int
    public var lastError: String?

    public init(name: String, state: String, until: Date?, consecutiveFailures: Int, lastError: String?) {
        self.name = name
        self.state = state
        self.until = until
        self.consecutiveFailures = consecutiveFailures
        self.lastError = lastError
    }
}
