import Foundation
import Logging
import Shared
import Synchronization

/// Identifies a JWT across reloads: the credential itself (or the license it comes from).
struct TokenKey: Hashable, Sendable {
    var raw: String

    init(_ source: TokenSource) {
        switch source {
        case .jwt(let jwt): raw = "jwt:" + jwt
        case .license(let id, let authorization): raw = "license:" + id + "\u{0}" + authorization
        // The configured refresh token: a rotated one does not change which token this is.
        case .licenseRefresh(let id, let refreshToken): raw = "license-refresh:" + id + "\u{0}" + refreshToken
        }
    }
}

/// A JWT handed out for one upstream attempt; give it back with `TokenPool.complete`.
struct Lease: Sendable {
    var key: TokenKey
    var name: String
    var jwt: String
    var isLicense: Bool
}

/// The one owner of every JWT's state. Selection and transitions happen under its lock;
/// it never sees HTTP.
final class TokenPool: Sendable {
    struct Record: Sendable {
        var config: TokenConfig
        var key: TokenKey
        var jwt: String?
        var status = TokenStatus()
        var inFlight = 0
        var successes = 0
        var failures = 0
        var lastError: String?
        var lastUsed: Date?
        var currentWeight = 0
        var quota: QuotaReport?
        /// A license JWT already refreshed after a 401: the next 401 makes it invalid.
        var refreshedAfterUnauthorized = false

        var isLicense: Bool {
            switch config.source {
            case .jwt: return false
            case .license, .licenseRefresh: return true
            }
        }
    }

    struct State: Sendable {
        var records: [Record] = []
        /// Session affinity (Claude Code's `X-Claude-Code-Session-Id`): session → the JWT it
        /// last used, with when; bounded by `maxSessions`.
        var sessions: [String: (key: TokenKey, at: Date)] = [:]
        var strategy: BalanceStrategy = .roundRobin
        var policy = CooldownPolicy()
    }

    private let state: Mutex<State>
    private let logger: Logger
    private let clock: @Sendable () -> Date
    private let random: @Sendable () -> Double

    init(
        tokens: [TokenConfig],
        strategy: BalanceStrategy,
        policy: CooldownPolicy = .init(),
        logger: Logger,
        clock: @escaping @Sendable () -> Date = { Date() },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        var s = State()
        s.strategy = strategy
        s.policy = policy
        s.records = Self.unique(tokens, logger: logger).map { Self.makeRecord($0) }
        self.state = Mutex(s)
        self.logger = logger
        self.clock = clock
        self.random = random
    }

    /// The same JWT listed twice would be one credential counted twice: keep the first.
    private static func unique(_ tokens: [TokenConfig], logger: Logger) -> [TokenConfig] {
        var seen = Set<TokenKey>()
        return tokens.filter { config in
            guard seen.insert(TokenKey(config.source)).inserted else {
                logger.warning("JWT listed twice, using it once", metadata: ["token": "\(config.name)"])
                return false
            }
            return true
        }
    }

    private static func makeRecord(_ config: TokenConfig) -> Record {
        var record = Record(config: config, key: TokenKey(config.source))
        if case .jwt(let jwt) = config.source { record.jwt = jwt }
        return record
    }

    var strategy: BalanceStrategy { state.withLock { $0.strategy } }
    var count: Int { state.withLock { $0.records.count } }

    /// Replaces the configuration; a JWT that stays keeps its state and counters.
    func update(tokens: [TokenConfig], strategy: BalanceStrategy) {
        state.withLock { s in
            var old: [TokenKey: Record] = [:]
            for r in s.records { old[r.key] = r }
            s.records = Self.unique(tokens, logger: logger).map { config in
                let key = TokenKey(config.source)
                guard var kept = old[key] else { return Self.makeRecord(config) }
                kept.config = config
                return kept
            }
            s.strategy = strategy
        }
    }

