import Foundation
import Testing

@testable import Shared

/// `backlog_grace` (defaults / per tenant): how long the supervisor lets connections wait while
/// no worker serves a tenant before it answers them with 503 itself.
@Suite("Fleet file: backlog_grace")
struct ConfigBacklogGraceTests {
    @Test func oneSecondUnlessSaidAndATenantOverridesTheDefaults() throws {
        typealias File = ConfigCredentialKeysTests
        #expect(try #require(parsedConfig(File.file())).tenants[0].backlogGrace == .seconds(1))
        let inherited = try #require(parsedConfig(File.file(defaults: "  backlog_grace: 250ms")))
        #expect(inherited.tenants[0].backlogGrace == .milliseconds(250))
        let own = try #require(parsedConfig(File.file(defaults: "  backlog_grace: 250ms", tenant: "    backlog_grace: 0s")))
        #expect(own.tenants[0].backlogGrace == .zero, "0: answer at once")
    }

    @Test func itMustBeADuration() {
        let diagnostics = configDiagnostics(ConfigCredentialKeysTests.file(tenant: "    backlog_grace: soon"))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.backlog_grace", line: 6, column: 20,
            containing: "invalid duration 'soon'")
    }

    @Test func itTravelsInTheWorkerSettingsAndOlderSettingsDecode() throws {
        var tenant = TenantConfig(name: "a", listen: ListenAddress(host: "127.0.0.1", port: 1), apiKeys: [], tokens: [])
        tenant.backlogGrace = .milliseconds(1500)
        let data = try JSONEncoder.control().encode(tenant)
        #expect(try JSONDecoder.control().decode(TenantConfig.self, from: data).backlogGrace == .milliseconds(1500))
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        object.removeValue(forKey: "backlogGraceMs")
        let older = try JSONSerialization.data(withJSONObject: object)
        #expect(try JSONDecoder.control().decode(TenantConfig.self, from: older).backlogGrace == .seconds(1))
    }

    @Test func aSettingsLineWithoutStartPausedStartsAccepting() throws {
        let tenant = TenantConfig(name: "a", listen: ListenAddress(host: "127.0.0.1", port: 1), apiKeys: [], tokens: [])
        let paused = try JSONEncoder.control().encode(SupervisedStart(tenant: tenant, startPaused: true))
        #expect(try JSONDecoder.control().decode(SupervisedStart.self, from: paused).startPaused)
        var object = try #require(try JSONSerialization.jsonObject(with: paused) as? [String: Any])
        object.removeValue(forKey: "startPaused")
        let older = try JSONSerialization.data(withJSONObject: object)
        #expect(try JSONDecoder.control().decode(SupervisedStart.self, from: older).startPaused == false)
    }
}
