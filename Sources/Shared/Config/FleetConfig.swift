// The resolved fleet file: what `FleetConfigLoader` produces after validation. Every value
// is final (defaults applied, `${VAR}`s substituted, paths absolute, secret files read), so a
// supervisor can hand a `TenantConfig` to a worker as JSON. Durations are encoded in JSON as
// whole milliseconds.

import Foundation

/// The upstream chat endpoint version (`api_version`).
public enum APIVersion: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    case v8, v7
}

/// How a tenant picks a JWT within a priority tier (`strategy`).
public enum BalanceStrategy: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    case roundRobin = "round_robin"
    case random
    case leastBusy = "least_busy"
}

/// Where a token's JWT comes from. A `jwt_file` is read at load time and becomes `.jwt`, a
/// `refresh_token_file` becomes `.licenseRefresh`.
public enum TokenSource: Sendable, Equatable, Hashable, Codable {
    case jwt(String)
    /// A license and a JetBrains Account OAuth id token (lives about an hour).
    case license(id: String, authorization: String)
    /// A license and a JetBrains Account OAuth refresh token, exchanged for id tokens as needed.
    /// This is the value from the fleet file; a rotated one lives in the worker's state dir.
    case licenseRefresh(id: String, refreshToken: String)

    private enum CodingKeys: String, CodingKey {
        case jwt
        case licenseID = "license_id"
        case authorization
        case refreshToken = "refresh_token"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let jwt = try container.decodeIfPresent(String.self, forKey: .jwt) {
            self = .jwt(jwt)
        } else if let refreshToken = try container.decodeIfPresent(String.self, forKey: .refreshToken) {
            self = .licenseRefresh(id: try container.decode(String.self, forKey: .licenseID), refreshToken: refreshToken)
        } else {
            self = .license(
                id: try container.decode(String.self, forKey: .licenseID),
                authorization: try container.decode(String.self, forKey: .authorization))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .jwt(let jwt):
            try container.encode(jwt, forKey: .jwt)
        case .license(let id, let authorization):
            try container.encode(id, forKey: .licenseID)
            try container.encode(authorization, forKey: .authorization)
        case .licenseRefresh(let id, let refreshToken):
            try container.encode(id, forKey: .licenseID)
            try container.encode(refreshToken, forKey: .refreshToken)
        }
    }

    /// The license id, for either kind of license token.
    public var licenseID: String? {
        switch self {
        case .jwt: return nil
        case .license(let id, _), .licenseRefresh(let id, _): return id
        }
    }
}

/// One upstream credential of a tenant (an entry of `tokens`).
public struct TokenConfig: Sendable, Equatable, Hashable, Codable {
    public var name: String
    public var source: TokenSource
    /// Tier: lowest number first; the next tier is used only when none in this one is usable.
    public var priority: Int
    /// Share within its tier, >= 1.
    public var weight: Int
    public var metadata: [String: String]
    public var description: String?

    public init(
        name: String, source: TokenSource, priority: Int = 1, weight: Int = 1,
        metadata: [String: String] = [:], description: String? = nil
    ) {
        self.name = name
        self.source = source
        self.priority = priority
        self.weight = weight
        self.metadata = metadata
        self.description = description
    }
}

