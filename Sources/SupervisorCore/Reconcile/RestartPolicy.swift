import Shared

/// A slot's crash record: when it crashed lately, and the back-off its next restart waits.
/// The first crash after a healthy run restarts at once (systemd waits 100 ms; a supervisor
/// that holds the listener need not wait at all). A crash again before the restarted worker
/// has been up `FleetReconciler.stableAfter` is a repeated one: `supervisor.restart`
/// (`RestartPolicy`) gives the numbers: the first such delay is `initial_backoff`, each next
/// one doubles up to `max_backoff`, every delay gets ±20 % jitter so tenants that crashed
/// together do not restart in lockstep, and more than `max_restarts` crashes within `window` is
/// FATAL (OTP's restart intensity).
struct RestartHistory: Sendable, Equatable {
    private(set) var crashes: [ContinuousClock.Instant] = []
    /// The last delay before jitter (zero after an immediate restart); nil when the next crash
    /// counts as the first after a healthy run.
    private(set) var delay: Duration?

    enum Verdict: Sendable, Equatable {
        case restart(after: Duration)
        /// The crashes counted within the window.
        case fatal(crashes: Int)
    }

    /// A crash of the serving worker: restart after a back-off, or give up. `healthyRun`: the
    /// worker had answered its control socket (one that never came up backs off at once).
    mutating func recordCrash(
        at now: ContinuousClock.Instant, policy: RestartPolicy, healthyRun: Bool = true,
        random: inout some RandomNumberGenerator
    ) -> Verdict {
        crashes.append(now)
        crashes.removeAll { now - $0 > policy.window }
        if crashes.count > policy.maxRestarts { return .fatal(crashes: crashes.count) }
        if delay == nil, healthyRun {
            delay = .zero
            return .restart(after: .zero)
        }
        return .restart(after: nextDelay(policy: policy, random: &random))
    }

    /// The next back-off (also for a replacement that failed, which is no crash of the tenant).
    mutating func nextDelay(policy: RestartPolicy, random: inout some RandomNumberGenerator) -> Duration {
        let next = delay.flatMap { $0 > .zero ? min(policy.maxBackoff, $0 * 2) : nil } ?? policy.initialBackoff
        delay = next
        return next * Double.random(in: 0.8...1.2, using: &random)
    }

    /// Up long enough: the next crash restarts at once again.
    mutating func forgetDelay() { delay = nil }

    /// `ctl start` or a reload: the past crashes no longer count.
    mutating func reset() { self = RestartHistory() }
}
