import Foundation
import Shared

/// The health of one JWT. Every change goes through `TokenStatus.applying(_:now:policy:)`.
enum TokenHealth: Sendable, Equatable {
    case healthy
    case coolingDown(until: Date, reason: String)
    case quotaExhausted(until: Date)
    case invalid(reason: String)

    var state: TokenState {
        switch self {
        case .healthy: return .healthy
        case .coolingDown: return .coolingDown
        case .quotaExhausted: return .quotaExhausted
        case .invalid: return .invalid
        }
    }

    var until: Date? {
        switch self {
        case .coolingDown(let until, _), .quotaExhausted(let until): return until
        case .healthy, .invalid: return nil
        }
    }

    /// Whether requests may use the JWT now. A cool-down or quota reset that has passed makes
    /// it usable again (half-open): the next outcome decides.
    func isUsable(at now: Date) -> Bool {
        switch self {
        case .healthy: return true
        case .coolingDown(let until, _), .quotaExhausted(let until): return until <= now
        case .invalid: return false
        }
    }
}

/// What happened when a JWT was used, by a real request (passive) or by the probe (active).
enum TokenOutcome: Sendable, Equatable {
    case success
    /// 401: the JWT is invalid or expired.
    case unauthorized
    /// 477, or the quota endpoint reports current ≥ maximum.
    case quotaExhausted(until: Date?)
    /// 403: public clients treat the JWT as valid; cool down without declaring it invalid.
    case forbidden
    /// 429, with `Retry-After` when given.
    case rateLimited(retryAfter: TimeInterval?)
    /// 5xx, connect error, timeout, broken stream.
    case upstreamFailure(String)
    /// The quota endpoint answered and shows quota left.
    case probeHealthy
    /// The client went away: says nothing about the JWT.
    case cancelled
    /// The upstream refused the request itself (400 unknown profile or rejected parameter,
    /// 404, 413, 422) or this host (451, region restriction): the JWT is fine, no cool-down.
    case requestRejected(String)

    /// What an upstream HTTP status (other than 200) says about the JWT that got it — for
    /// real requests and the quota probe alike.
    static func forStatus(_ code: Int, retryAfter: TimeInterval?) -> TokenOutcome {
        switch code {
        case 401: return .unauthorized
        case 403: return .forbidden
        case 429: return .rateLimited(retryAfter: retryAfter)
        case 477: return .quotaExhausted(until: nil)
        case 408, 500...599: return .upstreamFailure("HTTP \(code)")
        case 451: return .requestRejected("451 unavailable for legal reasons (region restriction)")
        case 400...499: return .requestRejected("HTTP \(code)")
        default: return .upstreamFailure("HTTP \(code)")
        }
    }
}

/// How long a failing JWT stays out: `base × 2^(consecutive failures − 1)`, at most `cap`
/// (Envoy's outlier ejection, growing with repeated failures).
struct CooldownPolicy: Sendable, Equatable {
    var upstreamFailureBase: TimeInterval = 2
    var forbiddenBase: TimeInterval = 30
    var rateLimitBase: TimeInterval = 5
    var cap: TimeInterval = 300
    /// Quota exhausted with no known reset time: try again after this long.
    var unknownQuotaReset: TimeInterval = 3600

    func backoff(base: TimeInterval, failures: Int) -> TimeInterval {
        let exponent = max(0, min(failures - 1, 20))
        return min(cap, base * pow(2, Double(exponent)))
    }
}

/// A JWT's health plus its run of consecutive failures.
struct TokenStatus: Sendable, Equatable {
    var health: TokenHealth = .healthy
    /// Failures of real requests since the last real success (the probe does not reset it, so
    /// a JWT that keeps failing chat gets ever longer cool-downs even while its quota probe passes).
    var consecutiveFailures = 0
    /// The upstream itself asked for the wait (429 `Retry-After`, 403): the probe must not cut it short.
    var cooldownRequestedByUpstream = false

    init(health: TokenHealth = .healthy, consecutiveFailures: Int = 0, cooldownRequestedByUpstream: Bool = false) {
        self.health = health
        self.consecutiveFailures = consecutiveFailures
        self.cooldownRequestedByUpstream = cooldownRequestedByUpstream
    }

    /// The transition function: the only place a JWT's health changes.
    func applying(_ outcome: TokenOutcome, now: Date, policy: CooldownPolicy = .init()) -> TokenStatus {
        var next = self
        switch outcome {
        case .cancelled, .requestRejected:
            return self
        case .success:
            next.health = .healthy
            next.consecutiveFailures = 0
            next.cooldownRequestedByUpstream = false
        case .probeHealthy:
            // The quota endpoint answers and shows quota left: a JWT cooling down after upstream
            // trouble or waiting for its quota reset is back — unless the upstream asked for the wait.
            if case .coolingDown(let until, _) = health, cooldownRequestedByUpstream, until > now { return self }
            if case .invalid = health { return self }
            next.health = .healthy
            next.cooldownRequestedByUpstream = false
        case .unauthorized:
            next.cooldownRequestedByUpstream = false
            next.consecutiveFailures += 1
            next.health = .invalid(reason: "401 unauthorized: JWT invalid or expired")
        case .quotaExhausted(let until):
            next.cooldownRequestedByUpstream = false
            next.consecutiveFailures += 1
            next.health = .quotaExhausted(until: until ?? now.addingTimeInterval(policy.unknownQuotaReset))
        case .forbidden:
            next.consecutiveFailures += 1
            let delay = policy.backoff(base: policy.forbiddenBase, failures: next.consecutiveFailures)
            next.health = .coolingDown(until: now.addingTimeInterval(delay), reason: "403 forbidden")
            next.cooldownRequestedByUpstream = true
        case .rateLimited(let retryAfter):
            next.consecutiveFailures += 1
            let delay = retryAfter ?? policy.backoff(base: policy.rateLimitBase, failures: next.consecutiveFailures)
            next.health = .coolingDown(until: now.addingTimeInterval(delay), reason: "429 rate limited")
            next.cooldownRequestedByUpstream = true
        case .upstreamFailure(let reason):
            next.consecutiveFailures += 1
            let delay = policy.backoff(base: policy.upstreamFailureBase, failures: next.consecutiveFailures)
            next.health = .coolingDown(until: now.addingTimeInterval(delay), reason: reason)
            next.cooldownRequestedByUpstream = false
        }
        return next
    }
}
