import Foundation
import Shared

// The supervisor's documents: served on `/health` and its control socket, printed by `ctl`.
// Monitoring scripts parse them: fields may be added, never renamed.

/// ok, degraded or down — for the fleet, a tenant, or what a worker says of itself; `unknown`
/// while a worker does not answer.
enum HealthStatus: String, Codable, Sendable {
    case ok, degraded, down, unknown
}

/// The unified health document (`GET /health`).
struct FleetHealth: Codable, Sendable, Equatable {
    var status: HealthStatus
    var healthyTenants: Int
    var totalTenants: Int
    var tenants: [String: TenantHealth]
    /// The supervisor's most recent events, oldest first (the status page shows them).
    var events: [HistoryEntry]?

    enum CodingKeys: String, CodingKey {
        case status, tenants, events
        case healthyTenants = "healthy_tenants"
        case totalTenants = "total_tenants"
    }
}

/// How a worker process ended, and when.
struct ExitInfo: Codable, Sendable, Equatable {
    var code: Int32?
    var signal: String?
    var at: Date

    init(_ exit: WorkerExit, at: Date) {
        switch exit {
        case .code(let code): self.code = code
        case .signal(let name): self.signal = name
        }
        self.at = at
    }

    var description: String {
        if let signal { return WorkerExit.signal(signal).description }
        return WorkerExit.code(code ?? -1).description
    }
}

/// One JWT of a tenant, as the health document shows it.
struct TokenBrief: Codable, Sendable, Equatable {
    var name: String
    var fingerprint: String
    var state: TokenState
    /// Until when it cools down or is exhausted.
    var until: Date?
    var quotaRemaining: Double?
    var inFlight: Int?

    enum CodingKeys: String, CodingKey {
        case name, fingerprint, state, until
        case quotaRemaining = "quota_remaining"
        case inFlight = "in_flight"
    }
}

/// One tenant in the unified health document.
struct TenantHealth: Codable, Sendable, Equatable {
    var state: SlotState
    var pid: Int32?
    var uptimeS: Double?
    var restarts: Int
    var lastExit: ExitInfo?
    var listen: String
    /// The worker's own status, or `unknown` while it does not answer (`down` when none runs).
    var status: HealthStatus
    var healthyTokens: Int
    var totalTokens: Int
    var strategy: String
    var tokens: [TokenBrief]
    var requestsInFlight: Int?
    /// Why the tenant is fatal or backing off, for people.
    var detail: String?
    /// API requests per second and the share answered with a 5xx, over the last 10 s.
    var requestsPerSecond: Double?
    var errorRate: Double?

    enum CodingKeys: String, CodingKey {
        case state, pid, restarts, listen, status, strategy, tokens, detail
        case requestsPerSecond = "requests_per_second"
        case errorRate = "error_rate"
        case uptimeS = "uptime_s"
        case lastExit = "last_exit"
        case healthyTokens = "healthy_tokens"
        case totalTokens = "total_tokens"
        case requestsInFlight = "requests_in_flight"
    }

    func encode(to encoder: any Encoder) throws {
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
        try c.encodeIfPresent(requestsPerSecond, forKey: .requestsPerSecond)
        try c.encodeIfPresent(errorRate, forKey: .errorRate)
    }
}

/// `ctl status --json`: the same per-tenant objects as the health document, under `tenants`.
struct FleetStatus: Codable, Sendable, Equatable {
    var supervisorPid: Int32
    var uptimeS: Double
    var config: String
    var tenants: [String: TenantHealth]

    enum CodingKeys: String, CodingKey {
        case config, tenants
        case supervisorPid = "supervisor_pid"
        case uptimeS = "uptime_s"
    }
}

/// What a reload did to one tenant.
enum ReloadAction: String, Codable, Sendable {
    case started, stopped, replaced, unchanged
    /// Unchanged but FATAL: its crash count is cleared and it starts again.
    case restarted
}

/// The answer to `POST /reload`.
struct ReloadReport: Codable, Sendable, Equatable {
    var ok: Bool
    /// Validation errors (file:line:column: key: message); nothing changed when non-empty.
    var errors: [String] = []
    var actions: [String: ReloadAction] = [:]
}

/// A plain answer to a tenant command (start, stop, restart), or an error of the control API.
struct ControlReply: Codable, Sendable, Equatable {
    var ok: Bool
    var message: String
}

/// The last lines of a tenant's log.
struct LogTail: Codable, Sendable, Equatable {
    var tenant: String
    var lines: [String]
}
