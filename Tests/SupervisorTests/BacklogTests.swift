import Shared
import Testing
@testable import SupervisorCore

/// Never hang a client during a crash loop: while no worker serves a tenant for longer than
/// `backlog_grace`, the supervisor answers its listener itself (503 with `Retry-After`), and
/// hands it back the moment a worker answers. Also the restart policy: the first crash after a
/// healthy run restarts at once, repeated ones back off.
@Suite struct BacklogTests {
    static let restart = RestartPolicy(initialBackoff: .seconds(2), maxBackoff: .seconds(8), maxRestarts: 100, window: .seconds(60))
    let config = Fixtures.config([Fixtures.tenant("alpha", port: 8081), Fixtures.tenant("beta", port: 8082)], restart: Self.restart)

    // MARK: - Restart policy

    @Test func repeatedCrashesBackOffDoublingAndAStableRunStartsOverAtOnce() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        // Each worker answers and runs 3 s: healthy, but not the 10 s that reset the back-off.
        let delays = try fleet.crashRepeatedly("alpha", times: 4, upFor: .seconds(3))
        #expect(delays[0] == .zero)
        #expect(delays[1] >= .milliseconds(1600) && delays[1] <= .milliseconds(2400), "\(delays)")
        #expect(delays[2] >= .milliseconds(3200) && delays[2] <= .milliseconds(4800), "\(delays)")
        #expect(delays[3] >= .milliseconds(6400) && delays[3] <= .milliseconds(9600), "capped at max_backoff: \(delays)")
        // Up for longer than 10 s: the next crash is the first after a healthy run again.
        fleet.answerHeartbeats(of: "alpha")
        fleet.run(for: .seconds(11))
        let actions = fleet.send(.exited(try #require(fleet.current("alpha")?.id), .code(1)))
        #expect(actions.spawns.count == 1 && fleet.slot("alpha")?.backoffUntil == nil)
    }

    @Test func aWorkerThatNeverCameUpBacksOffAtOnce() throws {
        var fleet = FleetDriver(config)
        fleet.send(.desired(config))
        let silent = try #require(fleet.current("alpha"))
        let actions = fleet.send(.exited(silent.id, .code(1)))
        #expect(actions.spawns.isEmpty)
        #expect(fleet.state("alpha") == .backoff)
        let until = try #require(fleet.slot("alpha")?.backoffUntil)
        #expect(until - fleet.now >= .milliseconds(1600) && until - fleet.now <= .milliseconds(2400))
    }

    // MARK: - Answering the backlog

    @Test func nothingIsAnsweredWithinTheGrace() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .signal("SIGKILL")))
        // The restarted worker is slow to answer: connections wait in the backlog for 1 s…
        var actions = fleet.run(for: .milliseconds(900), answering: ["beta"])
        #expect(actions.notices.isEmpty)
        // …then the supervisor answers them: "starting", retry in a second.
        actions = fleet.run(for: .milliseconds(200), answering: ["beta"])
        let notice = try #require(actions.notices.first)
        #expect(actions.notices.count == 1)
        #expect(notice.tenant == "alpha" && notice.reason == .starting && notice.retryAt == nil)
        #expect(notice.retryAfterSeconds(now: fleet.now) == 1)
        #expect(notice.listener == fleet.slot("alpha")?.listener)
        #expect(actions.recorded("the supervisor answers its requests with 503 (starting)"))
        #expect(fleet.slot("beta")?.answering == nil, "the other tenant is served")
        // It answers: it was started unpaused (within the grace), so nothing to hand over.
        actions = fleet.answerHeartbeats(of: "alpha")
        #expect(actions.stops == [StopAnswering(listener: notice.listener, handOverTo: nil)])
        #expect(actions.resumes.isEmpty)
        #expect(fleet.state("alpha") == .running && fleet.slot("alpha")?.answering == nil)
    }

    @Test func aBackoffIsAnsweredWithItsRemainingTimeAndTheNextWorkerStartsPaused() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        // Crash, restart at once, crash again before it answers: 2 s ± 20 % of back-off.
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .signal("SIGKILL")))
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .signal("SIGKILL")))
        let until = try #require(fleet.slot("alpha")?.backoffUntil)
        var actions = fleet.run(for: .milliseconds(1000), step: .milliseconds(50), answering: ["beta"])
        let notice = try #require(actions.notices.last)
        #expect(notice.reason == .backoff && notice.retryAt == until)
        let remaining = until - fleet.now
        #expect(notice.retryAfterSeconds(now: fleet.now) == Int((remaining / .seconds(1)).rounded(.up)))
        #expect(notice.message(now: fleet.now).contains("tenant 'alpha' has no worker serving right now"))
        #expect(actions.spawns.isEmpty)

        // The back-off ends: the new worker starts paused, the supervisor keeps answering it…
        fleet.now = until
        actions = fleet.send(.tick)
        let spawn = try #require(actions.spawns.first)
        #expect(spawn.start.startPaused)
        #expect(actions.notices.map(\.reason) == [.starting])
        #expect(fleet.state("alpha") == .starting)
        // …until it answers: the supervisor stops accepting, then hands the listener over.
        actions = fleet.send(.heartbeat(spawn.worker, healthy("alpha")))
        #expect(actions.stops == [StopAnswering(listener: notice.listener, handOverTo: spawn.worker)])
        #expect(actions.resumes.isEmpty, "the hand-over resumes it, after the supervisor stopped accepting")
        #expect(fleet.state("alpha") == .running)
        let worker = try #require(fleet.current("alpha"))
        #expect(!worker.awaitingHandOver && worker.pause == .accepting)
        #expect(fleet.slot("alpha")?.answering == nil && fleet.slot("alpha")?.unservedSince == nil)
        #expect(fleet.run(for: .seconds(2)).notices.isEmpty)
    }

    @Test func aPausedWorkerThatCrashesBeforeItAnswersKeepsTheSupervisorAnswering() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .signal("SIGKILL")))
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .signal("SIGKILL")))
        fleet.run(for: .milliseconds(1100), answering: ["beta"])
        fleet.now = try #require(fleet.slot("alpha")?.backoffUntil)
        let spawn = try #require(fleet.send(.tick).spawns.first)
        #expect(spawn.start.startPaused)
        let actions = fleet.send(.exited(spawn.worker, .code(1)))
        #expect(actions.stops.isEmpty)
        #expect(actions.notices.map(\.reason) == [.backoff])
        #expect(fleet.slot("alpha")?.answering?.reason == .backoff)
    }

    @Test func fatalAndStoppedTenantsAreAnsweredUntilStartedAgain() throws {
        let config = Fixtures.config(
            [Fixtures.tenant("alpha", port: 8081)],
            restart: RestartPolicy(initialBackoff: .milliseconds(100), maxBackoff: .seconds(4), maxRestarts: 1, window: .seconds(60))
        )
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .code(1)))
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .code(1)))
        #expect(fleet.state("alpha") == .fatal)
        let notice = try #require(fleet.run(for: .milliseconds(1100)).notices.last)
        #expect(notice.reason == .fatal && notice.retryAt == nil)
        #expect(notice.retryAfterSeconds(now: fleet.now) == 4, "nothing scheduled: max_backoff")

        // `ctl start`: the new worker starts paused and takes over once it answers.
        var actions = fleet.send(.command(.start, tenant: "alpha"))
        let spawn = try #require(actions.spawns.first)
        #expect(spawn.start.startPaused)
        actions = fleet.send(.heartbeat(spawn.worker, healthy("alpha")))
        #expect(actions.stops == [StopAnswering(listener: notice.listener, handOverTo: spawn.worker)])

        // `ctl stop`: the worker drains; after the grace its connections are answered.
        actions = fleet.send(.command(.stop, tenant: "alpha"))
        #expect(actions.drains == [spawn.worker])
        actions = fleet.run(for: .milliseconds(1100))
        #expect(actions.notices.map(\.reason) == [.stopped])
        actions = fleet.send(.exited(spawn.worker, .code(0)))
        #expect(actions.notices.isEmpty && fleet.state("alpha") == .stopped, "still stopped: the same notice")
    }

    @Test func theGraceIsPerTenantAndZeroAnswersAtOnce() throws {
        var quick = Fixtures.tenant("alpha", port: 8081)
        quick.backlogGrace = .zero
        var patient = Fixtures.tenant("beta", port: 8082)
        patient.backlogGrace = .seconds(3)
        let config = Fixtures.config([quick, patient], restart: Self.restart)
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.send(.exited(try #require(fleet.current("beta")?.id), .code(1)))
        let actions = fleet.send(.exited(try #require(fleet.current("alpha")?.id), .code(1)))
        #expect(actions.notices.map(\.tenant) == ["alpha"])
        #expect(fleet.run(for: .milliseconds(2900), answering: []).notices.isEmpty)
        #expect(fleet.run(for: .milliseconds(200), answering: []).notices.map(\.tenant) == ["beta"])
    }

    @Test func shutdownAndRemovalStopAnswering() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .code(1)))
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .code(1)))
        let notice = try #require(fleet.run(for: .milliseconds(1100), answering: ["beta"]).notices.last)
        // A reload without alpha: its listener is about to close, nobody answers it.
        let without = Fixtures.config([Fixtures.tenant("beta", port: 8082)], restart: Self.restart)
        var actions = fleet.send(.desired(without))
        #expect(actions.stops == [StopAnswering(listener: notice.listener, handOverTo: nil)])
        #expect(actions.closedListeners.contains(notice.listener))
        actions = fleet.send(.shutdown)
        #expect(actions.notices.isEmpty)
    }

    @Test func aReloadThatOnlyChangesTheGraceKeepsTheWorker() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let pid = fleet.pid("alpha")
        var alpha = Fixtures.tenant("alpha", port: 8081)
        alpha.backlogGrace = .seconds(5)
        let actions = fleet.send(.desired(Fixtures.config([alpha, Fixtures.tenant("beta", port: 8082)], restart: Self.restart)))
        #expect(actions.reloadReports.first?.actions["alpha"] == .unchanged)
        #expect(actions.spawns.isEmpty && fleet.pid("alpha") == pid)
        #expect(fleet.slot("alpha")?.desired.backlogGrace == .seconds(5))
    }

    @Test func retryAfterIsWholeSecondsRoundedUpAndAtLeastOne() {
        let now = ContinuousClock.now
        func seconds(_ wait: Duration?) -> Int {
            BacklogNotice(tenant: "a", listener: ListenerID(value: 1), reason: .backoff, retryAt: wait.map { now + $0 }, fallback: .seconds(30))
                .retryAfterSeconds(now: now)
        }
        #expect(seconds(.milliseconds(200)) == 1)
        #expect(seconds(.seconds(1)) == 1)
        #expect(seconds(.milliseconds(1010)) == 2)
        #expect(seconds(.milliseconds(7500)) == 8)
        #expect(seconds(.seconds(-3)) == 1, "overdue")
        #expect(seconds(nil) == 30)
    }
}

struct StopAnswering: Equatable {
    var listener: ListenerID
    var handOverTo: WorkerID?
}

extension Array where Element == FleetAction {
    var notices: [BacklogNotice] { compactMap { if case .answerBacklog(let n) = $0 { return n } else { return nil } } }
    var stops: [StopAnswering] {
        compactMap { if case .stopAnswering(let l, let w) = $0 { return StopAnswering(listener: l, handOverTo: w) } else { return nil } }
    }
}
