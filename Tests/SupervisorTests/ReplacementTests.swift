import Foundation
import Shared
import Testing
@testable import SupervisorCore

/// Replacing a running worker (`ctl restart`, changed settings) without refusing a connection:
/// pause the current one, start the new one on the same listener, let it take over once it
/// answers, drain the old one — and what happens when the new one fails.
@Suite struct ReplacementTests {
    let config = Fixtures.config([Fixtures.tenant("alpha", port: 8081), Fixtures.tenant("beta", port: 8082)])

    @Test func restartPausesTheCurrentWorkerBeforeTheReplacementStarts() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        var actions = fleet.send(.command(.restart, tenant: "alpha"))
        #expect(actions.commandReplies.first?.message.contains("restarting") == true)
        #expect(actions.pauses == [old.id])
        #expect(actions.spawns.isEmpty, "only one process accepts at a time")
        #expect(fleet.run(for: .milliseconds(300)).spawns.isEmpty, "still waiting for the pause")

        actions = fleet.send(.paused(old.id))
        let order = try #require(actions.spawns.first)
        #expect(actions.spawns.count == 1)
        #expect(order.listener == old.listener, "the replacement serves the same listener")
        #expect(fleet.state("alpha") == .running, "the current worker serves meanwhile")
        #expect(fleet.pid("alpha") == old.pid)

        // The replacement answers: it takes over, the old one drains.
        actions = fleet.send(.heartbeat(order.worker, healthy("alpha")))
        #expect(fleet.current("alpha")?.id == order.worker)
        #expect(actions.drains == [old.id])
        #expect(actions.recorded("took over"))
        actions = fleet.send(.exited(old.id, .code(0)))
        #expect(fleet.slot("alpha")?.retiring.isEmpty == true)
        #expect(fleet.slot("alpha")?.restarts == 0, "a replacement is no restart")
        #expect(actions.closedListeners.isEmpty, "the listener stays")
        #expect(actions.spawns.isEmpty)
        #expect(fleet.state("alpha") == .running)
    }

    @Test func aPauseThatFailsStillLetsTheReplacementStart() throws {
        // The runtime answers `.paused` whether or not the worker could be asked.
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        fleet.send(.command(.restart, tenant: "alpha"))
        #expect(fleet.send(.paused(old.id)).spawns.count == 1)
    }

    @Test func aReplacementThatDiesResumesTheCurrentWorkerAndIsTriedAgainAfterABackoff() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        fleet.send(.command(.restart, tenant: "alpha"))
        let replacement = try #require(fleet.send(.paused(old.id)).spawns.first)
        var actions = fleet.send(.exited(replacement.worker, .code(1)))
        #expect(actions.resumes == [old.id], "the current worker takes connections again")
        #expect(actions.recorded("the current worker keeps serving"))
        #expect(fleet.current("alpha")?.id == old.id)
        #expect(fleet.state("alpha") == .running)
        #expect(fleet.slot("alpha")?.restarts == 1)
        #expect(fleet.slot("alpha")?.lastExit?.exit == .code(1))
        #expect(fleet.slot("alpha")?.fatal == false)
        // After the back-off (250 ms ± 20 %): pause again, then a new replacement.
        actions = fleet.run(for: .milliseconds(400))
        #expect(actions.pauses == [old.id])
        actions = fleet.send(.paused(old.id))
        #expect(actions.spawns.count == 1)
    }

    @Test func aReplacementThatNeverAnswersIsKilled() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        fleet.send(.command(.restart, tenant: "alpha"))
        let replacement = try #require(fleet.send(.paused(old.id)).spawns.first)
        var kills: [WorkerID] = []
        let start = fleet.now
        while kills.isEmpty, fleet.now - start < .seconds(12) {
            let actions = fleet.advance(.milliseconds(100))
            kills += actions.kills
            // Everyone answers but the replacement.
            for case .probe(let id, _) in actions where id != replacement.worker { fleet.send(.heartbeat(id, healthy(id.tenant))) }
        }
        #expect(kills == [replacement.worker])
        #expect(fleet.now - start > .seconds(10))
        fleet.send(.exited(replacement.worker, .signal("SIGKILL")))
        #expect(fleet.current("alpha")?.id == old.id)
    }

    @Test func aCrashOfTheCurrentWorkerMidReplacementHandsOverToTheReplacement() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        fleet.send(.command(.restart, tenant: "alpha"))
        let replacement = try #require(fleet.send(.paused(old.id)).spawns.first)
        let actions = fleet.send(.exited(old.id, .signal("SIGSEGV")))
        #expect(fleet.current("alpha")?.id == replacement.worker)
        #expect(fleet.state("alpha") == .starting)
        #expect(actions.spawns.isEmpty, "no second worker")
        #expect(fleet.slot("alpha")?.restarts == 1)
    }

    @Test func aSecondRestartRetiresTheUnfinishedReplacement() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        fleet.send(.command(.restart, tenant: "alpha"))
        let first = try #require(fleet.send(.paused(old.id)).spawns.first)
        let actions = fleet.send(.command(.restart, tenant: "alpha"))
        #expect(actions.drains == [first.worker])
        #expect(actions.spawns.count == 1, "the current worker is paused already")
        #expect(fleet.slot("alpha")?.retiring.map(\.id) == [first.worker])
    }

    @Test func restartOfATenantThatIsNotRunningStartsIt() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.send(.command(.stop, tenant: "alpha"))
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .code(0)))
        let actions = fleet.send(.command(.restart, tenant: "alpha"))
        #expect(actions.commandReplies == [ControlReply(ok: true, message: "alpha starting")])
        #expect(actions.spawns.count == 1)
    }

    // MARK: - JWT states carried over

    @Test func aNewWorkerStartsWithTheJWTStatesItsPredecessorReported() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        let until = Date(timeIntervalSince1970: 1_700_000_100)
        var report = healthy("alpha", states: ["primary": .coolingDown])
        report.tokens[0].until = until
        report.tokens[0].consecutiveFailures = 3
        report.tokens[0].lastError = "500 upstream"
        fleet.advance(.seconds(1))
        fleet.send(.heartbeat(old.id, report))
        // A crash: the restarted worker inherits the states.
        let restart = try #require(fleet.send(.exited(old.id, .signal("SIGKILL"))).spawns.first)
        #expect(restart.start.tokenStates == [
            CarriedTokenState(name: "primary", state: .coolingDown, until: until, consecutiveFailures: 3, lastError: "500 upstream"),
            CarriedTokenState(name: "backup", state: .healthy, until: nil, consecutiveFailures: 0, lastError: nil),
        ])
    }

    @Test func aJWTThatStaysUnderANewNameKeepsItsStateAndARemovedOneIsDropped() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        fleet.advance(.seconds(1))
        fleet.send(.heartbeat(old.id, healthy("alpha", states: ["primary": .invalid, "backup": .quotaExhausted])))
        var changed = config
        changed.tenants[0].tokens = [
            TokenConfig(name: "renamed", source: .jwt(Fixtures.jwtA)),
            TokenConfig(name: "fresh", source: .jwt("eyJhbGciOiJIUzI1NiJ9.new.sig")),
        ]
        fleet.send(.desired(changed))
        let replacement = try #require(fleet.send(.paused(old.id)).spawns.first)
        #expect(replacement.start.tokenStates.map(\.name) == ["renamed"])
        #expect(replacement.start.tokenStates.first?.state == .invalid)
    }
}
