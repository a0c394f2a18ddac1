import Foundation
import Shared
import Testing
@testable import SupervisorCore

/// The unified health document, from the reconciler's state.
@Suite struct HealthDocumentTests {
    let config = Fixtures.config([Fixtures.tenant("alpha", port: 8081), Fixtures.tenant("beta", port: 8082)])

    @Test func everyTenantRunningWithEveryJWTUsableIsOK() {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let health = fleet.health()
        #expect(health.status == .ok)
        #expect(health.healthyTenants == 2 && health.totalTenants == 2)
        let alpha = health.tenants["alpha"]
        #expect(alpha?.state == .running && alpha?.status == .ok)
        #expect(alpha?.listen == "127.0.0.1:8081")
        #expect(alpha?.healthyTokens == 2 && alpha?.totalTokens == 2)
        #expect(alpha?.pid == fleet.pid("alpha"))
    }

    @Test func beforeTheFirstAnswerTheTokensAreUnknownAndTheFleetIsDown() {
        var fleet = FleetDriver(config)
        fleet.send(.desired(config))
        let health = fleet.health()
        #expect(health.status == .down)
        let alpha = health.tenants["alpha"]
        #expect(alpha?.state == .starting && alpha?.status == .down)
        #expect(alpha?.tokens.map(\.state) == [.unknown, .unknown])
        #expect(alpha?.tokens.first?.fingerprint == fingerprint(Fixtures.jwtA), "never the JWT itself")
    }

    @Test func aTenantWithAnUnusableJWTMakesTheFleetDegraded() {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.advance(.seconds(1))
        fleet.answerHeartbeats(of: "alpha", with: healthy("alpha", states: ["backup": .invalid]))
        let health = fleet.health()
        #expect(health.status == .degraded)
        #expect(health.healthyTenants == 2, "it can still serve")
        #expect(health.tenants["alpha"]?.status == .degraded)
        #expect(health.tenants["alpha"]?.healthyTokens == 1)
    }

    @Test func aStoppedTenantMakesTheFleetDegradedAndEveryTenantStoppedMakesItDown() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        fleet.send(.command(.stop, tenant: "beta"))
        fleet.send(.exited(try #require(fleet.current("beta")?.id), .code(0)))
        var health = fleet.health()
        #expect(health.status == .degraded && health.healthyTenants == 1)
        #expect(health.tenants["beta"]?.state == .stopped && health.tenants["beta"]?.pid == nil)
        #expect(health.tenants["beta"]?.status == .down)
        fleet.send(.command(.stop, tenant: "alpha"))
        fleet.send(.exited(try #require(fleet.current("alpha")?.id), .code(0)))
        health = fleet.health()
        #expect(health.status == .down && health.healthyTenants == 0 && health.totalTenants == 2)
    }

    @Test func aCrashedTenantShowsItsLastExitDatedOnTheWallClock() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        try fleet.crashIntoBackoff("alpha", .signal("SIGKILL"))
        fleet.advance(.milliseconds(100))
        let alpha = try #require(fleet.health().tenants["alpha"])
        #expect(alpha.state == .backoff && alpha.pid == nil && alpha.restarts == 2)
        #expect(alpha.lastExit?.signal == "SIGKILL" && alpha.lastExit?.code == nil)
        let at = try #require(alpha.lastExit?.at)
        #expect(abs(at.timeIntervalSince1970 - (1_700_000_000 - 0.1)) < 0.001)
        #expect(fleet.health().status == .degraded)
    }

    @Test func theDocumentKeepsItsContractKeys() throws {
        var fleet = FleetDriver(config)
        fleet.startRunning(config)
        let data = try JSONEncoder.control().encode(fleet.health())
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["status", "healthy_tenants", "total_tenants", "tenants"])
        let tenant = try #require((object["tenants"] as? [String: Any])?["alpha"] as? [String: Any])
        for key in ["state", "pid", "uptime_s", "restarts", "last_exit", "listen", "status", "healthy_tokens", "total_tokens", "strategy", "tokens"] {
            #expect(tenant.keys.contains(key), "missing \(key)")
        }
        #expect(tenant["last_exit"] is NSNull, "null, not missing")
    }
}
