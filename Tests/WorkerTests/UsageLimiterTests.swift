import NIOHTTP1
import Shared
import Testing
@testable import WorkerCore

/// The pure limit decision, with the clock passed in.
@Suite struct UsageLimiterTests {
    /// 2026-12-01 10:00:00 UTC.
    let t0 = 1_796_119_200.0

    @Test func rpmIsASlidingWindow() {
        var limiter = UsageLimiter()
        let limits = UsageLimits(rpm: 3)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0) == nil)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0 + 10) == nil)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0 + 20) == nil)
        let rejected = limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0 + 30)
        #expect(rejected == LimitRejection(limit: .rpm, scope: .key, retryAfter: 30))
        // Another key is not affected.
        #expect(limiter.admit(key: "alice", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0 + 30) == nil)
        // A rejection is not counted: once the first admission leaves the window, one more fits.
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0 + 59.5)?.limit == .rpm)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0 + 60.5) == nil)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0 + 61)
            == LimitRejection(limit: .rpm, scope: .key, retryAfter: 9))
    }

    @Test func maxConcurrentCountsUntilFinished() {
        var limiter = UsageLimiter()
        let limits = UsageLimits(maxConcurrent: 2)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0) == nil)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0) == nil)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0)
            == LimitRejection(limit: .maxConcurrent, scope: .key, retryAfter: 1))
        limiter.finish(key: "ci")
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0) == nil)
        #expect(limiter.keys["ci"]?.inFlight == 2)
    }

    @Test func dailyQuotaResetsAtUTCMidnight() {
        var limiter = UsageLimiter()
        let limits = UsageLimits(dailyQuota: 10)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0) == nil)
        limiter.finish(key: "ci")
        limiter.spend(key: "ci", units: 6, now: t0)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0 + 1) == nil)
        limiter.finish(key: "ci")
        limiter.spend(key: "ci", units: 6, now: t0 + 1)
        // 10:00 UTC to midnight: 14 hours.
        let rejected = limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0 + 2)
        #expect(rejected == LimitRejection(limit: .dailyQuota, scope: .key, retryAfter: 14 * 3600 - 2))
        #expect(UsageLimiter.secondsToMidnight(t0) == 14 * 3600)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "m", now: t0 + 14 * 3600) == nil)
    }

    @Test func restoredSpendingCountsForToday() {
        var limiter = UsageLimiter()
        limiter.restore(spentToday: ["ci": 10, "alice": 3], now: t0)
        #expect(limiter.admit(key: "ci", keyLimits: UsageLimits(dailyQuota: 10), tenantLimits: UsageLimits(), model: "m", now: t0)?.limit == .dailyQuota)
        #expect(limiter.admit(key: "alice", keyLimits: UsageLimits(dailyQuota: 10), tenantLimits: UsageLimits(), model: "m", now: t0) == nil)
        // The tenant's total is the sum.
        #expect(limiter.admit(key: "bob", keyLimits: UsageLimits(), tenantLimits: UsageLimits(dailyQuota: 13), model: "m", now: t0)
            == LimitRejection(limit: .dailyQuota, scope: .tenant, retryAfter: 14 * 3600))
    }

    @Test func modelAllowList() {
        var limiter = UsageLimiter()
        let limits = UsageLimits(models: ["claude-*", "gpt-5"])
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "claude-4-sonnet", now: t0) == nil)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "gpt-5", now: t0) == nil)
        #expect(limiter.admit(key: "ci", keyLimits: limits, tenantLimits: UsageLimits(), model: "gpt-4o", now: t0)
            == LimitRejection(limit: .models, scope: .key, retryAfter: 0))
        #expect(limiter.admit(key: "ci", keyLimits: UsageLimits(), tenantLimits: UsageLimits(models: ["gpt-*"]), model: "claude-x", now: t0)?.scope == .tenant)
    }

    @Test func tenantLimitsCoverEveryKeyAndARejectionCountsNothing() {
        var limiter = UsageLimiter()
        let tenant = UsageLimits(rpm: 2)
        let key = UsageLimits(maxConcurrent: 5)
        #expect(limiter.admit(key: "a", keyLimits: key, tenantLimits: tenant, model: "m", now: t0) == nil)
        #expect(limiter.admit(key: "b", keyLimits: key, tenantLimits: tenant, model: "m", now: t0 + 1) == nil)
        #expect(limiter.admit(key: "c", keyLimits: key, tenantLimits: tenant, model: "m", now: t0 + 2)
            == LimitRejection(limit: .rpm, scope: .tenant, retryAfter: 58))
        // "c" was refused by the tenant: its own count did not move.
        #expect(limiter.keys["c"]?.inFlight ?? 0 == 0)
        #expect(limiter.tenant.inFlight == 2)
        // A tenant without keys is limited as a whole.
        #expect(limiter.admit(key: nil, keyLimits: UsageLimits(), tenantLimits: tenant, model: "m", now: t0 + 61) == nil)
    }

    @Test func errorsInTheCallersShapeNameTheLimit() {
        let rpm = UsageTracker.error(for: LimitRejection(limit: .rpm, scope: .key, retryAfter: 12))
        #expect(rpm.status == .tooManyRequests)
        #expect(rpm.headers.first(name: "retry-after") == "12")
        #expect(rpm.json.contains("'rpm'") && rpm.json.contains("rate_limit_exceeded"))
        #expect(AnthropicEncoder.anthropicError(rpm).1 == "rate_limit_error")
        let quota = UsageTracker.error(for: LimitRejection(limit: .dailyQuota, scope: .tenant, retryAfter: 100))
        #expect(quota.message.contains("the tenant's 'daily_quota'"))
        let model = UsageTracker.error(for: LimitRejection(limit: .models, scope: .key, retryAfter: 0))
        #expect(model.status == .forbidden)
        #expect(model.headers.first(name: "retry-after") == nil)
        #expect(AnthropicEncoder.anthropicError(model).1 == "permission_error")
    }

    @Test func authenticatorSaysWhichKeyMatched() {
        let auth = ClientAuthenticator(keys: ["sk-a", "", "sk-b", "sk-a"], names: ["alice", "empty", "bob", "again"])
        #expect(auth.matchedName(HTTPHeaders([("authorization", "Bearer sk-b")])) == "bob")
        #expect(auth.matchedName(HTTPHeaders([("x-api-key", "sk-a")])) == "alice")
        #expect(auth.matchedName(HTTPHeaders([("x-api-key", "sk-c")])) == nil)
        #expect(auth.matchedKey(HTTPHeaders([("x-api-key", "sk-b")])) == 2)
        let unnamed = ClientAuthenticator(keys: ["sk-z"])
        #expect(unnamed.matchedName(HTTPHeaders([("x-api-key", "sk-z")])) == ClientKeyPolicy.defaultName(for: "sk-z"))
    }
}
