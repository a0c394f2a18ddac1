import Shared

/// A slot's crash record: when it crashed lately, and the back-off its next restart waits.
/// `supervisor.restart` (`RestartPolicy`) gives the numbers: the first delay is `initial_backoff`,
/// each next one doubles up to `max_backoff`, every delay gets ±20 % jitter so tenants that
/// crashed together do not restart in lockstep, and more than `max_restarts` crashes within
/// `window` is FATAL (OTP's restart intensity).
struct RestartHistory: Sendable, Equatable {
    private(set) var crashes: [ContinuousClock.Instant] = []
    /// The last delay before jitter; nil when the next one starts over at `initial_backoff`.
    private(set) var delay: Duration?

    enum Verdict: Sendable, Equatable {
        case restart(after: Duration)
        /// The crashes counted within the window.
        case fatal(crashes: Int)
    }

    /// A crash of the serving worker: restart after a back-off, or give up.
    mutating func recordCrash(
        at now: ContinuousClock.Instant, policy: RestartPolicy, random: inout some RandomNumberGenerator
    ) -> Verdict {
        crashes.append(now)
        crashes.removeAll { now - $0 > policy.window }
        if crashes.count > policy.maxRestarts { return .fatal(crashes: crashes.count) }
        return .restart(after: nextDelay(policy: policy, random: &random))
    }

    /// The next back-off (also for a replacement that failed, which is no crash of the tenant).
    mutating func nextDelay(policy: RestartPolicy, random: inout some RandomNumberGenerator) -> Duration {
        let next = delay.map { min(policy.maxBackoff, $0 * 2) } ?? policy.initialBackoff
        delay = next
        return next * Double.random(in: 0.8...1.2, using: &random)
    }

    /// Up long enough: the next crash starts over at `initial_backoff`.
    mutating func forgetDelay() { delay = nil }

    /// `ctl start` or a reload: the past crashes no longer count.
    mutating func reset() { self = RestartHistory() }
}
