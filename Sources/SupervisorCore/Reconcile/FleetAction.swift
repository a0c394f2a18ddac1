import Logging
import Shared

/// What the reconciler asks the runtime to do. Each is one effect; results come back as events.
enum FleetAction: Sendable, Equatable {
    /// Bind these listeners, all or none; answered with `.bound`.
    case bind([ListenRequest])
    /// Start a worker; answered with `.spawned` or `.spawnFailed`.
    case spawn(SpawnOrder)
    /// `GET /health` on the worker's control socket; answered with `.heartbeat` or `.heartbeatMissed`.
    case probe(WorkerID, timeout: Duration)
    /// `POST /pause`: stop taking connections from the shared listener; answered with `.paused`.
    case pause(WorkerID)
    /// `POST /resume`.
    case resume(WorkerID)
    /// `POST /drain`: finish the requests in flight, then exit; `.drainRefused` if it cannot be asked.
    case drain(WorkerID)
    /// SIGTERM (a worker that could not be asked to drain).
    case terminate(WorkerID)
    /// SIGKILL to the worker's process group.
    case kill(WorkerID)
    case closeListener(ListenerID)
    /// Accept on the tenant's listener and answer every request with 503 and `Retry-After`
    /// (no worker serves it); a later one with the same listener updates the notice.
    case answerBacklog(BacklogNotice)
    /// Stop accepting on the listener; then, if given, `POST /resume` that worker (it started
    /// paused), so only one process accepts at a time.
    case stopAnswering(ListenerID, handOverTo: WorkerID?)
    /// The tenant is gone from the fleet: close its log.
    case closeLog(tenant: String)
    /// A line for the supervisor's log (and the tenant's, when it names one).
    case record(FleetRecord)
    /// An entry for the event history (`ctl events`).
    case history(FleetHistoryEvent)
    /// The answer to a `.command`, `.desired` or `.rejected`.
    case reply(FleetReply)
    /// Shut down and every worker gone: the runtime may stop.
    case finished
}

struct ListenRequest: Sendable, Equatable {
    var listener: ListenerID
    var tenant: String
    var address: ListenAddress
}

struct SpawnOrder: Sendable, Equatable {
    var worker: WorkerID
    var listener: ListenerID
    /// Where the worker serves its control API.
    var controlSocket: String
    /// Its settings line (secrets included: never log it).
    var start: SupervisedStart
}

struct FleetRecord: Sendable, Equatable {
    var level: Logger.Level
    var tenant: String?
    var message: String
}

enum FleetReply: Sendable, Equatable {
    case command(ControlReply)
    case reload(ReloadReport)
}
