import Metrics
import Shared

import class Prometheus.PrometheusCollectorRegistry
import struct Prometheus.PrometheusMetricsFactory

/// The supervisor's own families (swift-metrics API, Prometheus text exposition):
/// `jbai_worker_up`, `jbai_worker_restarts_total`, `jbai_worker_state`, `jbai_reloads_total`,
/// `jbai_events_total`. Series are made once per label set and kept; the per-tenant gauges are set
/// from the reconciler's view at scrape time. Only the runtime actor uses it.
struct FleetMetrics {
    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private var reloads: [String: Metrics.Counter] = [:]
    private var events: [FleetHistoryEvent.Kind: Metrics.Counter] = [:]
    private var tenants: [String: TenantSeries] = [:]

    private struct TenantSeries {
        var up: Metrics.Gauge
        var restarts: Metrics.Counter
        /// What `restarts` has counted so far (the reconciler keeps the running total).
        var counted: Int
        var states: [SlotState: Metrics.Gauge]
    }

    /// What the scrape needs to know of one tenant.
    struct TenantView: Sendable, Equatable {
        var name: String
        var state: SlotState
        var restarts: Int
        /// Its serving worker answered the last heartbeat.
        var up: Bool
    }

    init() {
        factory = PrometheusMetricsFactory(registry: registry)
        for result in ["applied", "rejected"] {
            reloads[result] = Metrics.Counter(label: "jbai_reloads_total", dimensions: [("result", result)], factory: factory)
        }
    }

    /// A history event: counts reloads and events by kind.
    mutating func record(_ event: FleetHistoryEvent) {
        switch event.kind {
        case .reloadApplied: reloads["applied"]?.increment()
        case .reloadRejected: reloads["rejected"]?.increment()
        default: break
        }
        let counter = events[event.kind] ?? Metrics.Counter(
            label: "jbai_events_total", dimensions: [("kind", event.kind.rawValue)], factory: factory
        )
        events[event.kind] = counter
        counter.increment()
    }

    /// Sets the per-tenant series from `views` (removing those of tenants gone) and renders.
    mutating func exposition(_ views: [TenantView]) -> String {
        var seen = Set<String>()
        for view in views {
            seen.insert(view.name)
            var series = tenants[view.name] ?? makeSeries(view.name)
            series.up.record(view.up ? 1 : 0)
            if view.restarts > series.counted {
                series.restarts.increment(by: view.restarts - series.counted)
            }
            series.counted = max(series.counted, view.restarts)
            for (state, gauge) in series.states { gauge.record(state == view.state ? 1 : 0) }
            tenants[view.name] = series
        }
        for (name, series) in tenants where !seen.contains(name) {
            series.up.destroy()
            series.restarts.destroy()
            for gauge in series.states.values { gauge.destroy() }
            tenants.removeValue(forKey: name)
        }
        return registry.emitToString()
    }

    private func makeSeries(_ tenant: String) -> TenantSeries {
        var states: [SlotState: Metrics.Gauge] = [:]
        for state in SlotState.allCases {
            states[state] = Metrics.Gauge(
                label: "jbai_worker_state", dimensions: [("tenant", tenant), ("state", state.rawValue)], factory: factory
            )
        }
        return TenantSeries(
            up: Metrics.Gauge(label: "jbai_worker_up", dimensions: [("tenant", tenant)], factory: factory),
            restarts: Metrics.Counter(label: "jbai_worker_restarts_total", dimensions: [("tenant", tenant)], factory: factory),
            counted: 0,
            states: states
        )
    }
}