    /// Leases the best usable JWT not in `excluding` (JWT values already tried for this request).
    /// Most sessions remembered for affinity; past it the least recently used are forgotten.
    static let maxSessions = 10_000

    /// A usable JWT not in `tried`, by the pool's strategy — or, for a `session` seen before,
    /// the JWT that session used last while that JWT is usable.
    func lease(excluding tried: Set<String> = [], session: String? = nil) -> Lease? {
        let now = clock()
        let r = random()
        return state.withLock { s -> Lease? in
            var index: Int?
            if let session, let remembered = s.sessions[session],
               let i = s.records.firstIndex(where: { $0.key == remembered.key }),
               let jwt = s.records[i].jwt, !tried.contains(jwt), s.records[i].status.health.isUsable(at: now)
            {
                index = i
            } else {
                let candidates = s.records.indices.compactMap { i -> Selection.Candidate? in
                    let rec = s.records[i]
                    guard let jwt = rec.jwt, !tried.contains(jwt), rec.status.health.isUsable(at: now) else { return nil }
                    return .init(index: i, priority: rec.config.priority, weight: rec.config.weight,
                                 inFlight: rec.inFlight, currentWeight: rec.currentWeight)
                }
                guard let choice = Selection.choose(candidates, strategy: s.strategy, random: r) else { return nil }
                for (i, w) in choice.currentWeights { s.records[i].currentWeight = w }
                index = choice.index
            }
            guard let index else { return nil }
            s.records[index].inFlight += 1
            s.records[index].lastUsed = now
            let rec = s.records[index]
            if let session {
                s.sessions[session] = (rec.key, now)
                if s.sessions.count > Self.maxSessions {
                    let oldest = s.sessions.sorted { $0.value.at < $1.value.at }.prefix(Self.maxSessions / 10)
                    for (name, _) in oldest { s.sessions.removeValue(forKey: name) }
                }
            }
            return Lease(key: rec.key, name: rec.config.name, jwt: rec.jwt!, isLicense: rec.isLicense)
        }
    }

    /// Returns a lease with what happened.
    func complete(_ lease: Lease, outcome: TokenOutcome, error: String? = nil) {
        record(key: lease.key, jwt: lease.jwt, outcome: outcome, error: error, releasing: true)
    }

    /// Feeds an outcome that did not come from a lease (the probe).
    func observe(key: TokenKey, jwt: String, outcome: TokenOutcome, error: String? = nil, quota: QuotaReport? = nil) {
        record(key: key, jwt: jwt, outcome: outcome, error: error, releasing: false, quota: quota)
    }

    private func record(
        key: TokenKey, jwt: String, outcome: TokenOutcome, error: String?, releasing: Bool,
        quota: QuotaReport? = nil
    ) {
        let now = clock()
        let change: (name: String, fingerprint: String, before: TokenHealth, after: TokenHealth, failures: Int)? = state.withLock { s in
            guard let i = s.records.firstIndex(where: { $0.key == key }) else { return nil }
            if releasing { s.records[i].inFlight = max(0, s.records[i].inFlight - 1) }
            // An outcome for a JWT that was replaced meanwhile (license refresh) says nothing about the new one.
            guard s.records[i].jwt == jwt else { return nil }
            if let quota { s.records[i].quota = quota }
            let before = s.records[i].status.health
            s.records[i].status = s.records[i].status.applying(outcome, now: now, policy: s.policy)
            switch outcome {
            case .success:
                s.records[i].successes += 1
                s.records[i].refreshedAfterUnauthorized = false
            case .probeHealthy, .cancelled:
                break
            case .requestRejected(let reason):
                s.records[i].lastError = error ?? reason
            default:
                s.records[i].failures += 1
                s.records[i].lastError = error ?? "\(outcome)"
            }
            let after = s.records[i].status.health
            return (s.records[i].config.name, fingerprint(jwt), before, after, s.records[i].status.consecutiveFailures)
        }
        guard let change, change.before.state != change.after.state else { return }
        if change.after == .healthy {
            logger.info("JWT token marked as healthy: \(change.fingerprint)", metadata: ["token": "\(change.name)"])
        } else {
            logger.warning(
                "JWT token marked as unhealthy: \(change.fingerprint) (errors: \(change.failures))",
                metadata: ["token": "\(change.name)", "state": "\(change.after.state.rawValue)"]
            )
        }
    }

