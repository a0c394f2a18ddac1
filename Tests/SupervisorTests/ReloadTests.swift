import Shared
import Testing
@testable import SupervisorCore

/// Reload: a new desired state. Added tenants start, removed ones drain and go, changed ones
/// are replaced, unchanged ones are not touched; an invalid file or a port in use changes nothing.
@Suite struct ReloadTests {
    let alpha = Fixtures.tenant("alpha", port: 8081)
    let beta = Fixtures.tenant("beta", port: 8082)
    var config: FleetConfig { Fixtures.config([alpha, beta]) }

    // MARK: - The plan

    @Test func thePlanSortsTenantsIntoAddedRemovedChangedAndUnchanged() {
        var moved = beta
        moved.listen.port = 9999
        var changed = alpha
        changed.strategy = .random
        let gamma = Fixtures.tenant("gamma", port: 8083)
        let plan = ReloadPlan(
            running: [("alpha", alpha), ("beta", beta), ("delta", Fixtures.tenant("delta"))],
            new: [changed, moved, gamma]
        )
        #expect(plan.added.map(\.name) == ["gamma"])
        #expect(plan.removed == ["delta"])
        #expect(plan.changed.map(\.name) == ["alpha", "beta"])
        #expect(plan.unchanged.isEmpty)
        #expect(plan.needsListener.map(\.name) == ["beta", "gamma"], "a moved address needs a new listener")
        #expect(ReloadPlan(running: [("alpha", alpha)], new: [alpha]).unchanged.map(\.name) == ["alpha"])
    }

    // MARK: - Reloads

