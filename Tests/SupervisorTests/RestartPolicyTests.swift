import Shared
import Testing
@testable import SupervisorCore

@Suite struct RestartPolicyTests {
    let policy = RestartPolicy(initialBackoff: .seconds(1), maxBackoff: .seconds(8), maxRestarts: 2, window: .seconds(10))

    @Test func delaysDoubleWithinTwentyPercentJitterUpToTheCap() {
        var history = RestartHistory()
        var random = SeededRandom(seed: 7)
        let delays = (0..<6).map { _ in history.nextDelay(policy: policy, random: &random) }
        for (delay, base) in zip(delays, [1, 2, 4, 8, 8, 8] as [Int64]) {
            #expect(delay >= .seconds(base) * 0.8 && delay <= .seconds(base) * 1.2, "\(delay) for \(base)s")
        }
        history.forgetDelay()
        #expect(history.nextDelay(policy: policy, random: &random) <= .milliseconds(1200))
    }

    @Test func moreThanMaxRestartsWithinTheWindowIsFatal() {
        var history = RestartHistory()
        var random = SeededRandom(seed: 1)
        let t0 = ContinuousClock.now
        #expect(history.recordCrash(at: t0, policy: policy, random: &random) != .fatal(crashes: 1))
        #expect(history.recordCrash(at: t0 + .seconds(1), policy: policy, random: &random) != .fatal(crashes: 2))
        #expect(history.recordCrash(at: t0 + .seconds(2), policy: policy, random: &random) == .fatal(crashes: 3))
        // Outside the window the old crashes are forgotten.
        var spread = RestartHistory()
        for i in 0..<5 {
            #expect(spread.recordCrash(at: t0 + .seconds(11 * i), policy: policy, random: &random) != .fatal(crashes: 3))
        }
    }

    @Test func theSameSeedGivesTheSameJitter() {
        var a = SeededRandom(seed: 99)
        var b = SeededRandom(seed: 99)
        #expect((0..<5).map { _ in a.next() } == (0..<5).map { _ in b.next() })
    }
}
