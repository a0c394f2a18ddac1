import Foundation
import Logging
import NIOHTTP1
import ServiceLifecycle
import Shared
import Synchronization

/// Who spends the quota: the limiter (in front of each chat), the per-key metrics and the
/// ledger (after it). The worker has one; `admit` and `finished` are its whole request path.
final class UsageTracker: Sendable {
    let tenant: String
    let ledger: UsageLedger?
    let metrics: KeyMetrics
    private let limiter: Mutex<UsageLimiter>
    private let logger: Logger
    /// Seconds since 1970; a test may set another clock.
    let now: @Sendable () -> Double

    /// Key name used for requests without a key (a tenant without `api_keys`).
    static let noKey = "-"

    init(settings: TenantConfig, stateDir: String, metrics: WorkerMetrics, logger: Logger,
         now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        tenant = settings.name
        var limiter = UsageLimiter()
        // For tests only: a shorter `rpm` window, so a test can see it pass.
        if let window = ProcessInfo.processInfo.environment["JBAI_RPM_WINDOW_SECONDS"].flatMap(Double.init), window > 0 {
            limiter.window = window
        }
        self.limiter = Mutex(limiter)
        self.logger = logger
        self.now = now
        let keyMetrics = KeyMetrics(metrics: metrics)
        self.metrics = keyMetrics
        // `JBAI_USAGE_LEDGER=off` turns the ledger off whatever the settings say (for benchmarks
        // of seed-style workers, which have no fleet file).
        if settings.usageLedger, ProcessInfo.processInfo.environment["JBAI_USAGE_LEDGER"] != "off" {
            let directory = ConfigPaths.resolve(settings.name, against: ConfigPaths.absolute(stateDir))
            ledger = UsageLedger(path: directory + "/usage.sqlite", logger: logger) { keyMetrics.droppedRecords($0) }
        } else {
            ledger = nil
        }
    }

    /// Opens the ledger and restores today's spending (for `daily_quota`).
    func open() async {
        guard let ledger else { return }
        await ledger.open()
        let now = now()
        let spent = await ledger.spent(since: Double(UsageLimiter.day(now)) * 86_400)
        limiter.withLock { $0.restore(spentToday: spent, now: now) }
    }

    /// Before a chat goes upstream: the key's and the tenant's limits. Throws the 429 (with
    /// `Retry-After`) or 403 the client gets.
    func admit(model: String, settings: TenantConfig) throws(APIError) {
        guard let observation = RequestObservation.current else { return }
        let key = observation.snapshot.key
        let keyLimits = key.flatMap { name in settings.keyPolicies.first { $0.name == name }?.limits } ?? UsageLimits()
        if keyLimits.isEmpty && settings.usageLimits.isEmpty { return }
        let now = now()
        let rejection = limiter.withLock {
            $0.admit(key: key, keyLimits: keyLimits, tenantLimits: settings.usageLimits, model: model, now: now)
        }
        guard let rejection else {
            observation.admitted()
            return
        }
        metrics.rejected(key: key ?? Self.noKey, limit: rejection.limit.rawValue)
        throw Self.error(for: rejection)
    }

    static func error(for rejection: LimitRejection) -> APIError {
        switch rejection.limit {
        case .models:
            return APIError(status: .forbidden, message: rejection.message, type: "permission_error", code: "model_not_allowed", param: "model")
        case .dailyQuota:
            return APIError(
                status: .tooManyRequests, message: rejection.message, type: "rate_limit_error", code: "insufficient_quota",
                headers: ["retry-after": String(rejection.retryAfter)])
        case .rpm, .maxConcurrent:
            return APIError(
                status: .tooManyRequests, message: rejection.message, type: "rate_limit_error", code: "rate_limit_exceeded",
                headers: ["retry-after": String(rejection.retryAfter)])
        }
    }

    /// An API request ended (called once, from `WorkerRuntime.observed`).
    func finished(_ observation: RequestObservation, seen: RequestObservation.State, status: UInt, duration: Duration) {
        let key = seen.key ?? Self.noKey
        let now = now()
        if seen.admitted || (seen.quotaSpent ?? 0) > 0 {
            limiter.withLock { l in
                if seen.admitted { l.finish(key: seen.key) }
                if let spent = seen.quotaSpent { l.spend(key: seen.key, units: spent, now: now) }
            }
        }
        metrics.finished(key: key, quotaSpent: seen.quotaSpent)
        ledger?.enqueue(UsageRecord(
            time: now, tenant: tenant, key: key, api: observation.api.rawValue, model: seen.model ?? "",
            profile: seen.profile ?? "", token: seen.token ?? "", status: Int(status), attempts: seen.attempts,
            durationMs: Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15,
            quotaSpent: seen.quotaSpent ?? 0, tokensIn: seen.tokensIn ?? 0, tokensOut: seen.tokensOut ?? 0
        ))
    }

    /// `GET /usage` of the control socket.
    func aggregate(by grouping: UsageGrouping, since: Double) async throws -> [UsageRow] {
        guard let ledger else { return [] }
        return try await ledger.aggregate(tenant: tenant, by: grouping, since: since)
    }
}

/// The ledger's writer and its daily pruning, as a service: it stops last (it is first in the
/// service list), so the requests the public server drains are still recorded.
struct UsageLedgerService: Service {
    let ledger: UsageLedger
    let retention: @Sendable () -> Duration
    let now: @Sendable () -> Double

    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await ledger.run() }
                group.addTask {
                    while !Task.isCancelled {
                        await ledger.prune(before: now() - Double(retention().components.seconds))
                        try? await Task.sleep(for: .seconds(86_400))
                    }
                }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            ledger.close()
        }
        await ledger.shutdown()
    }
}

/// `GET /usage?by=key|model|token|day&since=SECONDS_SINCE_1970` on the control socket: the
/// ledger's committed records, grouped (`[UsageRow]` as JSON).
enum UsageEndpoint {
    static func respond(_ request: ServerRequest, usage: UsageTracker, writer: ResponseWriter) async throws {
        let query = request.query
        guard let grouping = UsageGrouping(rawValue: query["by"] ?? "key") else {
            let known = UsageGrouping.allCases.map(\.rawValue).joined(separator: ", ")
            return try await writer.respond(APIError.invalidRequest("'by' must be one of \(known)", code: "invalid_grouping", param: "by"))
        }
        let since = query["since"].flatMap(Double.init) ?? 0
        let rows: [UsageRow]
        do {
            rows = try await usage.aggregate(by: grouping, since: since)
        } catch {
            return try await writer.respond(APIError(
                status: .serviceUnavailable, message: "the usage ledger cannot be read: \(error)", type: "server_error", code: "ledger_unavailable"))
        }
        try await writer.respond(status: .ok, json: String(decoding: try JSONEncoder.reports().encode(rows), as: UTF8.self))
    }
}
