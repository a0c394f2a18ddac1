import Foundation
import Shared

/// Which limit refused a request: the `limit` label of `jbai_limit_rejections_total`.
enum LimitKind: String, Sendable, CaseIterable {
    case rpm
    case maxConcurrent = "max_concurrent"
    case dailyQuota = "daily_quota"
    case models
}

/// Whose limit it was: the key's own or the tenant's (`limits:`).
enum LimitScope: String, Sendable {
    case key, tenant
}

/// A refused request: which limit, and when trying again can succeed (whole seconds, ≥ 1).
/// `models` refusals have no retry time (403).
struct LimitRejection: Sendable, Equatable {
    var limit: LimitKind
    var scope: LimitScope
    var retryAfter: Int

    /// Names the limit, never the key.
    var message: String {
        let whose = scope == .key ? "this API key's" : "the tenant's"
        switch limit {
        case .models:
            return "The model is not allowed for \(scope == .key ? "this API key" : "this tenant") (limit 'models')."
        case .rpm:
            return "Rate limit reached: \(whose) 'rpm' limit (requests per minute). Retry in \(retryAfter)s."
        case .maxConcurrent:
            return "Rate limit reached: \(whose) 'max_concurrent' limit (requests in flight). Retry in \(retryAfter)s."
        case .dailyQuota:
            return "Quota limit reached: \(whose) 'daily_quota' for today (UTC) is spent. Retry in \(retryAfter)s."
        }
    }
}

/// The decision of whether a request may go ahead under its key's and its tenant's limits:
/// pure state, the clock passed in (`now`: seconds since 1970, UTC). A worker keeps one behind
/// a lock; a reload passes the new limits with the next call and keeps what was counted.
///
/// - `rpm`: a sliding 60-second window of admitted requests.
/// - `max_concurrent`: admitted requests not yet `finish`ed.
/// - `daily_quota`: quota units `spend`t since the last UTC midnight; a request is admitted
///   while the day's spending is below the limit (so the last one may go over it).
/// - `models`: the model name the client asked for must match one of the globs.
struct UsageLimiter: Sendable {
    struct Usage: Sendable, Equatable {
        /// Admission times within the last window, oldest first.
        var admitted: [Double] = []
        var inFlight = 0
        /// The UTC day (days since 1970) `spent` counts for.
        var day = 0
        var spent = 0.0
    }

    /// The `rpm` window, in seconds: 60 (a test may shorten it).
    var window = 60.0
    private(set) var keys: [String: Usage] = [:]
    private(set) var tenant = Usage()

    static func day(_ now: Double) -> Int { Int((now / 86_400).rounded(.down)) }

    /// Seconds to the next UTC midnight, at least 1.
    static func secondsToMidnight(_ now: Double) -> Int {
        max(1, Int((Double(day(now) + 1) * 86_400 - now).rounded(.up)))
    }

    /// Admits the request (counting it) or says which limit refuses it (counting nothing).
    /// `key`: the matched key's name, nil on a tenant without keys.
    mutating func admit(key: String?, keyLimits: UsageLimits, tenantLimits: UsageLimits, model: String, now: Double) -> LimitRejection? {
        if let patterns = keyLimits.models, key != nil, !patterns.contains(where: { globMatches($0, model) }) {
            return LimitRejection(limit: .models, scope: .key, retryAfter: 0)
        }
        if let patterns = tenantLimits.models, !patterns.contains(where: { globMatches($0, model) }) {
            return LimitRejection(limit: .models, scope: .tenant, retryAfter: 0)
        }
        var keyUsage = key.map { keys[$0] ?? Usage() }
        if var usage = keyUsage {
            if let rejection = Self.check(&usage, keyLimits, scope: .key, window: window, now: now) { keys[key!] = usage; return rejection }
            keyUsage = usage
        }
        if let rejection = Self.check(&tenant, tenantLimits, scope: .tenant, window: window, now: now) {
            if let key, let keyUsage { keys[key] = keyUsage }
            return rejection
        }
        if let key, var usage = keyUsage {
            Self.count(&usage, now: now, keep: keyLimits.rpm != nil)
            keys[key] = usage
        }
        Self.count(&tenant, now: now, keep: tenantLimits.rpm != nil)
        return nil
    }

    /// Forgets window entries that have passed and a day that is over (it mutates only what
    /// time has already made stale), then checks the limits.
    private static func check(
        _ usage: inout Usage, _ limits: UsageLimits, scope: LimitScope, window: Double, now: Double
    ) -> LimitRejection? {
        let cutoff = now - window
        if let first = usage.admitted.firstIndex(where: { $0 > cutoff }) {
            if first > 0 { usage.admitted.removeFirst(first) }
        } else {
            usage.admitted.removeAll()
        }
        let today = day(now)
        if usage.day != today {
            usage.day = today
            usage.spent = 0
        }
        if let limit = limits.maxConcurrent, usage.inFlight >= limit {
            return LimitRejection(limit: .maxConcurrent, scope: scope, retryAfter: 1)
        }
        if let limit = limits.rpm, usage.admitted.count >= limit {
            // The window frees a slot when the oldest of the last `limit` admissions leaves it.
            let oldest = usage.admitted[usage.admitted.count - limit]
            return LimitRejection(limit: .rpm, scope: scope, retryAfter: max(1, Int((oldest + window - now).rounded(.up))))
        }
        if let limit = limits.dailyQuota, usage.spent >= limit {
            return LimitRejection(limit: .dailyQuota, scope: scope, retryAfter: secondsToMidnight(now))
        }
        return nil
    }

    private static func count(_ usage: inout Usage, now: Double, keep: Bool) {
        usage.inFlight += 1
        // Without an rpm limit nothing reads the window: keep it empty.
        if keep { usage.admitted.append(now) }
    }

    /// An admitted request ended.
    mutating func finish(key: String?) {
        if let key, var usage = keys[key] {
            usage.inFlight = max(0, usage.inFlight - 1)
            keys[key] = usage
        }
        tenant.inFlight = max(0, tenant.inFlight - 1)
    }

    /// Quota a request spent (from `QuotaMetadata.spent`), counted for the UTC day of `now`.
    mutating func spend(key: String?, units: Double, now: Double) {
        guard units > 0, units.isFinite else { return }
        let today = Self.day(now)
        func add(_ usage: inout Usage) {
            if usage.day != today {
                usage.day = today
                usage.spent = 0
            }
            usage.spent += units
        }
        if let key {
            var usage = keys[key] ?? Usage()
            add(&usage)
            keys[key] = usage
        }
        add(&tenant)
    }

    /// Today's spending as the ledger has it (at start): by key name, and the tenant's total.
    mutating func restore(spentToday byKey: [String: Double], now: Double) {
        let today = Self.day(now)
        var total = 0.0
        for (key, spent) in byKey {
            var usage = keys[key] ?? Usage()
            usage.day = today
            usage.spent = spent
            keys[key] = usage
            total += spent
        }
        tenant.day = today
        tenant.spent = total
    }
}
