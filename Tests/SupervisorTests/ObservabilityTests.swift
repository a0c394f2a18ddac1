import Foundation
import Shared
import Testing
@testable import SupervisorCore

/// The event history as the reconciler produces it, the ring buffer that keeps it, request
/// rates from heartbeats, and the merge of workers' metrics into the fleet's exposition.
@Suite struct EventHistoryTests {
    let config = Fixtures.config([Fixtures.tenant("alpha", port: 8081), Fixtures.tenant("beta", port: 8082)])

    @Test func startUpRecordsTheReloadAndEachWorkerStartingThenRunning() {
        var fleet = FleetDriver(config)
        let events = fleet.startRunning(config).history
        #expect(events.map(\.kind) == [.reloadApplied, .started, .started, .running, .running])
        #expect(events[1].tenant == "alpha")
        #expect(events[1].details["pid"] == "1001")
        #expect(events[0].tenant == nil)
        #expect(events[0].details == ["alpha": "started", "beta": "started"])
    }

    @Test func aCrashIsAnUnexpectedExitThenARestartAndARepeatedOneABackoff() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let id = try #require(fleet.current("alpha")?.id)
        // The first crash after a healthy run restarts at once.
        let crash = fleet.send(.exited(id, .signal("SIGKILL"))).history
        #expect(crash.map(\.kind) == [.exited, .started])
        #expect(crash[0].details["signal"] == "SIGKILL")
        #expect(crash[0].details["expected"] == "false")
        #expect(crash[0].message.contains("crashed"))
        #expect(fleet.answerHeartbeats(of: "alpha").history.map(\.kind) == [.running])
        // Another one soon after backs off first.
        let again = try #require(fleet.current("alpha")?.id)
        #expect(fleet.send(.exited(again, .signal("SIGKILL"))).history.map(\.kind) == [.exited, .backoff])
        var restart = fleet.run(for: .seconds(2)).history.map(\.kind)
        restart += fleet.answerHeartbeats(of: "alpha").history.map(\.kind)
        #expect(restart == [.started, .running])
    }

    @Test func aHungWorkerIsRecordedAsHungNotAsAPlainKill() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let events = fleet.run(for: .seconds(7), answering: ["beta"]).history  // hung once a sent heartbeat waits heartbeat_timeout
        #expect(events.filter { $0.kind == .hung }.map(\.tenant) == ["alpha"])
        #expect(!events.contains { $0.kind == .killed })
    }

    @Test func aRejectedReloadKeepsEachError() {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let events = fleet.send(.rejected(errors: ["fleet.yaml:3:5: unknown key 'lisen'", "fleet.yaml:9:1: bad"])).history
        #expect(events.map(\.kind) == [.reloadRejected])
        #expect(events[0].details == ["error1": "fleet.yaml:3:5: unknown key 'lisen'", "error2": "fleet.yaml:9:1: bad"])
    }

    @Test func jwtStateChangesFromHeartbeatsAreEvents() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.advance(.seconds(1))
        let cooling = fleet.answerHeartbeats(of: "alpha", with: healthy("alpha", states: ["primary": .coolingDown])).history
        #expect(cooling.map(\.kind) == [.tokenState])
        #expect(cooling.first?.details == ["token": "primary", "from": "healthy", "to": "cooling_down"])
        fleet.advance(.seconds(1))
        let same = fleet.answerHeartbeats(of: "alpha", with: healthy("alpha", states: ["primary": .coolingDown])).history
        #expect(same.isEmpty, "an unchanged state is not news")
    }

    @Test func aReplacementIsRecordedAsReplacedAndTheOldWorkerExitsAsExpected() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let old = try #require(fleet.current("alpha"))
        fleet.send(.command(.restart, tenant: "alpha"))
        fleet.send(.paused(old.id))
        let events = fleet.answerHeartbeats(of: "alpha").history
        #expect(events.map(\.kind).contains(.replaced))
        let exit = fleet.send(.exited(old.id, .code(0))).history
        #expect(exit.map(\.kind) == [.exited])
        #expect(exit.first?.details["expected"] == "true")
    }

    @Test func theRingBufferKeepsTheLastNInOrderAndFiltersByTenant() {
        var history = EventHistory(capacity: 3)
        let t0 = Date(timeIntervalSince1970: 0)
        for (i, tenant) in ["a", "b", "a", nil, "b"].enumerated() {
            history.append(FleetHistoryEvent(kind: .started, tenant: tenant, message: "e\(i)"), at: t0 + Double(i))
        }
        #expect(history.count == 3)
        #expect(history.all.map(\.message) == ["e2", "e3", "e4"])
        #expect(history.all.map(\.seq) == [3, 4, 5])
        #expect(history.last(2).map(\.message) == ["e3", "e4"])
        #expect(history.last(10, tenant: "a").map(\.message) == ["e2", "e3"], "fleet-wide events show for every tenant")
        #expect(history.last(0).isEmpty)
    }

    @Test func requestRatesComeFromSuccessiveHeartbeats() {
        var rate = RequestRate()
        let t0 = ContinuousClock.now
        rate.add(now: t0, requests: 100, errors: 1)
        #expect(rate.perSecond(now: t0) == nil)
        rate.add(now: t0 + .seconds(2), requests: 120, errors: 6)
        #expect(rate.perSecond(now: t0 + .seconds(2)) == 10)
        #expect(rate.errorRate == 0.25)
        rate.add(now: t0 + .seconds(3), requests: 3, errors: 0)
        #expect(rate.perSecond(now: t0 + .seconds(3)) == nil, "a new worker starts counting again")
    }

    @Test func theHealthDocumentCarriesRatesAndTokenDetails() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        var report = healthy("alpha")
        report.requestsTotal = 10
        report.errorsTotal = 0
        report.tokens[0].quota = QuotaReport(current: "30", maximum: "100")
        report.tokens[0].inFlight = 2
        fleet.advance(.seconds(1))
        fleet.answerHeartbeats(of: "alpha", with: report)
        report.requestsTotal = 30
        report.errorsTotal = 2
        fleet.advance(.seconds(1))
        fleet.answerHeartbeats(of: "alpha", with: report)
        let alpha = try #require(fleet.health().tenants["alpha"])
        #expect(alpha.requestsPerSecond == 20)
        #expect(alpha.errorRate == 0.1)
        #expect(alpha.tokens.first?.quotaRemaining == 70)
        #expect(alpha.tokens.first?.inFlight == 2)
    }

    @Test func aWorkerThatMissedItsHeartbeatIsNotUpForTheMetrics() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        #expect(fleet.reconciler.metricsViews(now: fleet.now).map(\.view.up) == [true, true])
        let id = try #require(fleet.current("alpha")?.id)
        fleet.advance(.seconds(1))
        fleet.send(.heartbeatMissed(id))
        let views = fleet.reconciler.metricsViews(now: fleet.now)
        #expect(views.map(\.view.up) == [false, true])
        #expect(views[0].worker == nil)
        #expect(views[0].view.state == .running)
    }
}