    @Test func anUnchangedFileTouchesNothing() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let pids = (fleet.pid("alpha"), fleet.pid("beta"))
        let actions = fleet.send(.desired(config))
        #expect(actions.reloadReports == [ReloadReport(ok: true, actions: ["alpha": .unchanged, "beta": .unchanged])])
        #expect(actions.binds.isEmpty && actions.spawns.isEmpty && actions.drains.isEmpty && actions.pauses.isEmpty)
        #expect((fleet.pid("alpha"), fleet.pid("beta")) == pids)
    }

    @Test func anAddedTenantGetsItsListenerAndAWorkerAndTheOthersAreUntouched() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        var bigger = config
        bigger.tenants.append(Fixtures.tenant("gamma", port: 8083))
        let actions = fleet.send(.desired(bigger))
        #expect(actions.binds.map { $0.map(\.tenant) } == [["gamma"]])
        #expect(actions.spawns.map(\.worker.tenant) == ["gamma"])
        #expect(actions.reloadReports.first?.actions == ["alpha": .unchanged, "beta": .unchanged, "gamma": .started])
        #expect(fleet.reconciler.order == ["alpha", "beta", "gamma"])
    }

    @Test func aRemovedTenantDrainsThenItsListenerAndLogClose() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let worker = try #require(fleet.current("beta"))
        var actions = fleet.send(.desired(Fixtures.config([alpha])))
        #expect(actions.reloadReports.first?.actions == ["alpha": .unchanged, "beta": .stopped])
        #expect(actions.drains == [worker.id])
        #expect(actions.closedListeners.isEmpty, "connections in flight finish first")
        #expect(fleet.state("beta") == .stopping)
        #expect(fleet.reconciler.tenantNames == ["alpha"], "`*` commands skip it")
        actions = fleet.send(.exited(worker.id, .code(0)))
        #expect(actions.closedListeners == [worker.listener])
        #expect(actions.closedLogs == ["beta"])
        #expect(fleet.slot("beta") == nil)
        #expect(fleet.health().tenants.keys.sorted() == ["alpha"])
    }

    @Test func aChangedTenantIsReplacedOnItsListener() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        var changed = config
        changed.tenants[0].strategy = .random
        var actions = fleet.send(.desired(changed))
        #expect(actions.reloadReports.first?.actions == ["alpha": .replaced, "beta": .unchanged])
        #expect(actions.binds.isEmpty)
        #expect(actions.pauses == [old.id])
        actions = fleet.send(.paused(old.id))
        let replacement = try #require(actions.spawns.first)
        #expect(replacement.start.tenant.strategy == .random)
        #expect(replacement.listener == old.listener)
        actions = fleet.send(.heartbeat(replacement.worker, healthy("alpha")))
        #expect(actions.drains == [old.id])
        #expect(fleet.current("alpha")?.settings.strategy == .random)
    }

    @Test func aNewListenAddressGetsANewListenerAndTheOldOneClosesOnceItsWorkerIsGone() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        var moved = config
        moved.tenants[0].listen.port = 9081
        var actions = fleet.send(.desired(moved))
        let bind = try #require(actions.binds.first)
        #expect(bind.map(\.address.port) == [9081])
        actions = fleet.send(.paused(old.id))
        let replacement = try #require(actions.spawns.first)
        #expect(replacement.listener == bind[0].listener)
        #expect(replacement.start.tenant.listen.port == 9081)
        fleet.send(.heartbeat(replacement.worker, healthy("alpha")))
        #expect(fleet.health().tenants["alpha"]?.listen == "127.0.0.1:9081")
        actions = fleet.send(.exited(old.id, .code(0)))
        #expect(actions.closedListeners == [old.listener])
    }

    @Test func aPortInUseRejectsTheWholeReload() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let before = fleet.reconciler.slots
        var changed = config
        changed.tenants[0].strategy = .random
        changed.tenants.append(Fixtures.tenant("gamma", port: 8083))
        fleet.portsInUse = ["gamma"]
        let actions = fleet.send(.desired(changed))
        #expect(actions.reloadReports == [ReloadReport(ok: false, errors: ["tenants.gamma.listen: address already in use"])])
        #expect(actions.spawns.isEmpty && actions.pauses.isEmpty)
        #expect(fleet.reconciler.slots == before, "nothing changed, alpha included")
    }

    @Test func anInvalidFileChangesNothingAndReturnsTheErrors() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let before = fleet.reconciler.slots
        let errors = ["fleet.yaml:3:5: tenants.alpha.strategy: unknown value 'fastest'"]
        let actions = fleet.send(.rejected(errors: errors))
        #expect(actions.reloadReports == [ReloadReport(ok: false, errors: errors)])
        #expect(actions.records.first?.message.contains("keeps running unchanged") == true)
        #expect(!actions.hasEffects)
        #expect(fleet.reconciler.slots == before)
    }

    @Test func aReloadRestartsAnUnchangedFatalTenantWithACleanRecord() throws {
        var fleet = FleetDriver(config)
        fleet.spawnFailure = "no binary"
        fleet.send(.desired(config))
        fleet.run(for: .seconds(30))
        #expect(fleet.state("alpha") == .fatal)
        fleet.spawnFailure = nil
        let actions = fleet.send(.desired(config))
        #expect(actions.reloadReports.first?.actions == ["alpha": .restarted, "beta": .restarted])
        #expect(actions.spawns.count == 2)
        #expect(fleet.state("alpha") == .starting)
    }

    @Test func aChangedTenantThatIsDownStartsAtOnceWithoutWaitingForItsBackoff() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        try fleet.crashIntoBackoff("alpha")
        #expect(fleet.state("alpha") == .backoff)
        var changed = config
        changed.tenants[0].strategy = .leastBusy
        let actions = fleet.send(.desired(changed))
        #expect(actions.spawns.map(\.worker.tenant) == ["alpha"])
        #expect(actions.spawns.first?.start.tenant.strategy == .leastBusy)
    }

    @Test func aStoppedTenantThatChangesStaysStopped() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.send(.command(.stop, tenant: "alpha"))
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .code(0)))
        var changed = config
        changed.tenants[0].strategy = .random
        #expect(fleet.send(.desired(changed)).spawns.isEmpty)
        #expect(fleet.state("alpha") == .stopped)
    }

    @Test func aTenantAddedBackWhileItDrainsKeepsItsListener() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let worker = try #require(fleet.current("beta"))
        fleet.send(.desired(Fixtures.config([alpha])))
        let actions = fleet.send(.desired(config))
        #expect(actions.binds.isEmpty, "its address is still bound")
        #expect(actions.reloadReports.first?.actions["beta"] == .started)
        fleet.send(.exited(worker.id, .code(0)))
        #expect(fleet.slot("beta") != nil)
        #expect(fleet.slot("beta")?.current != nil, "a new worker starts once the drained one is gone")
    }

    @Test func supervisorPathsKeepTheirStartValuesUntilARestart() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        var changed = config
        changed.supervisor.runDir = "/elsewhere"
        changed.supervisor.heartbeatTimeout = .seconds(9)
        let actions = fleet.send(.desired(changed))
        #expect(actions.recorded("take effect after a supervisor restart"))
        #expect(fleet.reconciler.settings.runDir == "/srv/run")
        #expect(fleet.reconciler.settings.heartbeatTimeout == .seconds(9), "the rest applies at once")
    }
}