/// One tenant, fully resolved: `defaults` applied, overrides merged.
public struct TenantConfig: Sendable, Equatable, Codable {
    public var name: String
    public var listen: ListenAddress
    public var apiKeys: [String]
    public var tokens: [TokenConfig]
    public var upstream: String
    public var apiVersion: APIVersion
    public var strategy: BalanceStrategy
    public var healthCheckInterval: Duration
    public var maxAttempts: Int
    public var connectTimeout: Duration
    public var requestTimeout: Duration
    public var maxBodySize: Int
    /// Only the overrides from the file (`defaults.models` merged with the tenant's `models`),
    /// not `ModelTable.builtin`.
    public var models: [String: String]
    /// Profile id → the parameter names (`ProfileParameter` raw values) that profile takes,
    /// only for the profiles whose parameters the file configures (`models` entries with
    /// `parameters`); the worker's built-in family table covers the rest.
    public var profileParameters: [String: [String]]
    /// The `grazie-agent` header value (JSON text with `name` and `version`); nil means the
    /// worker's built-in one.
    public var grazieAgent: String?
    public var keepaliveInterval: Duration
    /// Copied from `supervisor.shutdown_timeout`.
    public var shutdownTimeout: Duration
    /// JetBrains Account OAuth base URL (`account_url`), where refresh tokens are exchanged.
    public var accountURL: String
    /// `outbound_proxy`: every upstream call goes through this HTTP CONNECT proxy
    /// (`http://[user:password@]host:port`; the credentials are secrets). Nil: direct.
    public var outboundProxy: String?
    /// `supervisor.state_dir`, absolute: the worker keeps `<stateDir>/<tenant>/` there (rotated
    /// refresh tokens). Nil (older settings JSON): the worker uses `./state`.
    public var stateDir: String?
    /// `fetch_image_urls`: the worker may download `https://` images a client names (off by
    /// default: a gateway that fetches URLs for clients is a server-side request forgery risk).
    public var fetchImageURLs: Bool
    /// `backlog_grace`: how long the supervisor lets connections wait in the listener's backlog
    /// while the tenant has no serving worker; after that it answers them itself with 503 and
    /// `Retry-After` until a worker serves again. Read by the supervisor only.
    public var backlogGrace: Duration = TenantDefaults.backlogGrace
    /// `header_timeout`, `idle_timeout`, `body_timeout`, `max_connections`, `max_header_size`:
    /// what the tenant's port tolerates from a client.
    public var limits: ConnectionLimits
    /// `max_concurrent_requests`: API requests answered at once; past it, 503 at once.
    public var maxConcurrentRequests: Int
    /// `replicas`, `resources`, `state_volume`: only `render kubernetes` reads them.
    public var deployment: TenantDeployment = TenantDeployment()
    /// `log_format`: the worker's access log as `text` (key=value) or `json` lines.
    public var logFormat: LogFormat = .text
    /// Each of `apiKeys`' name and limits, index for index (`ClientKeys.swift`). Shorter than
    /// `apiKeys` (older settings JSON): the rest are named by `ClientKeyPolicy.defaultName`.
    public var keyPolicies: [ClientKeyPolicy] = []
    /// `limits`: what the tenant as a whole may use (the same fields as a key's).
    public var usageLimits = UsageLimits()
    /// `usage_retention`: how long the usage ledger keeps a record.
    public var usageRetention: Duration = TenantDefaults.usageRetention
    /// `usage_ledger`: whether the worker records every request in `<state_dir>/<tenant>/usage.sqlite`.
    public var usageLedger = true

    /// The policy of `apiKeys[index]`.
    public func keyPolicy(at index: Int) -> ClientKeyPolicy {
        index < keyPolicies.count ? keyPolicies[index] : ClientKeyPolicy(name: ClientKeyPolicy.defaultName(for: apiKeys[index]))
    }

    public init(
        name: String,
        listen: ListenAddress,
        apiKeys: [String],
        tokens: [TokenConfig],
        upstream: String = TenantDefaults.upstream,
        apiVersion: APIVersion = TenantDefaults.apiVersion,
        strategy: BalanceStrategy = TenantDefaults.strategy,
        healthCheckInterval: Duration = TenantDefaults.healthCheckInterval,
        maxAttempts: Int = TenantDefaults.maxAttempts,
        connectTimeout: Duration = TenantDefaults.connectTimeout,
        requestTimeout: Duration = TenantDefaults.requestTimeout,
        maxBodySize: Int = TenantDefaults.maxBodySize,
        models: [String: String] = [:],
        grazieAgent: String? = nil,
        keepaliveInterval: Duration = TenantDefaults.keepaliveInterval,
        shutdownTimeout: Duration = SupervisorDefaults.shutdownTimeout,
        profileParameters: [String: [String]] = [:],
        accountURL: String = TenantDefaults.accountURL,
        outboundProxy: String? = nil,
        stateDir: String? = nil,
        fetchImageURLs: Bool = false,
        limits: ConnectionLimits = .publicListener,
        maxConcurrentRequests: Int = TenantDefaults.maxConcurrentRequests
    ) {
        self.name = name
        self.listen = listen
        self.apiKeys = apiKeys
        self.tokens = tokens
        self.upstream = upstream
        self.apiVersion = apiVersion
        self.strategy = strategy
        self.healthCheckInterval = healthCheckInterval
        self.maxAttempts = maxAttempts
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.maxBodySize = maxBodySize
        self.models = models
        self.grazieAgent = grazieAgent
        self.keepaliveInterval = keepaliveInterval
        self.shutdownTimeout = shutdownTimeout
        self.profileParameters = profileParameters
        self.accountURL = accountURL
        self.outboundProxy = outboundProxy
        self.stateDir = stateDir
        self.fetchImageURLs = fetchImageURLs
        self.limits = limits
        self.maxConcurrentRequests = maxConcurrentRequests
    }

