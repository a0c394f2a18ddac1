import Foundation
import Testing

@testable import Shared

/// The contract's example (fleet-config.md), verbatim.
let contractExample = """
    version: 1

    supervisor:
      listen: 127.0.0.1:9090               # unified /health (and later /metrics, status page)
      control_socket: run/supervisor.sock  # ctl API, HTTP over a Unix socket, mode 0600
      run_dir: run                         # workers' control sockets live here
      log_dir: logs                        # one log file per tenant; "-" means the supervisor's stderr
      restart:
        initial_backoff: 250ms             # first delay after a crash; doubles, with jitter
        max_backoff: 30s
        max_restarts: 5                    # more than this many within `window` → tenant is FATAL
        window: 60s
      heartbeat_interval: 1s               # supervisor asks each worker's control socket this often
      heartbeat_timeout: 5s                # no answer for this long → the worker is hung → replaced
      shutdown_timeout: 30s                # drain time for a worker on stop, reload or exit

    defaults:                              # every tenant inherits these and may override any
      upstream: https://api.jetbrains.ai
      api_version: v8                      # v8 | v7
      strategy: round_robin                # round_robin | random | least_busy
      health_check_interval: 30s           # active probe of each JWT (quota endpoint, spends no quota)
      max_attempts: 3                      # upstream tries per request, each on a different JWT
      connect_timeout: 10s
      request_timeout: 120s                # whole upstream exchange, streaming included
      max_body_size: 10MiB
      models:                              # OpenAI-facing id → upstream profile, merged over the built-in table
        my-claude: anthropic-claude-4-sonnet

    tenants:                               # a map: the key is the tenant's name ([a-z0-9][a-z0-9-]{0,31})
      team-a:
        listen: 0.0.0.0:8081               # HOST:PORT, :PORT or [IPv6]:PORT
        api_keys: ["${TEAM_A_KEY}"]        # clients send one as Bearer or x-api-key
        tokens:
          - name: primary
            jwt: "${TEAM_A_JWT_1}"
            priority: 1                    # tiers: lowest number first; next tier only when none is usable
            weight: 2                      # share within its tier (default 1)
            metadata: {region: us-east-1}  # free-form, shown in status
          - name: backup
            jwt_file: secrets/team-a-backup.jwt
            priority: 2
      team-b:
        listen: 0.0.0.0:8082
        strategy: random
        api_keys_file: secrets/team-b.keys # one key per line; blank lines and # comments skipped
        tokens:
          - name: licensed
            license_id: "${TEAM_B_LICENSE}"        # a JWT fetched and refreshed from a license
            authorization: "${TEAM_B_LICENSE_AUTH}"
    """

let contractEnvironment = [
    "TEAM_A_KEY": "sk-team-a-0123456789",
    "TEAM_A_JWT_1": "eyJhbGciOiJIUzI1NiJ9.team-a-one.signature",
    "TEAM_B_LICENSE": "LICENSE-B-123456",
    "TEAM_B_LICENSE_AUTH": "auth-b-abcdefghijklmnop",
]

@Suite("Fleet file: valid files")
struct ConfigLoaderValidFileTests {
    @Test func contractExampleParsesToTheExpectedValues() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        try dir.write("secrets/team-a-backup.jwt", "\n  eyJhbGciOiJIUzI1NiJ9.team-a-backup.signature  \n\n")
        try dir.write("secrets/team-b.keys", """
            # team-b client keys
            sk-team-b-first

              sk-team-b-second
            # retired: sk-team-b-old
            """)
        let file = try dir.write("fleet.yaml", contractExample)

        let config = try FleetConfigLoader.load(path: file, environment: contractEnvironment)

