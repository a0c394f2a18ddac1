import Shared
import Testing
@testable import SupervisorCore

/// A worker is hung only when it failed to answer a heartbeat that was sent — never because the
/// supervisor itself could not run (a slow reload, a SIGSTOP of the supervisor, a loaded host).
@Suite struct StallTests {
    let config = Fixtures.config([Fixtures.tenant("alpha", port: 8081), Fixtures.tenant("beta", port: 8082)])

    @Test func aSupervisorBlockedLongerThanTheHeartbeatTimeoutKillsNobody() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.run(for: .seconds(2))
        let before = try #require(fleet.current("alpha"))
        // A probe went out just before the supervisor froze for 6 s (> the 5 s timeout)…
        var actions = fleet.advance(.seconds(1))
        #expect(actions.probes.map(\.tenant) == ["alpha", "beta"])
        actions = fleet.advance(.seconds(6))
        #expect(actions.kills.isEmpty, "\(actions.records.map(\.message))")
        #expect(actions.recorded("the supervisor was blocked for 6.0s"))
        // …and its answers, queued behind the first tick after the freeze, arrive now (the
        // next probes go out at once: they are overdue; answer those too).
        for _ in 0..<2 {
            fleet.answerHeartbeats(of: "alpha")
            fleet.answerHeartbeats(of: "beta")
        }
        actions = fleet.run(for: .seconds(10))
        #expect(actions.kills.isEmpty, "\(actions.records.map(\.message))")
        #expect(fleet.current("alpha")?.id == before.id)
        #expect(fleet.state("alpha") == .running)
    }

    @Test func aWorkerThatStopsAnsweringIsStillKilledFiveSecondsAfterTheProbeItIgnored() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.run(for: .seconds(2))
        let silent = try #require(fleet.current("alpha"))
        // The next probe of alpha is the one it never answers; time passes in normal ticks.
        var all: [FleetAction] = []
        var sentAt: ContinuousClock.Instant?
        let deadline = fleet.now + .seconds(8)
        while fleet.now < deadline, all.kills.isEmpty {
            let actions = fleet.run(for: .milliseconds(100), answering: ["beta"])
            if sentAt == nil, actions.probes.contains(where: { $0.tenant == "alpha" }) { sentAt = fleet.now }
            all += actions
        }
        let probe = try #require(sentAt)
        #expect(all.kills == [silent.id])
        #expect(all.recorded("hung: no heartbeat for 5s"))
        #expect(fleet.now - probe > .seconds(5) && fleet.now - probe <= .milliseconds(5200), "\(fleet.now - probe)")
    }

    @Test func missedTicksDoNotCountButASilenceAfterTheStallDoes() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.run(for: .seconds(2))
        let silent = try #require(fleet.current("alpha"))
        fleet.advance(.seconds(1))  // probes out
        fleet.advance(.seconds(4))  // blocked 4 s: excused
        fleet.answerHeartbeats(of: "beta")
        fleet.answerHeartbeats(of: "beta")
        // alpha never answers that probe; 5 s of normal ticks after the stall kill it.
        var actions = fleet.run(for: .milliseconds(4800), answering: ["beta"])
        #expect(actions.kills.isEmpty)
        actions = fleet.run(for: .milliseconds(400), answering: ["beta"])
        #expect(actions.kills == [silent.id])
    }
}