@Suite struct ExpositionTests {
    @Test func theTenantLabelIsAddedFirstOrReplaced() {
        #expect(Exposition.setting("tenant", to: "a", in: "up 1") == #"up{tenant="a"} 1"#)
        #expect(Exposition.setting("tenant", to: "a", in: #"x_total{api="chat"} 3"#) == #"x_total{tenant="a",api="chat"} 3"#)
        #expect(Exposition.setting("tenant", to: "a", in: #"x{tenant="wrong",api="chat"} 3"#) == #"x{tenant="a",api="chat"} 3"#)
        #expect(Exposition.setting("tenant", to: "a", in: #"x{} 3"#) == #"x{tenant="a"} 3"#)
    }

    @Test func labelValuesWithQuotesCommasAndBracesSurvive() {
        let line = #"x{model="a,\"b}\" c",le="+Inf"} 7 1700000000"#
        #expect(Exposition.setting("tenant", to: #"t"1"#, in: line) == #"x{tenant="t\"1",model="a,\"b}\" c",le="+Inf"} 7 1700000000"#)
    }

    @Test func familiesOfSeveralWorkersAreWrittenOnceWithAllTheirSamples() {
        let worker = """
        # TYPE jbai_requests_total counter
        jbai_requests_total{tenant="x",api="chat",model="m",status="200"} 2
        # TYPE jbai_request_duration_seconds histogram
        jbai_request_duration_seconds_bucket{tenant="x",api="chat",le="0.1"} 1
        jbai_request_duration_seconds_bucket{tenant="x",api="chat",le="+Inf"} 2
        jbai_request_duration_seconds_sum{tenant="x",api="chat"} 0.3
        jbai_request_duration_seconds_count{tenant="x",api="chat"} 2

        """
        let own = "# TYPE jbai_worker_up gauge\njbai_worker_up{tenant=\"a\"} 1\njbai_worker_up{tenant=\"b\"} 1\n"
        let merged = Exposition.merge(own: own, workers: [("a", worker), ("b", worker)])
        let lines = merged.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0 == "# TYPE jbai_requests_total counter" }.count == 1)
        #expect(lines.filter { $0 == "# TYPE jbai_request_duration_seconds histogram" }.count == 1)
        #expect(lines.contains(#"jbai_requests_total{tenant="a",api="chat",model="m",status="200"} 2"#))
        #expect(lines.contains(#"jbai_requests_total{tenant="b",api="chat",model="m",status="200"} 2"#))
        #expect(lines.filter { $0.hasPrefix("jbai_request_duration_seconds_bucket") }.count == 4)
        // Each family's samples follow its TYPE line, before the next family begins.
        let typeLine = lines.firstIndex(of: "# TYPE jbai_request_duration_seconds histogram")!
        let nextType = lines[(typeLine + 1)...].firstIndex { $0.hasPrefix("# TYPE") } ?? lines.endIndex
        #expect(lines[typeLine..<nextType].count == 1 + 8)
        #expect(!merged.contains(#"tenant="x""#))
    }

    @Test func anEmptyWorkerTextAddsNothing() {
        let own = "# TYPE jbai_reloads_total counter\njbai_reloads_total{result=\"applied\"} 1\n"
        #expect(Exposition.merge(own: own, workers: [("a", "")]) == own)
    }
}

