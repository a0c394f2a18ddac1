import Foundation
import Shared
import Testing
@testable import WorkerCore

@Suite struct TokenHealthTests {
    let now = Date(timeIntervalSince1970: 1_700_000_000)
    let policy = CooldownPolicy(upstreamFailureBase: 2, forbiddenBase: 30, rateLimitBase: 5, cap: 60, unknownQuotaReset: 3600)

    func failing(_ n: Int) -> TokenStatus {
        var s = TokenStatus()
        for _ in 0..<n { s = s.applying(.upstreamFailure("boom"), now: now, policy: policy) }
        return s
    }

    @Test func successResetsFailures() {
        let s = failing(3).applying(.success, now: now, policy: policy)
        #expect(s == TokenStatus(health: .healthy, consecutiveFailures: 0))
    }

    @Test func unauthorizedMakesInvalid() {
        let s = TokenStatus().applying(.unauthorized, now: now, policy: policy)
        guard case .invalid = s.health else {
            Issue.record("expected invalid, got \(s.health)")
            return
        }
        #expect(s.consecutiveFailures == 1)
        #expect(!s.health.isUsable(at: now))
        #expect(!s.health.isUsable(at: now.addingTimeInterval(1_000_000)))
        #expect(s.health.state == .invalid)
        #expect(s.health.until == nil)
    }

    @Test func quotaExhaustedWithKnownReset() {
        let reset = now.addingTimeInterval(7200)
        let s = TokenStatus().applying(.quotaExhausted(until: reset), now: now, policy: policy)
        #expect(s.health == .quotaExhausted(until: reset))
        #expect(s.health.state == .quotaExhausted)
        #expect(!s.health.isUsable(at: now))
        #expect(s.health.isUsable(at: reset))
    }

    @Test func quotaExhaustedWithUnknownResetUsesPolicy() {
        let s = TokenStatus().applying(.quotaExhausted(until: nil), now: now, policy: policy)
        #expect(s.health == .quotaExhausted(until: now.addingTimeInterval(3600)))
    }

    @Test func forbiddenCoolsDownWithForbiddenBase() {
        let s = TokenStatus().applying(.forbidden, now: now, policy: policy)
        guard case .coolingDown(let until, _) = s.health else {
            Issue.record("expected cooling down, got \(s.health)")
            return
        }
        #expect(until == now.addingTimeInterval(30))
        #expect(s.consecutiveFailures == 1)
        #expect(s.health.state == .coolingDown)
    }

    @Test func rateLimitedHonoursRetryAfter() {
        let s = TokenStatus().applying(.rateLimited(retryAfter: 17), now: now, policy: policy)
        #expect(s.health.until == now.addingTimeInterval(17))
        #expect(s.health.state == .coolingDown)
    }

    @Test func rateLimitedWithoutRetryAfterBacksOffFromRateLimitBase() {
        var s = TokenStatus().applying(.rateLimited(retryAfter: nil), now: now, policy: policy)
        #expect(s.health.until == now.addingTimeInterval(5))
        s = s.applying(.rateLimited(retryAfter: nil), now: now, policy: policy)
        #expect(s.health.until == now.addingTimeInterval(10))
    }

    @Test func upstreamFailureBackoffDoublesUpToCap() {
        var s = TokenStatus()
        var delays: [TimeInterval] = []
        for _ in 0..<8 {
            s = s.applying(.upstreamFailure("502"), now: now, policy: policy)
            delays.append(s.health.until!.timeIntervalSince(now))
        }
        #expect(delays == [2, 4, 8, 16, 32, 60, 60, 60])
        #expect(s.consecutiveFailures == 8)
        guard case .coolingDown(_, let reason) = s.health else {
            Issue.record("expected cooling down")
            return
        }
        #expect(reason == "502")
    }

    @Test func backoffNeverOverflowsForHugeFailureCounts() {
        let p = CooldownPolicy()
        #expect(p.backoff(base: 2, failures: 10_000) == p.cap)
        #expect(p.backoff(base: 2, failures: 0) == 2)
        #expect(p.backoff(base: 2, failures: 1) == 2)
    }

    @Test func probeHealthyRestoresCoolingDownButKeepsTheFailureRun() {
        let s = failing(2).applying(.probeHealthy, now: now, policy: policy)
        #expect(s == TokenStatus(health: .healthy, consecutiveFailures: 2))
        // The next real failure therefore cools down longer (2 s, 4 s, then 8 s).
        let again = s.applying(.upstreamFailure("HTTP 500"), now: now, policy: policy)
        #expect(again.health == .coolingDown(until: now.addingTimeInterval(8), reason: "HTTP 500"))
    }

    @Test func probeHealthyRestoresQuotaExhausted() {
        let exhausted = TokenStatus().applying(.quotaExhausted(until: nil), now: now, policy: policy)
        let s = exhausted.applying(.probeHealthy, now: now, policy: policy)
        #expect(s.health == .healthy)
    }

    @Test func probeDoesNotCutARetryAfterShort() {
        let limited = TokenStatus().applying(.rateLimited(retryAfter: 30), now: now, policy: policy)
        #expect(limited.applying(.probeHealthy, now: now.addingTimeInterval(1), policy: policy) == limited)
        let later = limited.applying(.probeHealthy, now: now.addingTimeInterval(31), policy: policy)
        #expect(later.health == .healthy)
    }

    @Test func probeDoesNotCutAForbiddenCooldownShort() {
        let forbidden = TokenStatus().applying(.forbidden, now: now, policy: policy)
        #expect(forbidden.applying(.probeHealthy, now: now.addingTimeInterval(1), policy: policy) == forbidden)
    }

    @Test func probeDoesNotReviveAnInvalidJWT() {
        let invalid = TokenStatus().applying(.unauthorized, now: now, policy: policy)
        #expect(invalid.applying(.probeHealthy, now: now, policy: policy) == invalid)
    }

    @Test func realSuccessResetsEverything() {
        let s = failing(3).applying(.success, now: now, policy: policy)
        #expect(s == TokenStatus())
    }

    @Test(arguments: [0, 1, 3])
    func cancelledChangesNothing(failures: Int) {
        let before = failing(failures)
        #expect(before.applying(.cancelled, now: now.addingTimeInterval(999), policy: policy) == before)
        let invalid = TokenStatus().applying(.unauthorized, now: now, policy: policy)
        #expect(invalid.applying(.cancelled, now: now, policy: policy) == invalid)
    }

    @Test func isUsable() {
        let until = now.addingTimeInterval(10)
        #expect(TokenHealth.healthy.isUsable(at: now))
        #expect(!TokenHealth.coolingDown(until: until, reason: "x").isUsable(at: now))
        #expect(!TokenHealth.coolingDown(until: until, reason: "x").isUsable(at: until.addingTimeInterval(-0.001)))
        #expect(TokenHealth.coolingDown(until: until, reason: "x").isUsable(at: until))
        #expect(TokenHealth.coolingDown(until: until, reason: "x").isUsable(at: until.addingTimeInterval(1)))
        #expect(TokenHealth.quotaExhausted(until: until).isUsable(at: until.addingTimeInterval(1)))
        #expect(!TokenHealth.invalid(reason: "x").isUsable(at: now))
    }
}
