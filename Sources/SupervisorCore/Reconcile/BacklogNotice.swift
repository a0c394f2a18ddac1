import Shared

/// What the supervisor answers on a tenant's listener while no worker serves it for longer than
/// `backlog_grace`: 503 with `Retry-After`, the reason in the caller's API shape. The reconciler
/// decides when (and re-issues the notice when its reason changes); the runtime answers.
struct BacklogNotice: Sendable, Equatable {
    var tenant: String
    var listener: ListenerID
    var reason: Reason
    /// When a worker is expected to serve again (the end of the back-off); nil when nothing is
    /// scheduled (`fallback` is the hint then).
    var retryAt: ContinuousClock.Instant?
    /// The `Retry-After` without a `retryAt`.
    var fallback: Duration

    enum Reason: String, Sendable, Equatable {
        /// Crashed; restarting after a back-off.
        case backoff
        /// A worker is starting and has not answered yet.
        case starting
        /// Crashed too often: nothing restarts until `ctl start` or a reload.
        case fatal
        /// `ctl stop`ped, or its worker is draining.
        case stopped
    }

    /// Whole seconds, rounded up, at least 1.
    func retryAfterSeconds(now: ContinuousClock.Instant) -> Int {
        let wait = retryAt.map { $0 - now } ?? fallback
        let ms = wait / .milliseconds(1)
        return max(1, Int((ms / 1000).rounded(.up)))
    }

    /// The error message for people.
    func message(now: ContinuousClock.Instant) -> String {
        let retry = retryAfterSeconds(now: now)
        let why: String
        switch reason {
        case .backoff: why = "its worker crashed and restarts shortly"
        case .starting: why = "its worker is starting"
        case .fatal: why = "its worker crashed repeatedly and is not restarted until an operator intervenes"
        case .stopped: why = "it is stopped"
        }
        return "tenant '\(tenant)' has no worker serving right now: \(why); retry after \(retry) s"
    }
}
