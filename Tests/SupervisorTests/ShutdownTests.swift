import Shared
import Testing
@testable import SupervisorCore

/// SIGTERM/SIGINT: every worker drains; what outlives the deadline is killed; listeners and
/// logs close only when every worker is gone, and only then is the runtime told it may stop.
@Suite struct ShutdownTests {
    let config = Fixtures.config([Fixtures.tenant("alpha", port: 8081), Fixtures.tenant("beta", port: 8082)])

    @Test func shutdownDrainsEveryWorkerThenClosesListenersThenFinishes() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let alpha = try #require(fleet.current("alpha"))
        let beta = try #require(fleet.current("beta"))
        var actions = fleet.send(.shutdown)
        #expect(actions.drains == [alpha.id, beta.id])
        #expect(actions.closedListeners.isEmpty && !actions.finished)
        #expect(fleet.state("alpha") == .stopping)
        fleet.send(.exited(alpha.id, .code(0)))
        #expect(fleet.run(for: .seconds(1)).spawns.isEmpty, "nothing restarts while shutting down")
        actions = fleet.send(.exited(beta.id, .code(0)))
        #expect(actions.closedListeners.count == 2)
        #expect(actions.closedLogs == ["alpha", "beta"])
        #expect(actions.last == .finished, "finished comes last")
        #expect(fleet.health().tenants.values.allSatisfy { $0.state == .stopped })
        #expect(fleet.send(.tick).isEmpty, "finished once")
    }

    @Test func workersStillRunningAtTheDeadlineAreKilled() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.send(.shutdown)
        // shutdown_timeout 5 s + 2 s.
        #expect(fleet.advance(.milliseconds(6900)).kills.isEmpty)
        let kills = fleet.advance(.milliseconds(200)).kills
        #expect(Set(kills.map(\.tenant)) == ["alpha", "beta"])
    }

    @Test func aWorkerCrashingDuringShutdownIsNotRestarted() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.send(.shutdown)
        let actions = fleet.send(.exited(try #require(fleet.current("alpha")?.id), .signal("SIGSEGV")))
        #expect(actions.spawns.isEmpty)
        #expect(fleet.state("alpha") == .stopped)
    }

    @Test func aReloadDuringShutdownIsRefused() {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.send(.shutdown)
        #expect(fleet.send(.desired(config)).reloadReports.first?.ok == false)
    }

    @Test func replacementsInFlightDrainToo() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        fleet.send(.command(.restart, tenant: "alpha"))
        let replacement = try #require(fleet.send(.paused(old.id)).spawns.first)
        let actions = fleet.send(.shutdown)
        #expect(Set(actions.drains) == [old.id, replacement.worker, try #require(fleet.current("beta")?.id)])
    }
}
