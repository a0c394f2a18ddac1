import Foundation
import Logging
import ServiceLifecycle
import Shared

/// The active health check: every interval, ask the quota endpoint about each JWT. It spends
/// no LLM quota (the seed proxy sent a chat message per JWT instead) and feeds the same
/// transition function as real requests, bringing cooled-down and exhausted JWTs back.
struct HealthProber: Service {
    var pool: TokenPool
    var upstream: @Sendable () -> UpstreamClient
    var licenses: LicenseManager
    var interval: @Sendable () -> Duration
    var logger: Logger

    /// A service of the worker's group: runs until the group shuts down gracefully.
    func run() async {
        await cancelWhenGracefulShutdown {
            await self.loop()
        }
    }

    func loop() async {
        logger.info("JWT health checker started")
        while !Task.isCancelled {
            await probeAll()
            try? await Task.sleep(for: interval())
        }
    }

    func probeAll() async {
        let records = pool.snapshot()
        await withTaskGroup(of: Void.self) { group in
            for record in records {
                guard let jwt = record.jwt else { continue }
                if case .invalid = record.status.health { continue }
                group.addTask { await probe(record, jwt: jwt) }
            }
        }
        logger.info("Health check completed: \(pool.usableCount)/\(pool.count) tokens healthy")
    }

    func probe(_ record: TokenPool.Record, jwt: String) async {
        let outcome: TokenOutcome
        var quota: QuotaReport?
        var error: String?
        do {
            switch try await upstream().quota(jwt: jwt) {
            case .available(let report):
                outcome = .probeHealthy
                quota = report
            case .exhausted(let report, let until):
                outcome = .quotaExhausted(until: until)
                quota = report
                error = "quota exhausted"
            case .status(let code, let retryAfter):
                error = "quota probe answered \(code)"
                outcome = TokenOutcome.forStatus(code, retryAfter: retryAfter)
            }
        } catch let e {
            outcome = .upstreamFailure("quota probe failed")
            error = "quota probe failed: \(e)"
        }
        if outcome == .unauthorized, record.isLicense {
            // A license JWT gets a fresh one instead of being declared invalid.
            if await licenses.refresh(record.key) { return }
        }
        pool.observe(key: record.key, jwt: jwt, outcome: outcome, error: error, quota: quota)
    }
}
