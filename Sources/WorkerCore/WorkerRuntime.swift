import Foundation
import Logging
import NIOHTTP1
import Shared
import Synchronization

/// A `Mutex` in a class, so closures can share it.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T { try mutex.withLock { try body(&$0) } }
}

/// Everything one worker process holds: its settings, its JWT pool and upstream client, and
/// what it reports. Reload swaps settings in place; the pool keeps the state of JWTs that stay.
final class WorkerRuntime: Sendable {
    let source: ConfigSource
    let pool: TokenPool
    let licenses: LicenseManager
    let logger: Logger
    let startedAt = Date()
    let metrics: WorkerMetrics
    /// Client keys' limits, per-key metrics and the usage ledger.
    let usage: UsageTracker
    private let current: Locked<Current>
    private let counters = Mutex(Counters())
    /// Clients replaced by a reload; shut down at exit (requests may still be using them).
    private let retiredClients = Mutex<[UpstreamClient]>([])

    struct Current: Sendable {
        var settings: TenantConfig
        var upstream: UpstreamClient
        var auth: ClientAuthenticator
        /// The built-in model table merged with the tenant's `models`.
        var aliases: [String: String]
    }

    struct Counters: Sendable, Codable {
        var requests = 0
        var chatRequests = 0
        var byStatus: [String: Int] = [:]
        enum CodingKeys: String, CodingKey {
            case requests
            case chatRequests = "chat_requests"
            case byStatus = "by_status"
        }
    }

    init(source: ConfigSource, settings: TenantConfig, logger: Logger) {
        self.source = source
        self.logger = logger
        metrics = WorkerMetrics(tenant: settings.name)
        usage = UsageTracker(settings: settings, stateDir: Self.stateDir(settings), metrics: metrics, logger: logger)
        let pool = TokenPool(tokens: settings.tokens, strategy: settings.strategy, logger: logger)
        self.pool = pool
        let current = Locked(Current(
            settings: settings,
            upstream: Self.makeClient(settings),
            auth: ClientAuthenticator(settings: settings),
            aliases: ModelTable.merged(with: settings.models)
        ))
        self.current = current
        self.licenses = LicenseManager(
            pool: pool, upstream: { current.withLock { $0.upstream } },
            credentials: CredentialStore(stateDir: Self.stateDir(settings), tenant: settings.name), logger: logger)
    }

    private static func makeClient(_ s: TenantConfig) -> UpstreamClient {
        UpstreamClient(
            baseURL: s.upstream, apiVersion: s.apiVersion, agent: s.grazieAgent,
            connectTimeout: s.connectTimeout, requestTimeout: s.requestTimeout,
            accountURL: s.accountURL, outboundProxy: s.outboundProxy
        )
    }

    /// Where this worker keeps state (rotated refresh tokens): the fleet's `state_dir`, or
    /// `./state` for settings that carry none. Fixed for the life of the process.
    static func stateDir(_ s: TenantConfig) -> String {
        s.stateDir ?? ConfigPaths.absolute(SupervisorDefaults.stateDir)
    }

    var settings: TenantConfig { current.withLock { $0.settings } }
    var upstream: UpstreamClient { current.withLock { $0.upstream } }
    var authenticator: ClientAuthenticator { current.withLock { $0.auth } }
    /// The profiles the upstream lists for this tenant (refreshed by `profileRefresher`).
    let profiles = ProfileCatalog()

    /// Aliases and listed profiles as of now: resolves model ids and lists `/v1/models`.
    var models: ModelCatalog {
        let listed = profiles.current
        return ModelCatalog(aliases: current.withLock { $0.aliases }, listed: listed?.list, listedSet: listed?.set)
    }

    var profileRefresher: ProfileRefresher {
        ProfileRefresher(pool: pool, catalog: profiles, upstream: { [current] in current.withLock { $0.upstream } }, logger: logger)
    }