        #expect(config.version == 1)
        #expect(config.path == file)
        let supervisor = config.supervisor
        #expect(supervisor.listen == ListenAddress(host: "127.0.0.1", port: 9090))
        #expect(supervisor.controlSocket == dir.path + "/run/supervisor.sock")
        #expect(supervisor.runDir == dir.path + "/run")
        #expect(supervisor.logDir == dir.path + "/logs")
        #expect(supervisor.restart == RestartPolicy(
            initialBackoff: .milliseconds(250), maxBackoff: .seconds(30), maxRestarts: 5, window: .seconds(60)))
        #expect(supervisor.heartbeatInterval == .seconds(1))
        #expect(supervisor.heartbeatTimeout == .seconds(5))
        #expect(supervisor.shutdownTimeout == .seconds(30))
        #expect(supervisor.workerBinary == nil)
        #expect(supervisor.logMaxBytes == 10 << 20)
        #expect(supervisor.logBackups == 3)

        #expect(config.tenants.map(\.name) == ["team-a", "team-b"])
        let teamA = try #require(config.tenant(named: "team-a"))
        let expectedA = TenantConfig(
            name: "team-a", listen: ListenAddress(host: "0.0.0.0", port: 8081),
            apiKeys: ["sk-team-a-0123456789"],
            tokens: [
                TokenConfig(name: "primary", source: .jwt("eyJhbGciOiJIUzI1NiJ9.team-a-one.signature"),
                            priority: 1, weight: 2, metadata: ["region": "us-east-1"]),
                TokenConfig(name: "backup", source: .jwt("eyJhbGciOiJIUzI1NiJ9.team-a-backup.signature"),
                            priority: 2, weight: 1),
            ],
            upstream: "https://api.jetbrains.ai", apiVersion: .v8, strategy: .roundRobin,
            healthCheckInterval: .seconds(30), maxAttempts: 3, connectTimeout: .seconds(10),
            requestTimeout: .seconds(120), maxBodySize: 10 * 1024 * 1024,
            models: ["my-claude": "anthropic-claude-4-sonnet"], grazieAgent: nil,
            keepaliveInterval: .seconds(15), shutdownTimeout: .seconds(30),
            accountURL: "https://oauth.account.jetbrains.com", outboundProxy: nil, stateDir: dir.path + "/state")
        #expect(teamA == expectedA)

        let teamB = try #require(config.tenant(named: "team-b"))
        #expect(teamB.listen.description == "0.0.0.0:8082")
        #expect(teamB.strategy == .random)
        #expect(teamB.apiKeys == ["sk-team-b-first", "sk-team-b-second"])
        #expect(teamB.tokens == [
            TokenConfig(name: "licensed",
                        source: .license(id: "LICENSE-B-123456", authorization: "auth-b-abcdefghijklmnop")),
        ])
        #expect(teamB.models == ["my-claude": "anthropic-claude-4-sonnet"])
        #expect(teamB.maxAttempts == 3)
        #expect(config.tenant(named: "team-c") == nil)
    }

    @Test func minimalFileGetsEveryDefault() throws {
        let config = try #require(parsedConfig("""
            version: 1
            tenants:
              solo:
                listen: :8081
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
            """, path: "/srv/fleet/fleet.yaml"))
        #expect(config.path == "/srv/fleet/fleet.yaml")
        #expect(config.supervisor == SupervisorSettings(
            listen: ListenAddress(host: "127.0.0.1", port: 9090), controlSocket: "/srv/fleet/run/supervisor.sock",
            runDir: "/srv/fleet/run", logDir: "/srv/fleet/logs", restart: RestartPolicy(),
            heartbeatInterval: .seconds(1), heartbeatTimeout: .seconds(5), shutdownTimeout: .seconds(30),
            workerBinary: nil, logMaxBytes: 10 << 20, logBackups: 3, stateDir: "/srv/fleet/state"))
        let tenant = try #require(config.tenants.first)
        #expect(tenant == TenantConfig(
            name: "solo", listen: ListenAddress(host: "0.0.0.0", port: 8081), apiKeys: ["k"],
            tokens: [TokenConfig(name: "t", source: .jwt("j"), priority: 1, weight: 1, metadata: [:])],
            upstream: "https://api.jetbrains.ai", apiVersion: .v8, strategy: .roundRobin,
            healthCheckInterval: .seconds(30), maxAttempts: 3, connectTimeout: .seconds(10),
            requestTimeout: .seconds(120), maxBodySize: 10 << 20, models: [:], grazieAgent: nil,
            keepaliveInterval: .seconds(15), shutdownTimeout: .seconds(30), profileParameters: [:],
            accountURL: "https://oauth.account.jetbrains.com", outboundProxy: nil, stateDir: "/srv/fleet/state"))
    }

    @Test func tenantsInheritDefaultsAndOverrideThem() throws {
        let config = try #require(parsedConfig("""
            version: 1
            supervisor:
              shutdown_timeout: 45s
            defaults:
              upstream: http://127.0.0.1:9999/
              api_version: v7
              strategy: least_busy
              health_check_interval: 1m
              max_attempts: 5
              connect_timeout: 2s
              request_timeout: 1h
              max_body_size: 512KiB
              keepalive_interval: 5s
              grazie_agent: '{"name":"custom","version":"1"}'
              models:
                my-claude: anthropic-claude-4-sonnet
                fast: openai-gpt4.1-mini
            tenants:
              inherits:
                listen: :8081
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
              overrides:
                listen: :8082
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
                upstream: https://upstream.example.com/base
                api_version: v8
                strategy: random
                health_check_interval: 10s
                max_attempts: 1
                connect_timeout: 500ms
                request_timeout: 30s
                max_body_size: 1MB
                keepalive_interval: 1s
                grazie_agent: '{"name":"other","version":"2"}'
                models:
                  fast: openai-o4-mini
                  mine: google-chat-gemini-pro-2.5
            """))
        let inherits = try #require(config.tenant(named: "inherits"))
        #expect(inherits.upstream == "http://127.0.0.1:9999")
        #expect(inherits.apiVersion == .v7)
        #expect(inherits.strategy == .leastBusy)
        #expect(inherits.healthCheckInterval == .seconds(60))
        #expect(inherits.maxAttempts == 5)
        #expect(inherits.connectTimeout == .seconds(2))
        #expect(inherits.requestTimeout == .seconds(3600))
        #expect(inherits.maxBodySize == 512 * 1024)
        #expect(inherits.keepaliveInterval == .seconds(5))
        #expect(inherits.grazieAgent == #"{"name":"custom","version":"1"}"#)
        #expect(inherits.models == ["my-claude": "anthropic-claude-4-sonnet", "fast": "openai-gpt4.1-mini"])
        #expect(inherits.shutdownTimeout == .seconds(45))

        let overrides = try #require(config.tenant(named: "overrides"))
        #expect(overrides.upstream == "https://upstream.example.com/base")
        #expect(overrides.apiVersion == .v8)
        #expect(overrides.strategy == .random)
        #expect(overrides.healthCheckInterval == .seconds(10))
        #expect(overrides.maxAttempts == 1)
        #expect(overrides.connectTimeout == .milliseconds(500))
        #expect(overrides.requestTimeout == .seconds(30))
        #expect(overrides.maxBodySize == 1_000_000)
        #expect(overrides.keepaliveInterval == .seconds(1))
        #expect(overrides.grazieAgent == #"{"name":"other","version":"2"}"#)
        #expect(overrides.models == [
            "my-claude": "anthropic-claude-4-sonnet", "fast": "openai-o4-mini", "mine": "google-chat-gemini-pro-2.5",
        ])
        #expect(overrides.shutdownTimeout == .seconds(45))
    }

    @Test func tenantsKeepFileOrder() throws {
        let names = ["zeta", "alpha", "m-1", "0day", "beta"]
        var yaml = "version: 1\ntenants:\n"
        for (index, name) in names.enumerated() {
            yaml += "  \(name): {listen: ':\(9000 + index)', api_keys: [k], tokens: [{name: t, jwt: j}]}\n"
        }
        let config = try #require(parsedConfig(yaml))
        #expect(config.tenants.map(\.name) == names)
    }

    @Test func relativePathsResolveAgainstTheFilesFolder() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        try dir.write("conf/secrets/a.jwt", "eyJ.from-file.sig\n")
        try dir.write("conf/keys.txt", "# comment\n\nkey-one\n  # indented comment\nkey-two\n")
        try dir.write("shared/b.jwt", "eyJ.shared.sig")
        let file = try dir.write("conf/fleet.yaml", """
            version: 1
            supervisor:
              control_socket: ./sockets/../run/ctl.sock
              run_dir: run
              log_dir: ../logs
              worker_binary: bin/jetbrains-ai-proxy
            tenants:
              team-a:
                listen: :8081
                api_keys_file: keys.txt
                tokens:
                  - {name: a, jwt_file: secrets/a.jwt}
                  - {name: b, jwt_file: ../shared/b.jwt}
                  - {name: c, jwt_file: "${SECRETS}/a.jwt"}
                  - {name: d, jwt_file: "\(dir.path)/shared/b.jwt"}
            """)
        let config = try FleetConfigLoader.load(path: file, environment: ["SECRETS": dir.path + "/conf/secrets"])
        #expect(config.supervisor.controlSocket == dir.path + "/conf/run/ctl.sock")
        #expect(config.supervisor.runDir == dir.path + "/conf/run")
        #expect(config.supervisor.logDir == dir.path + "/logs")
        #expect(config.supervisor.workerBinary == dir.path + "/conf/bin/jetbrains-ai-proxy")
        let tenant = try #require(config.tenants.first)
        #expect(tenant.apiKeys == ["key-one", "key-two"])
        #expect(tenant.tokens.map(\.source) == [
            .jwt("eyJ.from-file.sig"), .jwt("eyJ.shared.sig"), .jwt("eyJ.from-file.sig"), .jwt("eyJ.shared.sig"),
        ])
    }

    @Test func relativeFilePathResolvesAgainstTheCurrentDirectory() throws {
        let config = try #require(parsedConfig("""
            version: 1
            supervisor:
              log_dir: "-"
            tenants: {}
            """, path: "conf/fleet.yaml"))
        let cwd = FileManager.default.currentDirectoryPath
        #expect(config.path == ConfigPaths.resolve("conf/fleet.yaml", against: cwd))
        #expect(config.supervisor.runDir == ConfigPaths.resolve("conf/run", against: cwd))
        #expect(config.supervisor.logDir == nil)
        #expect(config.tenants.isEmpty)
    }

    @Test func variablesWorkInEveryKindOfScalar() throws {
        let config = try #require(parsedConfig("""
            version: ${VERSION}
            supervisor:
              listen: ${HEALTH_LISTEN:-127.0.0.1:9191}
              log_max_bytes: ${LOG_SIZE}
            tenants:
              team-a:
                listen: "${HOST}:${PORT}"
                max_attempts: ${ATTEMPTS}
                request_timeout: ${TIMEOUT:-90s}
                api_keys: ["${KEY}", "literal-key"]
                tokens:
                  - name: ${TOKEN_NAME}
                    jwt: ${JWT}
                    metadata: {region: "${REGION:-eu-west-1}"}
            """, environment: [
                "VERSION": "1", "LOG_SIZE": "1MiB", "HOST": "127.0.0.1", "PORT": "8088", "ATTEMPTS": "4",
                "KEY": "sk-env", "TOKEN_NAME": "main", "JWT": "eyJ.env.sig",
            ]))
        #expect(config.supervisor.listen.port == 9191)
        #expect(config.supervisor.logMaxBytes == 1 << 20)
        let tenant = try #require(config.tenants.first)
        #expect(tenant.listen == ListenAddress(host: "127.0.0.1", port: 8088))
        #expect(tenant.maxAttempts == 4)
        #expect(tenant.requestTimeout == .seconds(90))
        #expect(tenant.apiKeys == ["sk-env", "literal-key"])
        #expect(tenant.tokens.first?.name == "main")
        #expect(tenant.tokens.first?.source == .jwt("eyJ.env.sig"))
        #expect(tenant.tokens.first?.metadata == ["region": "eu-west-1"])
    }

    @Test func optionalSupervisorKeys() throws {
        let config = try #require(parsedConfig("""
            version: 1
            supervisor:
              worker_binary: /opt/bin/worker
              log_max_bytes: 512KiB
              log_backups: 0
              listen: "[::1]:9090"
            tenants: {}
            """))
        #expect(config.supervisor.workerBinary == "/opt/bin/worker")
        #expect(config.supervisor.logMaxBytes == 512 * 1024)
        #expect(config.supervisor.logBackups == 0)
        #expect(config.supervisor.listen.description == "[::1]:9090")
    }

    @Test func portZeroNeverConflicts() throws {
        let config = try #require(parsedConfig("""
            version: 1
            supervisor: {listen: "127.0.0.1:0"}
            tenants:
              a: {listen: ":0", api_keys: [k], tokens: [{name: t, jwt: j}]}
              b: {listen: ":0", api_keys: [k], tokens: [{name: t, jwt: j}]}
              c: {listen: "127.0.0.1:8081", api_keys: [k], tokens: [{name: t, jwt: j}]}
              d: {listen: "127.0.0.2:8081", api_keys: [k], tokens: [{name: t, jwt: j}]}
            """))
        #expect(config.tenants.count == 4)
    }

    @Test func byteOrderMarkAndCRLFLineEndingsAreAccepted() throws {
        let yaml = "\u{FEFF}version: 1\r\ntenants:\r\n  a: {listen: ':1', api_keys: [k], tokens: [{name: t, jwt: j}]}\r\n"
        let config = try #require(parsedConfig(yaml))
        #expect(config.tenants.map(\.name) == ["a"])
        let diagnostics = configDiagnostics("\u{FEFF}version: 7\r\ntenants: {}\r\n")
        expectSingleDiagnostic(diagnostics, keyPath: "version", line: 1, column: 10,
                               message: "unsupported version 7 (this program reads version 1)")
    }

    @Test func loadReportsAMissingFile() {
        let path = "/nonexistent-\(UUID().uuidString)/fleet.yaml"
        #expect {
            try FleetConfigLoader.load(path: path, environment: [:])
        } throws: { error in
            guard let error = error as? ConfigError, let diagnostic = error.diagnostics.first else { return false }
            return error.diagnostics.count == 1 && diagnostic.file == path && diagnostic.line == 1
                && diagnostic.message.contains("no such file")
        }
    }
}
