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

    static let tenant = TenantConfig(name: "a", listen: ListenAddress(host: "127.0.0.1", port: 1), apiKeys: [], tokens: [])

    /// `value` encoded, then decoded without `key` (settings written by an older supervisor).
    static func decodedWithout<T: Codable>(_ key: String, _ value: T) throws -> T {
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder.control().encode(value)) as? [String: Any])
        #expect(object.removeValue(forKey: key) != nil, "\(key) is encoded")
        return try JSONDecoder.control().decode(T.self, from: JSONSerialization.data(withJSONObject: object))
    }

    @Test func itTravelsInTheWorkerSettingsAndOlderSettingsDecode() throws {
        var tenant = Self.tenant
        tenant.backlogGrace = .milliseconds(1500)
        let data = try JSONEncoder.control().encode(tenant)
        #expect(try JSONDecoder.control().decode(TenantConfig.self, from: data).backlogGrace == .milliseconds(1500))
        #expect(try Self.decodedWithout("backlogGraceMs", tenant).backlogGrace == .seconds(1))
    }

    @Test func aSettingsLineWithoutStartPausedStartsAccepting() throws {
        let paused = SupervisedStart(tenant: Self.tenant, startPaused: true)
        #expect(try JSONDecoder.control().decode(SupervisedStart.self, from: JSONEncoder.control().encode(paused)).startPaused)
        #expect(try Self.decodedWithout("startPaused", paused).startPaused == false)
    }
}
