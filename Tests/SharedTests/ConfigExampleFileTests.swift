import Foundation
import Testing

@testable import Shared

/// `examples/yaml/fleet.yaml` must stay valid: it is what users copy.
@Suite("Fleet file: the shipped example")
struct ConfigExampleFileTests {
    static let examplePath = ConfigPaths.resolve("../../examples/yaml/fleet.yaml", against: ConfigPaths.directory(of: #filePath))

    static let environment = [
        "TEAM_A_KEY": "sk-team-a-current-0123456789",
        "TEAM_A_KEY_NEXT": "sk-team-a-next-0123456789",
        "TEAM_A_JWT_1": "eyJhbGciOiJIUzI1NiJ9.team-a-1.sig",
        "TEAM_A_JWT_2": "eyJhbGciOiJIUzI1NiJ9.team-a-2.sig",
        "TEAM_B_LICENSE": "license-b-0123456789",
        "TEAM_B_LICENSE_AUTH": "authorization-b-0123456789",
        "TEAM_B_LICENSE_2": "license-b2-0123456789",
        "TEAM_B_REFRESH_TOKEN": "refresh-b-0123456789",
        "RESEARCH_LICENSE": "license-research-0123456789",
        "RESEARCH_KEY": "sk-research-0123456789",
        "RESEARCH_JWT": "eyJhbGciOiJIUzI1NiJ9.research.sig",
    ]

    /// The example next to the secret files it names, in a temporary folder.
    private func exampleInTempFolder() throws -> (ConfigTempDirectory, String, String) {
        let text = try String(contentsOfFile: Self.examplePath, encoding: .utf8)
        let dir = try ConfigTempDirectory()
        try dir.write("secrets/team-a-backup.jwt", "eyJhbGciOiJIUzI1NiJ9.team-a-backup.sig\n")
        try dir.write("secrets/team-a-ci.key", "sk-team-a-ci-0123456789\n")
        try dir.write("secrets/team-b.keys", "# team-b\nsk-team-b-one\n\nsk-team-b-two\n")
        try dir.write("secrets/research.refresh", "refresh-research-0123456789\n")
        return (dir, text, dir.path + "/fleet.yaml")
    }

    @Test func parsesWithTheVariablesSet() throws {
        let (dir, text, path) = try exampleInTempFolder()
        defer { dir.remove() }
        let config = try FleetConfigLoader.parse(yaml: text, path: path, environment: Self.environment)

        #expect(config.tenants.map(\.name) == ["team-a", "team-b", "research"])
        #expect(config.supervisor.listen.description == "127.0.0.1:9090")
        #expect(config.supervisor.controlSocket == dir.path + "/run/supervisor.sock")
        #expect(config.supervisor.logDir == "/var/log/jetbrains-ai")
        #expect(config.supervisor.workerBinary == "/usr/local/bin/jetbrains-ai-proxy")
        #expect(config.supervisor.logMaxBytes == 50 << 20)
        #expect(config.supervisor.logBackups == 5)

        let teamA = try #require(config.tenant(named: "team-a"))
        #expect(teamA.apiKeys == ["sk-team-a-current-0123456789", "sk-team-a-next-0123456789", "sk-team-a-ci-0123456789"])
        #expect(teamA.keyPolicies[2] == ClientKeyPolicy(
            name: "ci", limits: UsageLimits(rpm: 30, maxConcurrent: 2, dailyQuota: 5000, models: ["claude-*", "gpt-5"])))
        #expect(teamA.usageLimits == UsageLimits(rpm: 600, dailyQuota: 50000))
        #expect(teamA.tokens.map(\.name) == ["primary", "secondary", "backup"])
        #expect(teamA.tokens[2].source == .jwt("eyJhbGciOiJIUzI1NiJ9.team-a-backup.sig"))
        #expect(teamA.tokens[0].metadata == ["region": "us-east-1", "owner": "platform-team"])
        #expect(teamA.grazieAgent?.contains("aia:pycharm") == true)

        let teamB = try #require(config.tenant(named: "team-b"))
        #expect(teamB.strategy == .leastBusy)
        #expect(teamB.apiKeys == ["sk-team-b-one", "sk-team-b-two"])
        #expect(teamB.requestTimeout == .seconds(300))
        #expect(teamB.models["my-fast"] == "google-gemini-3-0-flash")
        #expect(teamB.models["my-claude"] == "anthropic-claude-4-6-sonnet")
        #expect(teamB.tokens.first?.source
            == .license(id: "license-b-0123456789", authorization: "authorization-b-0123456789"))
        #expect(teamB.tokens.map(\.source).last
            == .licenseRefresh(id: "license-b2-0123456789", refreshToken: "refresh-b-0123456789"))
        #expect(teamB.accountURL == "https://oauth.account.jetbrains.com")
        #expect(teamB.models["my-sonnet"] == "anthropic-claude-4-5-sonnet")
        #expect(teamB.profileParameters["anthropic-claude-4-5-sonnet"]
            == ["temperature", "top-p", "stop-token", "length", "parallel-tool-calls"])
        #expect(teamB.profileParameters["openai-gpt-5"]?.contains("verbosity") == true)
        #expect(teamB.stateDir == dir.path + "/state")
        #expect(config.supervisor.stateDir == dir.path + "/state")

        let research = try #require(config.tenant(named: "research"))
        #expect(research.listen == ListenAddress(host: "::1", port: 8083))
        #expect(research.apiVersion == .v7)
        #expect(research.upstream == "https://api.jetbrains.ai")
        #expect(research.outboundProxy == nil)
        #expect(research.tokens.last?.source
            == .licenseRefresh(id: "license-research-0123456789", refreshToken: "refresh-research-0123456789"))
    }

    @Test func usesEveryKeyOfTheContract() throws {
        let text = try String(contentsOfFile: Self.examplePath, encoding: .utf8)
        let keys = FleetKeys.root + FleetKeys.supervisor + FleetKeys.restart + FleetKeys.tenant + FleetKeys.token + FleetKeys.apiKey
        for key in Set(keys) {
            #expect(text.contains("\(key):"), "the example does not use '\(key)'")
        }
    }

    @Test func reportsEveryMissingVariableWithoutValues() throws {
        let (dir, text, path) = try exampleInTempFolder()
        defer { dir.remove() }
        var environment = Self.environment
        environment["TEAM_A_JWT_2"] = nil
        environment["RESEARCH_KEY"] = nil
        #expect {
            try FleetConfigLoader.parse(yaml: text, path: path, environment: environment)
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            let keyPaths = error.diagnostics.map(\.keyPath)
            let leaked = Self.environment.values.contains { error.description.contains($0) }
            return keyPaths == ["tenants.team-a.tokens[1].jwt", "tenants.research.api_keys[0]"] && !leaked
        }
    }
}