    var prober: HealthProber {
        HealthProber(
            pool: pool,
            upstream: { [current] in current.withLock { $0.upstream } },
            licenses: licenses,
            interval: { [current] in current.withLock { $0.settings.healthCheckInterval } },
            logger: logger
        )
    }

    var chatProxy: ChatProxy {
        let c = current.withLock { $0 }
        return ChatProxy(
            pool: pool, upstream: c.upstream, licenses: licenses,
            maxAttempts: c.settings.maxAttempts, keepaliveInterval: c.settings.keepaliveInterval, logger: logger,
            metrics: metrics
        )
    }

    // MARK: - Reload

    struct ReloadSummary: Sendable, Codable {
        var status = "reloaded"
        var tokens: Int
        var strategy: String
        var kept: [String]
        var added: [String]
        var removed: [String]
        var notes: [String]
    }

    /// Re-reads the configuration source. On error nothing changes.
    func reload() async throws -> ReloadSummary {
        let new = try source.load()
        let old = settings
        let oldKeys = Dictionary(old.tokens.map { (TokenKey($0.source), $0.name) }, uniquingKeysWith: { a, _ in a })
        let newKeys = Set(new.tokens.map { TokenKey($0.source) })
        var notes: [String] = []
        if new.listen != old.listen {
            notes.append("listen address changes need a restart (still serving \(old.listen))")
        }
        let clientChanged = new.upstream != old.upstream || new.apiVersion != old.apiVersion
            || new.grazieAgent != old.grazieAgent || new.connectTimeout != old.connectTimeout
            || new.requestTimeout != old.requestTimeout || new.accountURL != old.accountURL
            || new.outboundProxy != old.outboundProxy
        let client = clientChanged ? Self.makeClient(new) : nil
        var retired: UpstreamClient?
        current.withLock { c in
            var settings = new
            settings.listen = old.listen
            c.settings = settings
            if let client {
                retired = c.upstream
                c.upstream = client
            }
            c.auth = ClientAuthenticator(settings: new)
            c.aliases = ModelTable.merged(with: new.models)
        }
        if let retired { retiredClients.withLock { $0.append(retired) } }
        pool.update(tokens: new.tokens, strategy: new.strategy)
        // License tokens added by this reload get their JWT now, not at the refresher's next round.
        await withTaskGroup(of: Void.self) { group in
            for record in pool.snapshot() where record.isLicense && record.jwt == nil {
                group.addTask { await self.licenses.refresh(record.key) }
            }
        }
        let summary = ReloadSummary(
            tokens: new.tokens.count,
            strategy: new.strategy.rawValue,
            kept: new.tokens.filter { oldKeys[TokenKey($0.source)] != nil }.map(\.name),
            added: new.tokens.filter { oldKeys[TokenKey($0.source)] == nil }.map(\.name),
            removed: old.tokens.filter { !newKeys.contains(TokenKey($0.source)) }.map(\.name),
            notes: notes
        )
        logger.info("Configuration reloaded", metadata: [
            "tokens": "\(summary.tokens)", "kept": "\(summary.kept.count)",
            "added": "\(summary.added.count)", "removed": "\(summary.removed.count)",
        ])
        return summary
    }

    func shutdownClients() async {
        let clients = retiredClients.withLock { $0 } + [upstream]
        for client in clients { await client.shutdown() }
    }

    // MARK: - Reports

    func count(status: HTTPResponseStatus, chat: Bool) {
        counters.withLock { c in
            c.requests += 1
            if chat { c.chatRequests += 1 }
            c.byStatus[String(status.code), default: 0] += 1
        }
    }

    /// The worker's metrics in the Prometheus text format.
    func metricsText() -> String { metrics.exposition(tokens: pool.report()) }

    /// An API request ended: its metrics, its ledger record and its access-log line.
    func observed(_ observation: RequestObservation, status: HTTPResponseStatus) {
        let s = settings
        Self.record(observation, status: status.code, metrics: metrics, usage: usage, log: AccessLog(format: s.logFormat, tenant: s.name))
    }