    private enum CodingKeys: String, CodingKey {
        case name, listen, apiKeys, tokens, upstream, apiVersion, strategy
        case healthCheckInterval = "healthCheckIntervalMs"
        case maxAttempts
        case connectTimeout = "connectTimeoutMs"
        case requestTimeout = "requestTimeoutMs"
        case maxBodySize, models, grazieAgent
        case keepaliveInterval = "keepaliveIntervalMs"
        case shutdownTimeout = "shutdownTimeoutMs"
        case profileParameters, accountURL, outboundProxy, stateDir, fetchImageURLs, limits, maxConcurrentRequests
        case deployment, logFormat
        case backlogGrace = "backlogGraceMs"
        case keyPolicies, usageLimits, usageLedger
        case usageRetention = "usageRetentionMs"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        listen = try c.decode(ListenAddress.self, forKey: .listen)
        apiKeys = try c.decode([String].self, forKey: .apiKeys)
        tokens = try c.decode([TokenConfig].self, forKey: .tokens)
        upstream = try c.decode(String.self, forKey: .upstream)
        apiVersion = try c.decode(APIVersion.self, forKey: .apiVersion)
        strategy = try c.decode(BalanceStrategy.self, forKey: .strategy)
        healthCheckInterval = try c.decodeMilliseconds(forKey: .healthCheckInterval)
        maxAttempts = try c.decode(Int.self, forKey: .maxAttempts)
        connectTimeout = try c.decodeMilliseconds(forKey: .connectTimeout)
        requestTimeout = try c.decodeMilliseconds(forKey: .requestTimeout)
        maxBodySize = try c.decode(Int.self, forKey: .maxBodySize)
        models = try c.decode([String: String].self, forKey: .models)
        grazieAgent = try c.decodeIfPresent(String.self, forKey: .grazieAgent)
        keepaliveInterval = try c.decodeMilliseconds(forKey: .keepaliveInterval)
        shutdownTimeout = try c.decodeMilliseconds(forKey: .shutdownTimeout)
        // Added later: settings JSON written without them still decodes.
        profileParameters = try c.decodeIfPresent([String: [String]].self, forKey: .profileParameters) ?? [:]
        accountURL = try c.decodeIfPresent(String.self, forKey: .accountURL) ?? TenantDefaults.accountURL
        outboundProxy = try c.decodeIfPresent(String.self, forKey: .outboundProxy)
        stateDir = try c.decodeIfPresent(String.self, forKey: .stateDir)
        fetchImageURLs = try c.decodeIfPresent(Bool.self, forKey: .fetchImageURLs) ?? false
        if c.contains(.backlogGrace) { backlogGrace = try c.decodeMilliseconds(forKey: .backlogGrace) }
        limits = try c.decodeIfPresent(ConnectionLimits.self, forKey: .limits) ?? .publicListener
        maxConcurrentRequests = try c.decodeIfPresent(Int.self, forKey: .maxConcurrentRequests)
            ?? TenantDefaults.maxConcurrentRequests
        deployment = try c.decodeIfPresent(TenantDeployment.self, forKey: .deployment) ?? TenantDeployment()
        logFormat = try c.decodeIfPresent(LogFormat.self, forKey: .logFormat) ?? .text
        keyPolicies = try c.decodeIfPresent([ClientKeyPolicy].self, forKey: .keyPolicies) ?? []
        usageLimits = try c.decodeIfPresent(UsageLimits.self, forKey: .usageLimits) ?? UsageLimits()
        if c.contains(.usageRetention) { usageRetention = try c.decodeMilliseconds(forKey: .usageRetention) }
        usageLedger = try c.decodeIfPresent(Bool.self, forKey: .usageLedger) ?? true
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(listen, forKey: .listen)
        try c.encode(apiKeys, forKey: .apiKeys)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(upstream, forKey: .upstream)
        try c.encode(apiVersion, forKey: .apiVersion)
        try c.encode(strategy, forKey: .strategy)
        try c.encodeMilliseconds(healthCheckInterval, forKey: .healthCheckInterval)
        try c.encode(maxAttempts, forKey: .maxAttempts)
        try c.encodeMilliseconds(connectTimeout, forKey: .connectTimeout)
        try c.encodeMilliseconds(requestTimeout, forKey: .requestTimeout)
        try c.encode(maxBodySize, forKey: .maxBodySize)
        try c.encode(models, forKey: .models)
        try c.encodeIfPresent(grazieAgent, forKey: .grazieAgent)
        try c.encodeMilliseconds(keepaliveInterval, forKey: .keepaliveInterval)
        try c.encodeMilliseconds(shutdownTimeout, forKey: .shutdownTimeout)
        try c.encode(profileParameters, forKey: .profileParameters)
        try c.encode(accountURL, forKey: .accountURL)
        try c.encodeIfPresent(outboundProxy, forKey: .outboundProxy)
        try c.encodeIfPresent(stateDir, forKey: .stateDir)
        try c.encode(fetchImageURLs, forKey: .fetchImageURLs)
        try c.encodeMilliseconds(backlogGrace, forKey: .backlogGrace)
        try c.encode(limits, forKey: .limits)
        try c.encode(maxConcurrentRequests, forKey: .maxConcurrentRequests)
        try c.encode(deployment, forKey: .deployment)
        try c.encode(logFormat, forKey: .logFormat)
        try c.encode(keyPolicies, forKey: .keyPolicies)
        try c.encode(usageLimits, forKey: .usageLimits)
        try c.encodeMilliseconds(usageRetention, forKey: .usageRetention)
        try c.encode(usageLedger, forKey: .usageLedger)
    }
}

