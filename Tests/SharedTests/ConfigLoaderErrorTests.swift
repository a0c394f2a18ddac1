import Foundation
import Testing

@testable import Shared

/// One test per validation rule: each pins the key path, line (and column) of the diagnostic.
@Suite("Fleet file: errors")
struct ConfigLoaderErrorTests {
    // MARK: - ${NAME} substitution

    @Test func unsetVariableIsAnErrorAtThatScalar() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens:
                  - name: primary
                    jwt: "${TEAM_A_JWT}"
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.tokens[0].jwt", line: 8, column: 14,
            message: "environment variable 'TEAM_A_JWT' is not set (write ${TEAM_A_JWT:-default} for a fallback)")
    }

    @Test func fallbackIsUsedWhenTheVariableIsUnset() throws {
        let config = try #require(parsedConfig("""
            version: 1
            tenants:
              team-a:
                listen: ${LISTEN:-127.0.0.1:8081}
                api_keys: [k]
                tokens: [{name: t, jwt: "${JWT:-eyJ.default.sig}"}]
            """))
        #expect(config.tenants.first?.listen.port == 8081)
        #expect(config.tenants.first?.tokens.first?.source == .jwt("eyJ.default.sig"))
    }

    @Test func variableValuesNeverAppearInMessages() {
        let environment = ["ATTEMPTS": "not-a-number-VALUE1", "LISTEN": "bad-listen-VALUE2", "WHEN": "VALUE3"]
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: ${LISTEN}
                max_attempts: ${ATTEMPTS}
                connect_timeout: ${WHEN}
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
            """, environment: environment)
        #expect(diagnostics.map(\.keyPath) == [
            "tenants.team-a.listen", "tenants.team-a.max_attempts", "tenants.team-a.connect_timeout",
        ])
        #expect(diagnostics.map(\.line) == [4, 5, 6])
        #expect(diagnostics[0].message.hasPrefix("invalid listen address '${LISTEN}'"))
        #expect(diagnostics[1].message == "expected a whole number, found '${ATTEMPTS}'")
        let text = ConfigError(diagnostics: diagnostics).description
        for value in environment.values { #expect(!text.contains(value)) }
    }

    @Test func malformedVariableReference() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: ["${KEY"]
                tokens: [{name: t, jwt: j}]
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.api_keys[0]", line: 5, column: 16, containing: "unterminated '${'")
    }

    // MARK: - Unknown keys

    @Test func unknownTenantKeySuggestsTheClosestKnownOne() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                strategey: random
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.strategey", line: 5, column: 5,
            message: "unknown key 'strategey' (did you mean 'strategy'?)")
    }

    @Test func unknownKeysAtEveryLevel() {
        let diagnostics = configDiagnostics("""
            version: 1
            verison: 1
            supervisor:
              heartbeat_intervall: 2s
              restart:
                max_restart: 3
            defaults:
              retries: 3
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens:
                  - name: t
                    jwt: j
                    wieght: 2
                    colour: blue
            """)
        #expect(diagnostics.map(\.description) == [
            "fleet.yaml:2:1: verison: unknown key 'verison' (did you mean 'version'?)",
            "fleet.yaml:4:3: supervisor.heartbeat_intervall: unknown key 'heartbeat_intervall' (did you mean 'heartbeat_interval'?)",
            "fleet.yaml:6:5: supervisor.restart.max_restart: unknown key 'max_restart' (did you mean 'max_restarts'?)",
            "fleet.yaml:8:3: defaults.retries: unknown key 'retries'",
            "fleet.yaml:16:9: tenants.team-a.tokens[0].wieght: unknown key 'wieght' (did you mean 'weight'?)",
            "fleet.yaml:17:9: tenants.team-a.tokens[0].colour: unknown key 'colour'",
        ])
    }

    // MARK: - Wrong types and values

    @Test func badDuration() {
        let diagnostics = configDiagnostics("""
            version: 1
            supervisor:
              restart:
                initial_backoff: 250
            tenants: {}
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "supervisor.restart.initial_backoff", line: 4, column: 22,
            message: "invalid duration '250' (expected a number and a unit: 250ms, 30s, 5m, 1h)")
    }

    @Test func badSize() {
        let diagnostics = configDiagnostics("""
            version: 1
            defaults:
              max_body_size: 10 megabytes
            tenants: {}
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "defaults.max_body_size", line: 3, column: 18,
            containing: "invalid size '10 megabytes'")
    }

    @Test func badListenAddress() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: localhost
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.listen", line: 4, column: 13,
            message: "invalid listen address 'localhost' (expected HOST:PORT, :PORT or [IPv6]:PORT, port 0-65535)")
    }

    @Test func badSupervisorListenAddress() {
        let diagnostics = configDiagnostics("""
            version: 1
            supervisor:
              listen: 127.0.0.1:99999
            tenants: {}
            """)
        expectSingleDiagnostic(diagnostics, keyPath: "supervisor.listen", line: 3, column: 11,
                               containing: "invalid listen address '127.0.0.1:99999'")
    }

    @Test func badStrategy() {
        let diagnostics = configDiagnostics("""
            version: 1
            defaults:
              strategy: roundrobin
            tenants: {}
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "defaults.strategy", line: 3, column: 13,
            message: "invalid strategy 'roundrobin' (expected round_robin | random | least_busy); did you mean 'round_robin'?")
    }

    @Test func badAPIVersion() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
                api_version: v9
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.api_version", line: 7, column: 18,
            containing: "invalid api_version 'v9' (expected v8 | v7)")
    }

    @Test func unsupportedVersion() {
        let diagnostics = configDiagnostics("""
            version: 2
            tenants: {}
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "version", line: 1, column: 10,
            message: "unsupported version 2 (this program reads version 1)")
    }

    @Test func missingVersionAndTenants() {
        let diagnostics = configDiagnostics("""
            supervisor:
              listen: 127.0.0.1:9090
            """)
        #expect(diagnostics.map(\.description) == [
            "fleet.yaml:1:1: missing required key 'version'",
            "fleet.yaml:1:1: missing required key 'tenants'",
        ])
    }

    @Test(arguments: ["Team-A", "team_a", "-team", "", "a23456789012345678901234567890123", "tëam"])
    func invalidTenantName(name: String) {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              "\(name)":
                listen: :8081
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.\(name)", line: 3, column: 3,
            containing: "invalid tenant name '\(name)'")
    }

    @Test func longestValidTenantName() {
        let name = "a2345678901234567890123456789012"  // 32 characters
        #expect(name.count == 32)
        #expect(configDiagnostics("""
            version: 1
            tenants:
              \(name): {listen: ":1", api_keys: [k], tokens: [{name: t, jwt: j}]}
            """).isEmpty)
    }

    @Test func weightBelowOne() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens:
                  - name: t
                    jwt: j
                    weight: 0
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.tokens[0].weight", line: 9, column: 17,
            message: "must be at least 1, found '0'")
    }

    @Test func maxAttemptsBelowOne() {
        let diagnostics = configDiagnostics("""
            version: 1
            defaults:
              max_attempts: 0
            tenants: {}
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "defaults.max_attempts", line: 3, column: 17,
            message: "must be at least 1, found '0'")
    }

    @Test func wrongNodeKinds() {
        let diagnostics = configDiagnostics("""
            version: 1
            supervisor: [a, b]
            defaults:
              models: gpt-4o
            tenants:
              team-a:
                listen: {host: x}
                api_keys: k
                tokens: {name: t}
            """)
        #expect(diagnostics.map(\.description) == [
            "fleet.yaml:2:13: supervisor: expected a mapping, found a list",
            "fleet.yaml:4:11: defaults.models: expected a mapping, found a single value",
            "fleet.yaml:7:13: tenants.team-a.listen: expected a single value, found a mapping",
            "fleet.yaml:8:15: tenants.team-a.api_keys: expected a list of API keys, found a single value",
            "fleet.yaml:9:13: tenants.team-a.tokens: expected a list of tokens, found a mapping",
        ])
    }

    @Test func badUpstreamURL() {
        let diagnostics = configDiagnostics("""
            version: 1
            defaults:
              upstream: ftp://example.com
            tenants: {}
            """)
        expectSingleDiagnostic(diagnostics, keyPath: "defaults.upstream", line: 3, column: 13,
                               containing: "invalid URL 'ftp://example.com'")
    }

    @Test func zeroTimeoutsAndBackoffOrder() {
        let diagnostics = configDiagnostics("""
            version: 1
            supervisor:
              restart:
                initial_backoff: 1m
                max_backoff: 30s
              heartbeat_interval: 0s
            defaults:
              connect_timeout: 0ms
              health_check_interval: 0s
            tenants: {}
            """)
        #expect(diagnostics.map(\.description) == [
            "fleet.yaml:4:22: supervisor.restart.initial_backoff: initial_backoff (1m) is longer than max_backoff (30s)",
            "fleet.yaml:6:23: supervisor.heartbeat_interval: must be longer than 0, found '0s'",
            "fleet.yaml:8:20: defaults.connect_timeout: must be longer than 0, found '0ms'",
            "fleet.yaml:9:26: defaults.health_check_interval: must be longer than 0, found '0s'",
        ])
    }

    @Test func heartbeatTimeoutMustExceedTheInterval() {
        let diagnostics = configDiagnostics("""
            version: 1
            supervisor:
              heartbeat_interval: 5s
              heartbeat_timeout: 2s
            tenants: {}
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "supervisor.heartbeat_timeout", line: 4, column: 22,
            message: "heartbeat_timeout (2s) must be longer than heartbeat_interval (5s)")
    }

    @Test func controlSocketPathTooLong() {
        let diagnostics = configDiagnostics("""
            version: 1
            supervisor:
              control_socket: \(String(repeating: "d", count: 120)).sock
            tenants: {}
            """, path: "/srv/fleet.yaml")
        expectSingleDiagnostic(diagnostics, keyPath: "supervisor.control_socket", line: 3, column: 19,
                               containing: "Unix socket paths are limited to")
    }

    // MARK: - Tokens

    @Test func tokenWithoutCredential() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens:
                  - name: t
                    priority: 1
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.tokens[0]", line: 7, column: 9,
            message: "missing the credential: a token has exactly one of 'jwt', 'jwt_file', or 'license_id' with one of "
                + "'authorization', 'refresh_token' or 'refresh_token_file'")
    }

    @Test func tokenWithTwoCredentials() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens:
                  - name: t
                    jwt: eyJ.inline.sig
                    license_id: LIC-1
                    authorization: AUTH-1
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.tokens[0].license_id", line: 9, column: 9,
            message: "'license_id' cannot be combined with 'jwt' (a token has exactly one of 'jwt', 'jwt_file', or "
                + "'license_id' with one of 'authorization', 'refresh_token' or 'refresh_token_file')")
    }

    @Test func jwtAndJWTFileTogether() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens:
                  - jwt_file: /etc/hostname
                    jwt: eyJ.inline.sig
                    name: t
            """)
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.tokens[0].jwt", line: 8, column: 9,
            containing: "'jwt' cannot be combined with 'jwt_file'")
    }

    @Test func licenseNeedsAuthorizationAndBack() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens:
                  - name: a
                    license_id: LIC-1
                  - name: b
                    authorization: AUTH-1
            """)
        #expect(diagnostics.map(\.description) == [
            "fleet.yaml:8:9: tenants.team-a.tokens[0].license_id: 'license_id' needs 'authorization', 'refresh_token' or 'refresh_token_file' too",
            "fleet.yaml:10:9: tenants.team-a.tokens[1].authorization: 'authorization' needs 'license_id' too",
        ])
    }

    @Test func tokenNeedsAName() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens:
                  - jwt: eyJ.a.b
            """)
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.tokens[0]", line: 7, column: 9,
                               message: "missing required key 'name'")
    }

    @Test func emptyInlineJWT() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens:
                  - name: t
                    jwt: "${EMPTY}"
            """, environment: ["EMPTY": ""])
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.tokens[0].jwt", line: 8, column: 14,
                               message: "jwt is empty")
    }

    @Test func jwtFileMissingEmptyOrAFolder() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        try dir.write("empty.jwt", " \n\t\n")
        try FileManager.default.createDirectory(atPath: dir.path + "/folder.jwt", withIntermediateDirectories: true)
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens:
                  - name: missing
                    jwt_file: secrets/missing.jwt
                  - name: empty
                    jwt_file: empty.jwt
                  - name: folder
                    jwt_file: folder.jwt
            """, path: dir.path + "/fleet.yaml")
        #expect(diagnostics.map(\.keyPath) == [
            "tenants.team-a.tokens[0].jwt_file", "tenants.team-a.tokens[1].jwt_file",
            "tenants.team-a.tokens[2].jwt_file",
        ])
        #expect(diagnostics.map(\.line) == [8, 10, 12])
        #expect(diagnostics.map(\.column) == [19, 19, 19])
        #expect(diagnostics[0].message == "jwt_file '\(dir.path)/secrets/missing.jwt' does not exist")
        #expect(diagnostics[1].message == "jwt_file '\(dir.path)/empty.jwt' is empty")
        #expect(diagnostics[2].message == "jwt_file '\(dir.path)/folder.jwt' is a folder, not a file")
    }

    @Test func jwtFileIsTrimmed() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        try dir.write("a.jwt", "\n\n   eyJ.trimmed.sig \r\n")
        let config = try #require(parsedConfig("""
            version: 1
            tenants:
              team-a: {listen: ":1", api_keys: [k], tokens: [{name: t, jwt_file: a.jwt}]}
            """, path: dir.path + "/fleet.yaml"))
        #expect(config.tenants.first?.tokens.first?.source == .jwt("eyJ.trimmed.sig"))
    }

    @Test func emptyTokens() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens: []
            """)
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.tokens", line: 6, column: 13,
                               message: "tokens is empty (a tenant needs at least one token)")
    }

    @Test func missingListenAndTokens() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                api_keys: [k]
            """)
        #expect(diagnostics.map(\.description) == [
            "fleet.yaml:3:3: tenants.team-a: missing required key 'listen'",
            "fleet.yaml:3:3: tenants.team-a: missing required key 'tokens'",
        ])
    }

    // MARK: - API keys

    @Test func neitherAPIKeysNorFile() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                tokens: [{name: t, jwt: j}]
            """)
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a", line: 3, column: 3,
                               message: "missing 'api_keys' or 'api_keys_file' (the keys clients send)")
    }

    @Test func bothAPIKeysAndFile() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        try dir.write("keys", "k2\n")
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                api_keys_file: keys
                tokens: [{name: t, jwt: j}]
            """, path: dir.path + "/fleet.yaml")
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.api_keys_file", line: 6, column: 5,
                               message: "'api_keys' and 'api_keys_file' cannot both be set (use one of them)")
    }

    @Test func emptyAPIKeys() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: []
                tokens: [{name: t, jwt: j}]
            """)
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.api_keys", line: 5, column: 15,
                               message: "api_keys is empty (a tenant needs at least one key)")
    }

    @Test func emptyAPIKeyEntry() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys:
                  - good
                  - ""
                tokens: [{name: t, jwt: j}]
            """)
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.api_keys[1]", line: 7, column: 9,
                               message: "API key is empty")
    }

    @Test func apiKeysFileWithOnlyCommentsOrMissing() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        try dir.write("comments.keys", "# nothing here\n\n   \n# still nothing\n")
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys_file: comments.keys
                tokens: [{name: t, jwt: j}]
              team-b:
                listen: :8082
                api_keys_file: /nonexistent/keys
                tokens: [{name: t, jwt: j}]
            """, path: dir.path + "/fleet.yaml")
        #expect(diagnostics.map(\.keyPath) == ["tenants.team-a.api_keys_file", "tenants.team-b.api_keys_file"])
        #expect(diagnostics.map(\.line) == [5, 9])
        #expect(diagnostics[0].message.hasPrefix("api_keys_file '\(dir.path)/comments.keys' has no keys"))
        #expect(diagnostics[1].message == "api_keys_file '/nonexistent/keys' does not exist")
    }

    // MARK: - Duplicates and conflicts

    @Test func duplicateTenantNames() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
              team-b:
                listen: :8082
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
              team-a:
                listen: :8083
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
            """)
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a", line: 11, column: 3,
                               message: "duplicate tenant name 'team-a' (first defined at line 3)")
    }

    @Test func duplicateKeysEverywhereAreAllReported() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              "team-a": {listen: ":1", api_keys: [k], tokens: [{name: t, jwt: j}]}
              team-a: {listen: ":2", listen: ":3", api_keys: [k], tokens: [{name: t, jwt: j}]}
              team-a:
                listen: :4
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
                strategy: random
                strategy: random
                bogus: 1
            version: 1
            """)
        #expect(diagnostics.map(\.description) == [
            "fleet.yaml:4:3: tenants.team-a: duplicate tenant name 'team-a' (first defined at line 3)",
            "fleet.yaml:4:26: tenants.team-a.listen: duplicate key 'listen' (first defined at line 4)",
            "fleet.yaml:5:3: tenants.team-a: duplicate tenant name 'team-a' (first defined at line 3)",
            "fleet.yaml:10:5: tenants.team-a.strategy: duplicate key 'strategy' (first defined at line 9)",
            "fleet.yaml:11:5: tenants.team-a.bogus: unknown key 'bogus'",
            "fleet.yaml:12:1: version: duplicate key 'version' (first defined at line 1)",
        ])
    }

    @Test func duplicateTokenNames() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                tokens:
                  - name: primary
                    jwt: j1
                  - name: backup
                    jwt: j2
                  - name: primary
                    jwt: j3
            """)
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.tokens[2].name", line: 11, column: 15,
                               message: "duplicate token name 'primary' (first defined at line 7)")
    }

    @Test func sameTokenNameInTwoTenantsIsFine() {
        #expect(configDiagnostics("""
            version: 1
            tenants:
              a: {listen: ":1", api_keys: [k], tokens: [{name: primary, jwt: j}]}
              b: {listen: ":2", api_keys: [k], tokens: [{name: primary, jwt: j}]}
            """).isEmpty)
    }

    @Test func twoTenantsOnOneListenAddress() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-b:
                listen: 0.0.0.0:8081
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
              team-a:
                listen: 127.0.0.1:8081
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
            """)
        let diagnostic = expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.listen", line: 8, column: 13,
            message: "port 8081 is already used by tenants.team-b")
        #expect(diagnostic?.description == "fleet.yaml:8:13: tenants.team-a.listen: port 8081 is already used by tenants.team-b")
    }

    @Test(arguments: [
        ("127.0.0.1:8081", "127.0.0.1:8081", true),
        (":8081", "10.0.0.1:8081", true),
        ("[::]:8081", "127.0.0.1:8081", true),
        ("[::1]:8081", "[::1]:8081", true),
        ("127.0.0.1:8081", "127.0.0.2:8081", false),
        ("127.0.0.1:8081", "127.0.0.1:8082", false),
        (":0", ":0", false),
    ])
    func listenConflictRule(first: String, second: String, conflicts: Bool) {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              one: {listen: "\(first)", api_keys: [k], tokens: [{name: t, jwt: j}]}
              two: {listen: "\(second)", api_keys: [k], tokens: [{name: t, jwt: j}]}
            """)
        if conflicts {
            expectSingleDiagnostic(diagnostics, keyPath: "tenants.two.listen", line: 4, column: 17,
                                   containing: "is already used by tenants.one")
        } else {
            #expect(diagnostics.isEmpty)
        }
    }

    @Test func tenantOnTheSupervisorsPort() {
        let diagnostics = configDiagnostics("""
            version: 1
            supervisor:
              listen: 127.0.0.1:9090
            tenants:
              team-a: {listen: ":9090", api_keys: [k], tokens: [{name: t, jwt: j}]}
            """)
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.listen", line: 5, column: 20,
                               message: "port 9090 is already used by supervisor.listen")
    }

    // MARK: - Collecting everything, YAML errors, secrets

    @Test func allErrorsAreReportedTogether() {
        let diagnostics = configDiagnostics("""
            version: 3
            supervisor:
              shutdown_timeout: forever
            tenants:
              Bad_Name:
                listen: :8081
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
              team-b:
                listen: nowhere
                tokens: []
            """)
        #expect(diagnostics.map(\.keyPath) == [
            "version", "supervisor.shutdown_timeout", "tenants.Bad_Name", "tenants.team-b",
            "tenants.team-b.listen", "tenants.team-b.tokens",
        ])
        #expect(diagnostics.map(\.line) == [1, 3, 5, 9, 10, 11])
    }

    @Test func yamlSyntaxErrorHasAPositionAndNoSnippet() {
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: :8081
                tokens: [{name: t, jwt: "eyJ-SECRET-IN-BROKEN-LINE"
                api_keys: [k]
            """)
        #expect(diagnostics.count == 1)
        let diagnostic = diagnostics.first
        #expect(diagnostic?.keyPath == "")
        #expect(diagnostic?.message.hasPrefix("invalid YAML: ") == true)
        #expect((diagnostic?.line ?? 0) >= 5)
        #expect(diagnostic?.description.contains("SECRET") == false)
    }

    @Test func emptyAndNonMappingDocuments() {
        expectSingleDiagnostic(configDiagnostics(""), keyPath: "", line: 1, column: 1,
                               containing: "the file is empty")
        expectSingleDiagnostic(configDiagnostics("- a\n- b\n"), keyPath: "", line: 1, column: 1,
                               message: "expected a mapping, found a list")
    }

    @Test func secretsNeverAppearInDiagnostics() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        let secrets = [
            "eyJhbGciOiJIUzI1NiJ9.SECRET-ENV-JWT.sig",
            "eyJhbGciOiJIUzI1NiJ9 SECRET-LITERAL-JWT with spaces",
            "sk-SECRET-API-KEY-FROM-ENV",
            "sk-SECRET literal key",
            "SECRET-LICENSE-ID\u{7}",
            "SECRET-LICENSE-AUTHORIZATION",
            "sk-SECRET-IN-KEYS-FILE with space",
            "eyJ SECRET-IN-JWT-FILE",
            "eyJhbGciOiJIUzI1NiJ9.SECRET-IN-WRONG-PLACE.signature-is-long-enough",
        ]
        try dir.write("bad.keys", "good-key\n\(secrets[6])\n")
        try dir.write("bad.jwt", secrets[7])
        let environment = [
            "JWT": secrets[0], "KEY": secrets[2], "LICENSE": secrets[4], "AUTH": secrets[5], "MISPLACED": secrets[0],
        ]
        let diagnostics = configDiagnostics("""
            version: 1
            tenants:
              team-a:
                listen: ${MISPLACED}
                strategy: ${JWT}
                max_attempts: "\(secrets[8])"
                api_keys: ["${KEY}", "\(secrets[3])"]
                tokens:
                  - {name: a, jwt: "${JWT}", jwt_file: bad.jwt}
                  - {name: b, jwt: "\(secrets[1])"}
                  - {name: c, license_id: "${LICENSE}", authorization: "${AUTH}", priority: "${AUTH}"}
                  - {name: d, license_id: "${LICENSE}"}
              team-b:
                listen: :8082
                api_keys_file: bad.keys
                tokens: [{name: e, jwt_file: bad.jwt}, {name: f, license_id: "${AUTH}", authorization: "${KEY}"}]
            """, environment: environment, path: dir.path + "/fleet.yaml")
        #expect(diagnostics.count >= 10, "\(diagnostics.map(\.description))")
        let text = ConfigError(diagnostics: diagnostics).description
        for secret in secrets {
            #expect(!text.contains(secret), "secret leaked: \(secret)")
            #expect(!text.contains(secret.prefix(14)), "secret prefix leaked: \(secret)")
        }
        #expect(!text.contains("SECRET-"), "\(text)")
    }
}
