import Shared
import Testing
@testable import SupervisorCore

/// Start-up, crashes, back-off, FATAL, hung and silent workers, `ctl stop` and `ctl start`.
@Suite struct LifecycleTests {
    let config = Fixtures.config([Fixtures.tenant("alpha", port: 8081), Fixtures.tenant("beta", port: 8082)])

    @Test func startUpBindsEveryListenerAtOnceThenSpawnsEachTenant() throws {
        var fleet = FleetDriver(config)
        let actions = fleet.send(.desired(config))
        let binds = try #require(actions.binds.first)
        #expect(actions.binds.count == 1)
        #expect(binds.map(\.tenant) == ["alpha", "beta"])
        #expect(binds.map(\.address.port) == [8081, 8082])
        #expect(actions.spawns.map(\.worker.tenant) == ["alpha", "beta"])
        let alpha = try #require(actions.spawns.first)
        #expect(alpha.start.tenant.listen.port == 8081)
        #expect(alpha.controlSocket.hasPrefix("/srv/run/alpha."))
        #expect(alpha.start.tokenStates.isEmpty)
        #expect(actions.reloadReports == [ReloadReport(ok: true, actions: ["alpha": .started, "beta": .started])])
        #expect(fleet.state("alpha") == .starting)
        #expect(actions.probes.count == 2, "a worker is asked for its health at once")
    }

    @Test func aPortAlreadyInUseStartsNothingAndSaysWhich() {
        var fleet = FleetDriver(config)
        fleet.portsInUse = ["beta"]
        let actions = fleet.send(.desired(config))
        #expect(actions.spawns.isEmpty)
        #expect(actions.reloadReports.first?.ok == false)
        #expect(actions.reloadReports.first?.errors == ["tenants.beta.listen: address already in use"])
        #expect(fleet.reconciler.slots.isEmpty)
    }

    @Test func aWorkerIsRunningOnceItsControlSocketAnswers() throws {
        var fleet = FleetDriver(config)
        fleet.send(.desired(config))
        let id = try #require(fleet.current("alpha")?.id)
        fleet.send(.heartbeatMissed(id))
        #expect(fleet.state("alpha") == .starting)
        fleet.advance(.seconds(1))
        let actions = fleet.send(.heartbeat(id, healthy("alpha")))
        #expect(fleet.state("alpha") == .running)
        #expect(actions.recorded("is running"))
    }