/// How the worker writes its access log (`log_format`).
public enum LogFormat: String, Codable, Sendable, CaseIterable {
    case text, json
}

/// The built-in values of the `defaults:` section.
public enum TenantDefaults {
    public static let upstream = "https://api.jetbrains.ai"
    public static let apiVersion = APIVersion.v8
    public static let strategy = BalanceStrategy.roundRobin
    public static let healthCheckInterval = Duration.seconds(30)
    public static let maxAttempts = 3
    public static let connectTimeout = Duration.seconds(10)
    public static let requestTimeout = Duration.seconds(120)
    public static let maxBodySize = 10 << 20
    public static let keepaliveInterval = Duration.seconds(15)
    public static let accountURL = "https://oauth.account.jetbrains.com"
    public static let backlogGrace = Duration.seconds(1)
    /// Each request in flight holds an upstream stream and, while it is decoded, about two and
    /// a half times its body: 256 keeps a worker of 10 MiB bodies under ~6.5 GiB in the worst
    /// case and is far above what a few JetBrains licences can serve at once.
    public static let maxConcurrentRequests = 256
    public static let usageRetention = Duration.seconds(90 * 86_400)
}

/// The built-in values of the `supervisor:` section (paths relative to the file's folder).
public enum SupervisorDefaults {
    public static let listen = ListenAddress(host: "127.0.0.1", port: 9090)
    public static let controlSocket = "run/supervisor.sock"
    public static let runDir = "run"
    public static let logDir = "logs"
    public static let heartbeatInterval = Duration.seconds(1)
    public static let heartbeatTimeout = Duration.seconds(5)
    public static let shutdownTimeout = Duration.seconds(30)
    public static let logMaxBytes = 10 << 20
    public static let logBackups = 3
    public static let stateDir = "state"
    public static let eventHistory = 1000
}

