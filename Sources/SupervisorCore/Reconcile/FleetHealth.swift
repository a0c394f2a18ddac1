import Foundation
import Shared

/// The unified health document, from the reconciler's state. `wallNow` is the same moment as
/// `now` on the wall clock, to date `last_exit`.
extension FleetReconciler {
    func health(now: ContinuousClock.Instant, wallNow: Date) -> FleetHealth {
        let tenants = tenantHealth(now: now, wallNow: wallNow)
        let canServe = tenants.values.filter { $0.state == .running && $0.healthyTokens > 0 }.count
        let allGood = !tenants.isEmpty && tenants.values.allSatisfy {
            $0.state == .running && $0.status == .ok && $0.healthyTokens == $0.totalTokens
        }
        let status: HealthStatus = allGood ? .ok : (canServe > 0 ? .degraded : .down)
        return FleetHealth(status: status, healthyTenants: canServe, totalTenants: tenants.count, tenants: tenants)
    }

    func tenantHealth(now: ContinuousClock.Instant, wallNow: Date) -> [String: TenantHealth] {
        var result: [String: TenantHealth] = [:]
        for name in order {
            guard let slot = slots[name] else { continue }
            let state = slot.state(shuttingDown: isShuttingDown)
            let current = slot.current
            let report = current?.report
            // A report older than the heartbeat timeout says nothing about now.
            let fresh = current?.lastHeartbeat.map { now - $0 <= settings.heartbeatTimeout } ?? false
            let status: HealthStatus = fresh
                ? (report.flatMap { HealthStatus(rawValue: $0.status) } ?? .unknown)
                : (state == .running ? .unknown : .down)
            result[name] = TenantHealth(
                state: state,
                pid: current?.pid,
                uptimeS: current.map { ((now - $0.startedAt).seconds * 10).rounded() / 10 },
                restarts: slot.restarts,
                lastExit: slot.lastExit.map { ExitInfo($0.exit, at: wallNow - (now - $0.at).seconds) },
                listen: slot.bound.description,
                status: status,
                healthyTokens: fresh ? (report?.healthyTokens ?? 0) : 0,
                totalTokens: report?.totalTokens ?? slot.desired.tokens.count,
                strategy: slot.desired.strategy.rawValue,
                tokens: report?.tokens.map {
                    TokenBrief(
                        name: $0.name, fingerprint: $0.fingerprint, state: $0.state, until: $0.until,
                        quotaRemaining: $0.quota?.remaining, inFlight: $0.inFlight
                    )
                }
                    ?? slot.desired.tokens.map { TokenBrief(name: $0.name, fingerprint: Self.fingerprint(of: $0.source), state: .unknown) },
                requestsInFlight: fresh ? report?.requestsInFlight : nil,
                detail: slot.detail ?? slot.backoffUntil.map { "restarting in \(Self.seconds(max(.zero, $0 - now), digits: 1))s" },
                requestsPerSecond: fresh ? slot.rate.perSecond(now: now).map { ($0 * 100).rounded() / 100 } : nil,
                errorRate: fresh ? slot.rate.errorRate.map { ($0 * 1000).rounded() / 1000 } : nil
            )
        }
        return result
    }

    /// Each tenant's state for the metrics, with the worker whose metrics stand for it: the
    /// serving one, when it answered its last heartbeat (a hung or stopped one does not).
    func metricsViews(now: ContinuousClock.Instant) -> [(view: FleetMetrics.TenantView, worker: WorkerID?)] {
        order.compactMap { name in
            guard let slot = slots[name] else { return nil }
            var serving: WorkerID?
            if let current = slot.current, current.answeredAt != nil, current.missedHeartbeats == 0,
               current.killReason == nil, let last = current.lastHeartbeat, now - last <= settings.heartbeatTimeout {
                serving = current.id
            }
            let view = FleetMetrics.TenantView(
                name: name, state: slot.state(shuttingDown: isShuttingDown), restarts: slot.restarts, up: serving != nil
            )
            return (view, serving)
        }
    }

    static func fingerprint(of source: TokenSource) -> String {
        switch source {
        case .jwt(let jwt): return Shared.fingerprint(jwt)
        case .license(let id, _), .licenseRefresh(let id, _): return "license " + Shared.fingerprint(id)
        }
    }
}
