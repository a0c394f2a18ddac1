import Shared

/// supervisord's process states, plus `backoff` between crashes and `fatal` after too many
/// (OTP's restart intensity).
///
///     stopped ─start─▶ starting ─answers─▶ running ─stop─▶ stopping ─exits─▶ stopped
///                         ▲                   │ crashes
///                         └──── backoff ◀─────┘ ── too many within the window ──▶ fatal
///
/// The state is never stored: `Slot.state` derives it from the facts (is a worker there, has it
/// answered, is it wanted, did it crash too often), so it cannot disagree with them.
enum SlotState: String, Codable, Sendable, CaseIterable {
    case starting, running, backoff, stopping, stopped, fatal
}

/// One worker process of a slot, as the reconciler knows it.
struct Worker: Sendable, Equatable {
    var id: WorkerID
    /// Known once `.spawned` arrives (at once: spawning is synchronous).
    var pid: Int32?
    var listener: ListenerID
    /// What it was started with; a slot whose `revision` moved on replaces it.
    var revision: Int
    var settings: TenantConfig
    var startedAt: ContinuousClock.Instant
    /// When its control socket first answered.
    var answeredAt: ContinuousClock.Instant?
    var lastHeartbeat: ContinuousClock.Instant?
    var lastProbe: ContinuousClock.Instant?
    var probeInFlight = false
    /// When the oldest probe it has not answered went out (nil once it answers): the worker is
    /// hung when this is older than `heartbeat_timeout` — never merely because no probe was sent.
    var unansweredSince: ContinuousClock.Instant?
    /// Heartbeats missed since the last one answered.
    var missedHeartbeats = 0
    var report: WorkerHealth?
    var pause = Pause.accepting
    var drainRequestedAt: ContinuousClock.Instant?
    var killReason: String?
    /// Started paused while the supervisor answered its listener: it takes connections once
    /// the supervisor hands the listener over (after it answers).
    var awaitingHandOver = false

    enum Pause: Sendable, Equatable {
        case accepting, requested, paused
    }

    var pidText: String { pid.map(String.init) ?? "?" }
}

/// A tenant's place in the fleet: what is wanted for it and the workers serving it.
struct Slot: Sendable, Equatable {
    var name: String
    /// The settings wanted now.
    var desired: TenantConfig
    /// Bumped when the desired settings change or `ctl restart` asks: a current worker of an
    /// older revision is replaced.
    var revision = 0
    var listener: ListenerID
    var bound: ListenAddress
    /// False after `ctl stop`.
    var wanted = true
    /// Gone from the fleet file: drains, then the slot goes.
    var removing = false
    /// Crashed too often: no restart until `ctl start` or a reload.
    var fatal = false
    /// The worker serving the tenant.
    var current: Worker?
    /// A replacement being started; it takes over once it answers, then `current` drains.
    var pending: Worker?
    /// Replaced workers finishing their requests.
    var retiring: [Worker] = []
    var restarts = 0
    var crashes = RestartHistory()
    var backoffUntil: ContinuousClock.Instant?
    /// A failed replacement is tried again no sooner than this.
    var replaceAfter: ContinuousClock.Instant?
    var lastExit: LastExit?
    /// The last health the current worker reported (kept across its exit) and the settings it
    /// ran with, so JWT states carry over to the next worker.
    var lastHealth: LastHealth?
    var detail: String?
    /// Requests and errors over the last heartbeats, for the status page's rates.
    var rate = RequestRate()
    /// Since when no worker serves the listener (nil while one does).
    var unservedSince: ContinuousClock.Instant?
    /// What the supervisor answers on the listener itself, while it does.
    var answering: BacklogNotice?

    init(name: String, desired: TenantConfig, listener: ListenerID, bound: ListenAddress) {
        self.name = name
        self.desired = desired
        self.listener = listener
        self.bound = bound
    }

    /// Wanted running, by its fleet file and by `ctl` (false while the supervisor shuts down).
    func isActive(shuttingDown: Bool) -> Bool { wanted && !removing && !shuttingDown }

    var workers: [Worker] { [current, pending].compactMap { $0 } + retiring }

    /// Whether a worker takes the listener's connections: the current one, answered, not
    /// killed or draining, on the slot's listener and not waiting for the hand-over. (One
    /// paused for a replacement counts: the replacement is starting on the same listener.)
    var isServed: Bool {
        guard let current else { return false }
        return current.answeredAt != nil && current.killReason == nil && current.drainRequestedAt == nil
            && current.listener == listener && !current.awaitingHandOver
    }

    func state(shuttingDown: Bool) -> SlotState {
        if fatal { return .fatal }
        guard isActive(shuttingDown: shuttingDown) else { return current == nil ? .stopped : .stopping }
        guard let current else { return backoffUntil == nil ? .starting : .backoff }
        if current.drainRequestedAt != nil { return .stopping }
        return current.answeredAt == nil ? .starting : .running
    }
}

struct LastExit: Sendable, Equatable {
    var exit: WorkerExit
    var at: ContinuousClock.Instant
}

struct LastHealth: Sendable, Equatable {
    var report: WorkerHealth
    var settings: TenantConfig
}
