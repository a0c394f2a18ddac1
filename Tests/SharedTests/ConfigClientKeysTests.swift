import Foundation
import Testing

@testable import Shared

/// Named client keys (`api_keys` mappings, `api_keys_file` `name:key` lines), their limits and
/// the tenant's `limits`, `usage_retention`, `usage_ledger`.
@Suite("Fleet file: named client keys and limits")
struct ConfigClientKeysTests {
    static func file(keys: String, tenant: String = "", defaults: String = "") -> String {
        var text = "version: 1\n"
        if !defaults.isEmpty { text += "defaults:\n" + defaults + "\n" }
        text += """
            tenants:
              team-a:
                listen: :8081
                tokens: [{name: t, jwt: j}]

            """
        text += keys + "\n"
        if !tenant.isEmpty { text += tenant + "\n" }
        return text
    }

    @Test func plainAndNamedKeysWithLimits() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        try dir.write("secrets/ci.key", "sk-ci-0123456789\n")
        let config = try #require(parsedConfig(Self.file(keys: """
                api_keys:
                  - sk-plain-0123456789
                  - name: alice
                    key: "${ALICE_KEY}"
                  - name: ci
                    key_file: secrets/ci.key
                    rpm: 30
                    max_concurrent: 2
                    daily_quota: 5000
                    models: [claude-*, gpt-5]
            """, tenant: """
                limits:
                  rpm: 600
                  daily_quota: 12.5
                usage_retention: 30d
            """), environment: ["ALICE_KEY": "sk-alice-0123456789"], path: dir.path + "/fleet.yaml"))
        let tenant = try #require(config.tenant(named: "team-a"))
        #expect(tenant.apiKeys == ["sk-plain-0123456789", "sk-alice-0123456789", "sk-ci-0123456789"])
        #expect(tenant.keyPolicies.map(\.name) == [ClientKeyPolicy.defaultName(for: "sk-plain-0123456789"), "alice", "ci"])
        #expect(tenant.keyPolicies[0].name.hasPrefix("key-") && tenant.keyPolicies[0].name.count == 12)
        #expect(tenant.keyPolicies[1].limits.isEmpty)
        #expect(tenant.keyPolicies[2].limits == UsageLimits(rpm: 30, maxConcurrent: 2, dailyQuota: 5000, models: ["claude-*", "gpt-5"]))
        #expect(tenant.usageLimits == UsageLimits(rpm: 600, dailyQuota: 12.5))
        #expect(tenant.usageRetention == .seconds(30 * 86_400))
        #expect(tenant.usageLedger)

        // The worker gets it as JSON: names and limits survive, defaults fill older documents.
        let decoded = try JSONDecoder().decode(TenantConfig.self, from: JSONEncoder().encode(tenant))
        #expect(decoded == tenant)
    }

    @Test func defaultsWhenNothingIsSet() throws {
        let config = try #require(parsedConfig(Self.file(keys: "    api_keys: [k]")))
        let tenant = try #require(config.tenant(named: "team-a"))
        #expect(tenant.keyPolicy(at: 0) == ClientKeyPolicy(name: ClientKeyPolicy.defaultName(for: "k")))
        #expect(tenant.keyPolicies.isEmpty)
        #expect(tenant.usageLimits.isEmpty)
        #expect(tenant.usageRetention == .seconds(90 * 86_400))
    }

    @Test func limitsAndLedgerSwitchFromDefaults() throws {
        let config = try #require(parsedConfig(Self.file(keys: "    api_keys: [k]", defaults: """
              limits: {max_concurrent: 4, models: ["gpt-*"]}
              usage_ledger: false
            """)))
        let tenant = try #require(config.tenant(named: "team-a"))
        #expect(tenant.usageLimits == UsageLimits(maxConcurrent: 4, models: ["gpt-*"]))
        #expect(!tenant.usageLedger)
    }

    @Test func keysFileWithNames() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        try dir.write("team.keys", "# team\nalice:sk-alice-1\nsk-plain-2\n ci : sk-ci-3 \n")
        let config = try #require(parsedConfig(Self.file(keys: "    api_keys_file: team.keys"), path: dir.path + "/fleet.yaml"))
        let tenant = try #require(config.tenant(named: "team-a"))
        #expect(tenant.apiKeys == ["sk-alice-1", "sk-plain-2", "sk-ci-3"])
        #expect(tenant.keyPolicies.map(\.name) == ["alice", ClientKeyPolicy.defaultName(for: "sk-plain-2"), "ci"])
    }

    @Test func keysFileWithABadName() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        try dir.write("team.keys", "ok:sk-1\nbad name:sk-2\nempty:\n")
        let diagnostics = configDiagnostics(Self.file(keys: "    api_keys_file: team.keys"), path: dir.path + "/fleet.yaml")
        #expect(diagnostics.map(\.keyPath) == ["tenants.team-a.api_keys_file", "tenants.team-a.api_keys_file"])
        #expect(diagnostics.map(\.line) == [6, 6])
        #expect(diagnostics[0].message.contains("line 2 of api_keys_file") && diagnostics[0].message.contains("not a valid key name"))
        #expect(diagnostics[1].message.contains("line 3 of api_keys_file") && diagnostics[1].message.contains("the key is empty"))
        #expect(!diagnostics.contains { $0.message.contains("sk-") })
    }

    @Test func unknownKeyInAnEntryNamesItsPosition() {
        let diagnostics = configDiagnostics(Self.file(keys: """
                api_keys:
                  - name: alice
                    key: sk-alice
                    rmp: 3
            """))
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.api_keys[0].rmp", line: 9, column: 9,
                               containing: "unknown key 'rmp' (did you mean 'rpm'?)")
    }

    @Test func entryNeedsNameAndExactlyOneKey() {
        var diagnostics = configDiagnostics(Self.file(keys: """
                api_keys:
                  - key: sk-alice
            """))
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.api_keys[0]", line: 7, column: 9, message: "missing required key 'name'")
        diagnostics = configDiagnostics(Self.file(keys: """
                api_keys:
                  - name: alice
            """))
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.api_keys[0]", line: 7, containing: "missing 'key' or 'key_file'")
        diagnostics = configDiagnostics(Self.file(keys: """
                api_keys:
                  - name: alice
                    key: sk-alice
                    key_file: alice.key
            """))
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.api_keys[0].key_file", line: 9, column: 9,
                               message: "'key' and 'key_file' cannot both be set (use one of them)")
    }

    @Test func badLimitValues() {
        let diagnostics = configDiagnostics(Self.file(keys: """
                api_keys:
                  - name: "al ice"
                    key: sk-alice
                    rpm: 0
                    max_concurrent: lots
                    daily_quota: -5
                    models: []
            """))
        #expect(diagnostics.map(\.keyPath) == [
            "tenants.team-a.api_keys[0].name", "tenants.team-a.api_keys[0].rpm", "tenants.team-a.api_keys[0].max_concurrent",
            "tenants.team-a.api_keys[0].daily_quota", "tenants.team-a.api_keys[0].models",
        ])
        #expect(diagnostics.map(\.line) == [7, 9, 10, 11, 12])
        #expect(diagnostics[0].message.contains("invalid key name 'al ice'"))
        #expect(diagnostics[1].message == "must be at least 1, found '0'")
        #expect(diagnostics[3].message.contains("above 0"))
        #expect(diagnostics[4].message.contains("models is empty"))
    }

    @Test func tenantLimitsAreChecked() {
        let diagnostics = configDiagnostics(Self.file(keys: "    api_keys: [k]", tenant: """
                limits:
                  rpm: 10
                  burst: 3
                usage_retention: 5m
            """))
        #expect(diagnostics.map(\.keyPath) == ["tenants.team-a.limits.burst", "tenants.team-a.usage_retention"])
        #expect(diagnostics.map(\.line) == [9, 10])
        #expect(diagnostics[1].message == "invalid usage_retention '5m' (expected at least 1h, e.g. 90d, 720h)")
        #expect(parseDurationOrDays("90d") == .seconds(90 * 86_400))
        #expect(parseDurationOrDays("36h") == .seconds(36 * 3600))
        #expect(parseDurationOrDays("d") == nil)
    }

    @Test func namesAreUniqueAndAKeyHasOneName() {
        var diagnostics = configDiagnostics(Self.file(keys: """
                api_keys:
                  - {name: alice, key: sk-1}
                  - {name: alice, key: sk-2}
            """))
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.api_keys", line: 7, containing: "two api_keys are named 'alice'")
        diagnostics = configDiagnostics(Self.file(keys: """
                api_keys:
                  - {name: alice, key: sk-1}
                  - {name: bob, key: sk-1}
            """))
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.api_keys", line: 7, containing: "listed as 'alice' and 'bob'")
        #expect(!diagnostics[0].message.contains("sk-1"))
    }

    @Test func globs() {
        #expect(globMatches("claude-*", "claude-4-sonnet"))
        #expect(globMatches("gpt-5", "gpt-5"))
        #expect(!globMatches("gpt-5", "gpt-5-mini"))
        #expect(globMatches("gpt-?", "gpt-5"))
        #expect(globMatches("*", ""))
        #expect(globMatches("*-mini", "gpt-5-mini"))
        #expect(globMatches("a*b*c", "axxbyyc"))
        #expect(!globMatches("a*b*c", "axxbyy"))
        #expect(!globMatches("claude-*", "anthropic-claude"))
    }
}