/// `supervisor.restart`: crash back-off and restart intensity.
public struct RestartPolicy: Sendable, Equatable, Hashable, Codable {
    /// First delay after a crash; doubles (with jitter) up to `maxBackoff`.
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    /// More than this many restarts within `window` makes the tenant FATAL.
    public var maxRestarts: Int
    public var window: Duration

    public init(
        initialBackoff: Duration = .milliseconds(250), maxBackoff: Duration = .seconds(30),
        maxRestarts: Int = 5, window: Duration = .seconds(60)
    ) {
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.maxRestarts = maxRestarts
        self.window = window
    }

    private enum CodingKeys: String, CodingKey {
        case initialBackoff = "initialBackoffMs"
        case maxBackoff = "maxBackoffMs"
        case maxRestarts
        case window = "windowMs"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        initialBackoff = try c.decodeMilliseconds(forKey: .initialBackoff)
        maxBackoff = try c.decodeMilliseconds(forKey: .maxBackoff)
        maxRestarts = try c.decode(Int.self, forKey: .maxRestarts)
        window = try c.decodeMilliseconds(forKey: .window)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeMilliseconds(initialBackoff, forKey: .initialBackoff)
        try c.encodeMilliseconds(maxBackoff, forKey: .maxBackoff)
        try c.encode(maxRestarts, forKey: .maxRestarts)
        try c.encodeMilliseconds(window, forKey: .window)
    }
}

/// The `supervisor:` section. Paths are absolute.
public struct SupervisorSettings: Sendable, Equatable, Codable {
    /// Unified `/health` endpoint.
    public var listen: ListenAddress
    /// The ctl API's Unix socket.
    public var controlSocket: String
    /// Where workers' control sockets live.
    public var runDir: String
    /// One log file per tenant; nil (`-` in the file) means the supervisor's stderr.
    public var logDir: String?
    public var restart: RestartPolicy
    public var heartbeatInterval: Duration
    public var heartbeatTimeout: Duration
    public var shutdownTimeout: Duration
    /// The worker executable; nil means the supervisor's own choice (e.g. next to itself).
    public var workerBinary: String?
    /// A tenant's log file is rotated when it reaches this size.
    public var logMaxBytes: Int
    /// Rotated log files kept per tenant.
    public var logBackups: Int
    /// Where workers keep state that must survive a restart (rotated refresh tokens), one
    /// folder per tenant. Copied into every `TenantConfig.stateDir`.
    public var stateDir: String
    /// What the `listen` port (health, metrics, status page) tolerates from a client.
    public var limits: ConnectionLimits
    /// `metrics_key`: when set, `GET /metrics` on `listen` needs it (`Authorization: Bearer`).
    public var metricsKey: String?
    /// `event_history`: how many events the supervisor keeps for `ctl events`.
    public var eventHistory = SupervisorDefaults.eventHistory

    public init(
        listen: ListenAddress = SupervisorDefaults.listen,
        controlSocket: String,
        runDir: String,
        logDir: String?,
        restart: RestartPolicy = RestartPolicy(),
        heartbeatInterval: Duration = SupervisorDefaults.heartbeatInterval,
        heartbeatTimeout: Duration = SupervisorDefaults.heartbeatTimeout,
        shutdownTimeout: Duration = SupervisorDefaults.shutdownTimeout,
        workerBinary: String? = nil,
        logMaxBytes: Int = SupervisorDefaults.logMaxBytes,
        logBackups: Int = SupervisorDefaults.logBackups,
        stateDir: String = SupervisorDefaults.stateDir,
        limits: ConnectionLimits = .publicListener
    ) {
        self.limits = limits
        self.listen = listen
        self.controlSocket = controlSocket
        self.runDir = runDir
        self.logDir = logDir
        self.restart = restart
        self.heartbeatInterval = heartbeatInterval
        self.heartbeatTimeout = heartbeatTimeout
        self.shutdownTimeout = shutdownTimeout
        self.workerBinary = workerBinary
        self.logMaxBytes = logMaxBytes
        self.logBackups = logBackups
        self.stateDir = stateDir
    }