@Suite struct FleetMetricsTests {
    @Test func workerGaugesFollowTheViewsAndRestartsCountTheDifference() {
        var metrics = FleetMetrics()
        metrics.record(FleetHistoryEvent(kind: .reloadApplied, tenant: nil, message: ""))
        var text = metrics.exposition([.init(name: "a", state: .running, restarts: 0, up: true)])
        #expect(text.contains(#"jbai_worker_up{tenant="a"} 1"#))
        #expect(text.contains(#"jbai_worker_state{tenant="a",state="running"} 1"#))
        #expect(text.contains(#"jbai_worker_state{tenant="a",state="backoff"} 0"#))
        #expect(text.contains(#"jbai_reloads_total{result="applied"} 1"#))
        #expect(text.contains(#"jbai_reloads_total{result="rejected"} 0"#))
        text = metrics.exposition([.init(name: "a", state: .backoff, restarts: 2, up: false)])
        #expect(text.contains(#"jbai_worker_up{tenant="a"} 0"#))
        #expect(text.contains(#"jbai_worker_restarts_total{tenant="a"} 2"#))
        #expect(text.contains(#"jbai_worker_state{tenant="a",state="backoff"} 1"#))
        text = metrics.exposition([])
        #expect(!text.contains(#"tenant="a""#), "a removed tenant's series go")
    }
}

@Suite struct WorkerHealthWireTests {
    @Test func theRequestTotalsTravelInTheHeartbeat() throws {
        let json = #"{"healthy_tokens":1,"requests_total":10,"errors_total":2,"status":"ok","strategy":"round_robin","tenant":"a","tokens":[],"total_tokens":1}"#
        let health = try JSONDecoder.control().decode(WorkerHealth.self, from: Data(json.utf8))
        #expect(health.requestsTotal == 10)
        #expect(health.errorsTotal == 2)
    }
}

@Suite struct RateTimingTests {
    @Test func ratesFromHeartbeatsEveryFewHundredMilliseconds() throws {
        let config = Fixtures.config([Fixtures.tenant("alpha", port: 8081)], heartbeatInterval: .milliseconds(200), heartbeatTimeout: .seconds(2))
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        var report = healthy("alpha")
        for i in 1...10 {
            fleet.advance(.milliseconds(200))
            report.requestsTotal = i * 2
            report.errorsTotal = 0
            fleet.answerHeartbeats(of: "alpha", with: report)
        }
        let alpha = try #require(fleet.health().tenants["alpha"])
        #expect(alpha.requestsPerSecond == 10)
        #expect(alpha.errorRate == 0)
    }
}
