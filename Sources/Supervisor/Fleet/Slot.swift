import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// supervisord's process states, plus `backoff` between crashes and `fatal` after too many
/// (OTP's restart intensity).
enum SlotState: String, Sendable {
    case starting, running, backoff, stopping, stopped, fatal
}

/// One running worker process of a tenant.
struct WorkerInstance: Sendable {
    var pid: pid_t
    var generation: Int
    var controlSocket: String
    var listener: ListenerSocket
    var stdinFD: CInt
    var startedAt: Date
    /// When its control socket first answered.
    var answeredAt: Date?
    /// Last successful heartbeat.
    var lastHeartbeat: Date?
    var lastHeartbeatAttempt: Date?
    var heartbeatInFlight = false
    var health: WorkerHealth?
    var drainRequestedAt: Date?
    var killReason: String?
}

/// A tenant's place in the fleet: its desired settings and the worker(s) serving them.
struct Slot: Sendable {
    var name: String
    var config: TenantConfig
    /// The settings the current worker was started with (differs from `config` mid-replacement).
    var currentConfig: TenantConfig?
    var listener: ListenerSocket
    var log: LogSink
    var state: SlotState = .stopped
    /// The worker serving the tenant.
    var current: WorkerInstance?
    /// A replacement being started (reload of changed settings, `ctl restart`); it takes over
    /// once its control socket answers, then `current` drains.
    var pending: WorkerInstance?
    /// Replaced workers finishing their requests.
    var retiring: [WorkerInstance] = []
    var restarts = 0
    var crashTimes: [Date] = []
    var backoffDelay: Duration?
    var backoffUntil: Date?
    var replaceAfter: Date?
    var lastExit: ExitInfo?
    /// The last health a worker of this slot reported (kept across its exit), so JWT states
    /// carry over to the next worker.
    var lastHealth: WorkerHealth?
    /// The settings the last health belongs to (token names may change with a reload).
    var lastHealthConfig: TenantConfig?
    /// A replacement is being prepared (the current worker is pausing its accepts).
    var replacing = false
    var detail: String?
    /// False after `ctl stop`, a removal, or supervisor shutdown.
    var wantRunning = true
    var removing = false

    var instances: [WorkerInstance] {
        [current, pending].compactMap { $0 } + retiring
    }
}