    /// The defaults, with paths resolved against `directory` (an absolute folder).
    public init(defaultsRelativeTo directory: String) {
        self.init(
            controlSocket: ConfigPaths.resolve(SupervisorDefaults.controlSocket, against: directory),
            runDir: ConfigPaths.resolve(SupervisorDefaults.runDir, against: directory),
            logDir: ConfigPaths.resolve(SupervisorDefaults.logDir, against: directory),
            stateDir: ConfigPaths.resolve(SupervisorDefaults.stateDir, against: directory))
    }

    private enum CodingKeys: String, CodingKey {
        case listen, controlSocket, runDir, logDir, restart
        case heartbeatInterval = "heartbeatIntervalMs"
        case heartbeatTimeout = "heartbeatTimeoutMs"
        case shutdownTimeout = "shutdownTimeoutMs"
        case workerBinary, logMaxBytes, logBackups, stateDir, limits, metricsKey, eventHistory
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        listen = try c.decode(ListenAddress.self, forKey: .listen)
        controlSocket = try c.decode(String.self, forKey: .controlSocket)
        runDir = try c.decode(String.self, forKey: .runDir)
        logDir = try c.decodeIfPresent(String.self, forKey: .logDir)
        restart = try c.decode(RestartPolicy.self, forKey: .restart)
        heartbeatInterval = try c.decodeMilliseconds(forKey: .heartbeatInterval)
        heartbeatTimeout = try c.decodeMilliseconds(forKey: .heartbeatTimeout)
        shutdownTimeout = try c.decodeMilliseconds(forKey: .shutdownTimeout)
        workerBinary = try c.decodeIfPresent(String.self, forKey: .workerBinary)
        logMaxBytes = try c.decode(Int.self, forKey: .logMaxBytes)
        logBackups = try c.decode(Int.self, forKey: .logBackups)
        stateDir = try c.decodeIfPresent(String.self, forKey: .stateDir) ?? SupervisorDefaults.stateDir
        limits = try c.decodeIfPresent(ConnectionLimits.self, forKey: .limits) ?? .publicListener
        metricsKey = try c.decodeIfPresent(String.self, forKey: .metricsKey)
        eventHistory = try c.decodeIfPresent(Int.self, forKey: .eventHistory) ?? SupervisorDefaults.eventHistory
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(listen, forKey: .listen)
        try c.encode(controlSocket, forKey: .controlSocket)
        try c.encode(runDir, forKey: .runDir)
        try c.encodeIfPresent(logDir, forKey: .logDir)
        try c.encode(restart, forKey: .restart)
        try c.encodeMilliseconds(heartbeatInterval, forKey: .heartbeatInterval)
        try c.encodeMilliseconds(heartbeatTimeout, forKey: .heartbeatTimeout)
        try c.encodeMilliseconds(shutdownTimeout, forKey: .shutdownTimeout)
        try c.encodeIfPresent(workerBinary, forKey: .workerBinary)
        try c.encode(logMaxBytes, forKey: .logMaxBytes)
        try c.encode(logBackups, forKey: .logBackups)
        try c.encode(stateDir, forKey: .stateDir)
        try c.encode(limits, forKey: .limits)
        try c.encodeIfPresent(metricsKey, forKey: .metricsKey)
        try c.encode(eventHistory, forKey: .eventHistory)
    }
}

/// The whole validated fleet file.
public struct FleetConfig: Sendable, Equatable, Codable {
    public var version: Int
    public var supervisor: SupervisorSettings
    /// In file order.
    public var tenants: [TenantConfig]
    /// The file's absolute path.
    public var path: String

    public init(version: Int = 1, supervisor: SupervisorSettings, tenants: [TenantConfig], path: String) {
        self.version = version
        self.supervisor = supervisor
        self.tenants = tenants
        self.path = path
    }

    public func tenant(named name: String) -> TenantConfig? {
        tenants.first { $0.name == name }
    }
}

extension KeyedDecodingContainer {
    func decodeMilliseconds(forKey key: Key) throws -> Duration {
        .milliseconds(try decode(Int64.self, forKey: key))
    }
}

extension KeyedEncodingContainer {
    mutating func encodeMilliseconds(_ duration: Duration, forKey key: Key) throws {
        try encode(duration.milliseconds, forKey: key)
    }
}
