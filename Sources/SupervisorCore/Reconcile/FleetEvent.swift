import Shared

/// Names one worker process of a tenant for its whole life: the supervisor counts generations
/// across the fleet, so an id is never reused.
struct WorkerID: Hashable, Sendable, CustomStringConvertible {
    var tenant: String
    var generation: Int
    var description: String { "\(tenant)#\(generation)" }
}

/// Names one listening socket the supervisor owns.
struct ListenerID: Hashable, Sendable {
    var value: Int
}

/// How a worker process ended.
enum WorkerExit: Sendable, Equatable, CustomStringConvertible {
    case code(Int32)
    case signal(String)

    var description: String {
        switch self {
        case .code(let code): return "exit code \(code)"
        case .signal(let name): return "killed by \(name)"
        }
    }
}

/// A command from `ctl` (or the control socket) for one tenant.
enum TenantCommand: String, Sendable, CaseIterable {
    case start, stop, restart
}

/// Everything the reconciler learns: the desired state, what the runtime observed, the results
/// of the actions it asked for, and the passing of time.
enum FleetEvent: Sendable {
    /// A validated fleet file: at start-up and on every reload.
    case desired(FleetConfig)
    /// A reload whose file did not validate (or could not be read): nothing changes.
    case rejected(errors: [String])
    /// The answer to a `.bind`: every listener it asked for, with the address actually bound, or
    /// one message per listener that failed (then none was kept).
    case bound(Result<[ListenerID: ListenAddress], BindFailure>)
    case spawned(WorkerID, pid: Int32)
    case spawnFailed(WorkerID, reason: String)
    case exited(WorkerID, WorkerExit)
    /// A worker's control socket answered `GET /health`.
    case heartbeat(WorkerID, WorkerHealth)
    /// It did not answer within the probe's timeout.
    case heartbeatMissed(WorkerID)
    /// A `.pause` was answered — or failed, which changes nothing: the replacement starts anyway.
    case paused(WorkerID)
    /// A `.drain` could not be delivered (the control socket refused or is gone).
    case drainRefused(WorkerID)
    case command(TenantCommand, tenant: String)
    /// SIGTERM/SIGINT: drain everything, then finish.
    case shutdown
    /// Time passed: check deadlines and due heartbeats.
    case tick
}

struct BindFailure: Error, Sendable, Equatable {
    var messages: [String]
}