    @Test func heartbeatsGoOutEveryIntervalAndNotTwiceAtOnce() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        #expect(fleet.advance(.milliseconds(500)).probes.isEmpty)
        let due = fleet.advance(.milliseconds(500)).probes
        #expect(due.map(\.tenant) == ["alpha", "beta"])
        #expect(fleet.advance(.seconds(1)).probes.isEmpty, "the last probe has not come back yet")
    }

    @Test func aRepeatedCrashIsRestartedAfterItsBackoff() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        var actions = fleet.send(.exited(old.id, .signal("SIGKILL")))
        #expect(actions.spawns.map(\.worker.tenant) == ["alpha"], "the first crash after a healthy run restarts at once")
        #expect(actions.recorded("restarting now (first crash after a healthy run)"))
        #expect(fleet.slot("alpha")?.backoffUntil == nil && fleet.state("alpha") == .starting)
        #expect(actions.spawns.first?.start.startPaused == false, "within the grace nobody answers for it: it takes connections at once")
        // The restarted worker dies before it answers: that one backs off.
        actions = fleet.send(.exited(try #require(fleet.current("alpha")?.id), .signal("SIGKILL")))
        #expect(fleet.state("alpha") == .backoff)
        #expect(actions.spawns.isEmpty)
        #expect(actions.recorded("crashed (killed by SIGKILL)"))
        #expect(fleet.health().tenants["alpha"]?.detail?.hasPrefix("restarting in 0.") == true)
        // 250 ms ± 20 %.
        #expect(fleet.advance(.milliseconds(190)).spawns.isEmpty)
        let restart = fleet.advance(.milliseconds(120)).spawns
        #expect(restart.map(\.worker.tenant) == ["alpha"])
        #expect(fleet.state("alpha") == .starting)
        let slot = try #require(fleet.slot("alpha"))
        #expect(slot.restarts == 2)
        #expect(slot.lastExit?.exit == .signal("SIGKILL"))
        #expect(fleet.pid("beta") != nil && fleet.slot("beta")?.restarts == 0, "the other tenant is not touched")
    }

    @Test func theBackoffDoublesUpToItsCapAndResetsAfterAStableRun() throws {
        let config = Fixtures.config(
            [Fixtures.tenant("alpha")],
            restart: RestartPolicy(initialBackoff: .seconds(1), maxBackoff: .seconds(3), maxRestarts: 100, window: .seconds(60))
        )
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let delays = try fleet.crashRepeatedly("alpha", times: 5)
        #expect(delays[0] == .zero, "the first crash after a healthy run restarts at once")
        #expect(delays[1] >= .milliseconds(800) && delays[1] <= .milliseconds(1200))
        #expect(delays[2] >= .milliseconds(1600) && delays[2] <= .milliseconds(2400))
        #expect(delays[3] >= .milliseconds(2400) && delays[3] <= .milliseconds(3600), "capped at max_backoff")
        #expect(delays[4] >= .milliseconds(2400) && delays[4] <= .milliseconds(3600))
        // Up for longer than 10 s: the next crash restarts at once again.
        fleet.answerHeartbeats(of: "alpha")
        fleet.run(for: .seconds(11))
        let id = try #require(fleet.current("alpha")?.id)
        #expect(fleet.send(.exited(id, .code(1))).spawns.count == 1)
        #expect(fleet.slot("alpha")?.backoffUntil == nil)
    }

    @Test func theJitterComesFromTheSeedSoTwoTenantsDoNotRestartInLockstep() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        for name in ["alpha", "beta"] {
            try fleet.crashIntoBackoff(name)
        }
        #expect(fleet.slot("alpha")?.backoffUntil != nil)
        #expect(fleet.slot("alpha")?.backoffUntil != fleet.slot("beta")?.backoffUntil)
    }

    @Test func aCrashLoopGoesFatalAndCtlStartRecovers() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        // max_restarts 3 within the window: the 4th crash is one too many.
        for crash in 1...4 {
            let id = try #require(fleet.current("alpha")?.id, "crash \(crash)")
            let actions = fleet.send(.exited(id, .code(1)))
            if crash < 4 {
                // The first after a healthy run restarts at once; the others back off.
                #expect(fleet.state("alpha") == (crash == 1 ? .starting : .backoff))
                fleet.run(for: .seconds(5), answering: [])
            } else {
                #expect(actions.records.contains { $0.level == .critical && $0.message.hasPrefix("FATAL") })
            }
        }
        #expect(fleet.state("alpha") == .fatal)
        let entry = try #require(fleet.health().tenants["alpha"])
        #expect(entry.restarts == 4 && entry.pid == nil)
        #expect(entry.lastExit?.code == 1)
        #expect(entry.detail?.contains("ctl start alpha") == true)
        #expect(fleet.run(for: .seconds(60)).spawns.filter { $0.worker.tenant == "alpha" }.isEmpty, "FATAL stays FATAL")

        let actions = fleet.send(.command(.start, tenant: "alpha"))
        #expect(actions.commandReplies == [ControlReply(ok: true, message: "alpha starting")])
        #expect(actions.spawns.map(\.worker.tenant) == ["alpha"])
        #expect(fleet.state("alpha") == .starting)
        #expect(fleet.slot("alpha")?.restarts == 4, "the count stays; the crash record is cleared")
        // The crash record is clean: one more crash backs off instead of going FATAL again.
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .code(1)))
        #expect(fleet.state("alpha") == .backoff)
    }

    @Test func crashesOutsideTheWindowDoNotCountTowardFatal() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        for _ in 1...6 {
            fleet.send(.exited(try #require(fleet.current("alpha")?.id), .code(1)))
            fleet.run(for: .seconds(25), answering: ["beta"])
            fleet.answerHeartbeats(of: "alpha")
        }
        #expect(fleet.state("alpha") != .fatal)
    }

    @Test func aWorkerThatCannotBeSpawnedCountsAsACrash() throws {
        var fleet = FleetDriver(config)
        fleet.spawnFailure = "posix_spawn: no such file"
        let actions = fleet.send(.desired(config))
        #expect(actions.recorded("cannot start worker: posix_spawn: no such file"))
        #expect(fleet.state("alpha") == .backoff)
        #expect(fleet.slot("alpha")?.lastExit?.exit == .code(127))
        fleet.run(for: .seconds(30))
        #expect(fleet.state("alpha") == .fatal)
        fleet.spawnFailure = nil
        fleet.send(.command(.start, tenant: "alpha"))
        #expect(fleet.state("alpha") == .starting)
    }

    @Test func aHungWorkerIsKilledAfterTheHeartbeatTimeoutAndRestarted() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let hung = try #require(fleet.current("alpha"))
        // alpha stops answering (its next probe, at 1 s, is never answered); beta goes on. The
        // timeout counts from that probe: a worker is hung for not answering, not for not being asked.
        var actions = fleet.run(for: .milliseconds(5900), answering: ["beta"])
        #expect(actions.kills.isEmpty)
        actions = fleet.run(for: .milliseconds(300), answering: ["beta"])
        #expect(actions.kills == [hung.id])
        #expect(actions.recorded("hung: no heartbeat for 5s"))
        #expect(fleet.health().tenants["alpha"]?.status == .unknown, "a silent worker's report is not trusted")
        actions = fleet.send(.exited(hung.id, .signal("SIGKILL")))
        #expect(actions.recorded("after it was killed: hung"))
        #expect(actions.spawns.map(\.worker.tenant) == ["alpha"], "it had run healthy: restarted at once")
        #expect(fleet.slot("beta")?.current?.killReason == nil)
    }

    @Test func aWorkerThatNeverAnswersIsKilledAfterTheStartTimeout() throws {
        var fleet = FleetDriver(config)
        fleet.send(.desired(config))
        fleet.answerHeartbeats(of: "beta")
        let silent = try #require(fleet.current("alpha"))
        #expect(fleet.run(for: .seconds(10), answering: ["beta"]).kills.isEmpty)
        let actions = fleet.run(for: .milliseconds(200), answering: ["beta"])
        #expect(actions.kills == [silent.id])
        #expect(actions.recorded("did not answer its control socket within 10s"))
    }

    @Test func stopDrainsAndStartStartsAgainWithAFreshRecord() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let worker = try #require(fleet.current("alpha"))
        var actions = fleet.send(.command(.stop, tenant: "alpha"))
        #expect(actions.commandReplies == [ControlReply(ok: true, message: "alpha stopping")])
        #expect(actions.drains == [worker.id])
        #expect(fleet.state("alpha") == .stopping)
        actions = fleet.send(.exited(worker.id, .code(0)))
        #expect(fleet.state("alpha") == .stopped)
        #expect(actions.spawns.isEmpty)
        #expect(fleet.run(for: .seconds(30)).spawns.isEmpty, "a stopped tenant is not restarted")
        #expect(fleet.slot("alpha")?.restarts == 0, "a requested stop is no crash")

        actions = fleet.send(.command(.start, tenant: "alpha"))
        #expect(actions.spawns.count == 1)
        #expect(actions.spawns.first?.start.tenant.listen.port == 8081, "the same listener")
        fleet.answerHeartbeats(of: "alpha")
        actions = fleet.send(.command(.start, tenant: "alpha"))
        #expect(actions.commandReplies == [ControlReply(ok: true, message: "alpha is already running")])
        #expect(actions.spawns.isEmpty)
    }

    @Test func aDrainThatCannotBeAskedForBecomesSigterm() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let worker = try #require(fleet.current("alpha"))
        fleet.send(.command(.stop, tenant: "alpha"))
        #expect(fleet.send(.drainRefused(worker.id)).contains(.terminate(worker.id)))
    }

    @Test func aWorkerThatDoesNotFinishDrainingIsKilled() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let worker = try #require(fleet.current("alpha"))
        fleet.send(.command(.stop, tenant: "alpha"))
        // shutdown_timeout 5 s, plus 2 s of grace.
        #expect(fleet.run(for: .seconds(7)).kills.isEmpty)
        #expect(fleet.run(for: .milliseconds(200)).kills == [worker.id])
    }

    @Test func commandsForUnknownTenantsFail() {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        for command in TenantCommand.allCases {
            let reply = fleet.send(.command(command, tenant: "nosuch")).commandReplies
            #expect(reply == [ControlReply(ok: false, message: "no tenant named 'nosuch'")])
        }
    }
}