    /// Takes over JWT health from a worker this one replaces (matched by token name).
    func restore(_ carried: [CarriedTokenState]) {
        let now = clock()
        state.withLock { s in
            for c in carried {
                guard let i = s.records.firstIndex(where: { $0.config.name == c.name }) else { continue }
                let health: TokenHealth
                switch c.state {
                case .coolingDown: health = .coolingDown(until: c.until ?? now, reason: c.lastError ?? "carried over")
                case .quotaExhausted: health = .quotaExhausted(until: c.until ?? now)
                case .invalid: health = .invalid(reason: c.lastError ?? "invalid before the worker was replaced")
                case .healthy, .pending, .unknown: health = .healthy
                }
                s.records[i].status.health = health
                s.records[i].status.consecutiveFailures = c.consecutiveFailures
                s.records[i].lastError = c.lastError
            }
        }
    }

    /// Installs a JWT fetched from a license.
    func install(jwt: String, for key: TokenKey) {
        state.withLock { s in
            guard let i = s.records.firstIndex(where: { $0.key == key }) else { return }
            s.records[i].jwt = jwt
            if case .invalid = s.records[i].status.health { s.records[i].status = TokenStatus() }
        }
    }

    /// Marks that a license JWT was refreshed because of a 401; returns false if that already
    /// happened since the last success (then the 401 stands).
    func claimUnauthorizedRefresh(for key: TokenKey) -> Bool {
        state.withLock { s in
            guard let i = s.records.firstIndex(where: { $0.key == key }), !s.records[i].refreshedAfterUnauthorized else { return false }
            s.records[i].refreshedAfterUnauthorized = true
            return true
        }
    }

    /// Marks a JWT invalid without a lease (e.g. its license could not be refreshed).
    func invalidate(key: TokenKey, reason: String) {
        let name: String? = state.withLock { s in
            guard let i = s.records.firstIndex(where: { $0.key == key }) else { return nil }
            s.records[i].status.health = .invalid(reason: reason)
            s.records[i].failures += 1
            s.records[i].lastError = reason
            return s.records[i].config.name
        }
        if let name { logger.warning("JWT token marked as unhealthy: \(name) (\(reason))") }
    }

    /// Snapshot of every JWT (for the prober and the license refresher).
    func snapshot() -> [Record] { state.withLock { $0.records } }

    var usableCount: Int {
        let now = clock()
        return state.withLock { $0.records.filter { $0.jwt != nil && $0.status.health.isUsable(at: now) }.count }
    }

    var inFlight: Int { state.withLock { $0.records.reduce(0) { $0 + $1.inFlight } } }

    func report() -> [TokenReport] {
        let now = clock()
        return state.withLock { s in
            s.records.map { r in
                var state = r.status.health.state
                if r.jwt == nil { state = .pending }
                else if r.status.health != .healthy && r.status.health.isUsable(at: now) { state = .healthy }
                return TokenReport(
                    name: r.config.name,
                    fingerprint: r.jwt.map(fingerprint) ?? "(license not fetched yet)",
                    state: state,
                    until: state == .healthy ? nil : r.status.health.until,
                    priority: r.config.priority,
                    weight: r.config.weight,
                    inFlight: r.inFlight,
                    successes: r.successes,
                    failures: r.failures,
                    consecutiveFailures: r.status.consecutiveFailures,
                    lastError: r.lastError,
                    lastUsed: r.lastUsed,
                    source: r.isLicense ? "license" : "jwt",
                    metadata: r.config.metadata,
                    quota: r.quota
                )
            }
        }
    }
}