    /// What an ended request leaves behind (also what bench scenario 8 measures, with no ledger
    /// and the log on /dev/null).
    static func record(
        _ observation: RequestObservation, status: UInt, metrics: WorkerMetrics, usage: UsageTracker?, log: AccessLog,
        logDescriptor: Int32 = 2
    ) {
        let end = ContinuousClock.now
        let seen = observation.snapshot
        let duration = end - observation.started
        let firstByte = (seen.firstByte ?? end) - observation.started
        let model = seen.model ?? ""
        metrics.requestFinished(api: observation.api, model: model, status: status, duration: duration, firstByte: firstByte)
        usage?.finished(observation, seen: seen, status: status, duration: duration)
        log.emit(AccessLog.Entry(
            time: Date(), api: observation.api.rawValue, model: model, status: status, duration: duration,
            firstByte: firstByte, attempts: seen.attempts, token: seen.token, key: seen.key
        ), to: logDescriptor)
    }

    func health() -> WorkerHealth {
        let s = settings
        return WorkerHealth(tenant: s.name, strategy: s.strategy.rawValue, tokens: pool.report())
    }

    struct Stats: Sendable, Encodable {
        var uptimeS: Double
        var requests: Counters
        var inFlight: Int
        var tokens: [TokenReport]
        enum CodingKeys: String, CodingKey {
            case requests, tokens
            case uptimeS = "uptime_s"
            case inFlight = "in_flight"
        }
    }

    func stats() -> Stats {
        Stats(
            uptimeS: Date().timeIntervalSince(startedAt), requests: counters.withLock { $0 },
            inFlight: pool.inFlight, tokens: pool.report()
        )
    }

    /// The effective configuration with every secret shown as a fingerprint.
    func configSummary() -> JSONValue {
        let s = settings
        let tokens: [JSONValue] = s.tokens.map { t in
            var o: [String: JSONValue] = [
                "name": .string(t.name), "priority": .number(Double(t.priority)), "weight": .number(Double(t.weight)),
                "metadata": .object(t.metadata.mapValues { .string($0) }),
            ]
            switch t.source {
            case .jwt(let jwt): o["jwt"] = .string(fingerprint(jwt))
            case .license(let id, _):
                o["license_id"] = .string(fingerprint(id))
                o["authorization"] = .string("***")
            case .licenseRefresh(let id, _):
                o["license_id"] = .string(fingerprint(id))
                o["refresh_token"] = .string("***")
            }
            if let d = t.description { o["description"] = .string(d) }
            return .object(o)
        }
        return .object([
            "tenant": .string(s.name),
            "listen": .string(s.listen.description),
            "api_keys": .array(s.apiKeys.map { .string(fingerprint($0)) }),
            "tokens": .array(tokens),
            "upstream": .string(s.upstream),
            "api_version": .string(s.apiVersion.rawValue),
            "strategy": .string(s.strategy.rawValue),
            "health_check_interval": .string(formatDuration(s.healthCheckInterval)),
            "max_attempts": .number(Double(s.maxAttempts)),
            "connect_timeout": .string(formatDuration(s.connectTimeout)),
            "request_timeout": .string(formatDuration(s.requestTimeout)),
            "max_body_size": .number(Double(s.maxBodySize)),
            "keepalive_interval": .string(formatDuration(s.keepaliveInterval)),
            "shutdown_timeout": .string(formatDuration(s.shutdownTimeout)),
            "models": .object(s.models.mapValues { .string($0) }),
            "profile_parameters": .object(s.profileParameters.mapValues { .array($0.map { .string($0) }) }),
            "grazie_agent": s.grazieAgent.map { .string($0) } ?? .null,
            "account_url": .string(s.accountURL),
            "outbound_proxy": s.outboundProxy.map { .string(OutboundProxy(parsing: $0)?.redacted ?? "***") } ?? .null,
            "state_dir": .string(Self.stateDir(s)),
        ])
    }
}
