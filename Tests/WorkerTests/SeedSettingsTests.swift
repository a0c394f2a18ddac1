import Foundation
import Shared
import Testing
@testable import WorkerCore

/// The seed proxy's way of configuring: CLI > environment (and `.env`) > JSON file > defaults.
/// Every test works in its own temporary directory, passed explicitly as the working directory
/// and home, so nothing depends on (or changes) the process's real ones.
@Suite final class SeedSettingsTests: Sendable {
    let dir: String
    let home: String

    init() throws {
        dir = try TestSupport.makeTemporaryDirectory()
        home = dir + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func resolve(_ options: SeedOptions = .init(), env: [String: String] = [:]) throws -> (TenantConfig, configFile: String?) {
        try SeedSettings.resolve(options, environment: env, directory: dir, home: home)
    }

    func settingsError(_ options: SeedOptions = .init(), env: [String: String] = [:]) throws -> SettingsError {
        try #require(throws: SettingsError.self) { _ = try resolve(options, env: env) }
    }

    func writeConfig(_ text: String, at relative: String = "config.json") throws {
        try TestSupport.write(text, to: dir + "/" + relative)
    }

    func jwts(_ tenant: TenantConfig) -> [String] {
        tenant.tokens.map { token in
            if case .jwt(let jwt) = token.source { return jwt }
            return "(license)"
        }
    }

    static let fullConfig = #"""
    {
      "jetbrains_tokens": [
        {"token": "file-jwt-1", "name": "Primary_JWT", "description": "main", "priority": 1,
         "metadata": {"environment": "production", "region": "us-east-1", "rank": 3, "beta": true}},
        {"token": "file-jwt-2", "priority": 2, "weight": 4}
      ],
      "bearer_token": "file-key",
      "load_balance_strategy": "random",
      "health_check_interval": "45s",
      "server_port": 9001,
      "server_host": "10.0.0.1"
    }
    """#

    static let fullEnv = [
        "JWT_TOKENS": "env-jwt-1, env-jwt-2",
        "BEARER_TOKEN": "env-key",
        "LOAD_BALANCE_STRATEGY": "least_busy",
        "SERVER_HOST": "10.0.0.2",
        "SERVER_PORT": "9002",
    ]

    static let fullCLI = SeedOptions(jwts: "cli-jwt-1", bearerToken: "cli-key", strategy: "round_robin", port: 9003, host: "10.0.0.3")

    // MARK: precedence

    @Test func defaults() throws {
        let (t, file) = try resolve(SeedOptions(jwts: "only-jwt"))
        #expect(file == nil)
        #expect(jwts(t) == ["only-jwt"])
        #expect(t.tokens[0].name == "jwt-1")
        #expect(t.apiKeys == [])
        #expect(t.strategy == .roundRobin)
        #expect(t.listen == ListenAddress(host: "0.0.0.0", port: 8080))
        #expect(t.healthCheckInterval == .seconds(30))
        #expect(t.apiVersion == .v8)
        #expect(t.upstream == "https://api.jetbrains.ai")
    }

    @Test func fileOverDefaults() throws {
        try writeConfig(Self.fullConfig)
        let (t, file) = try resolve()
        #expect(file == dir + "/config.json")
        #expect(jwts(t) == ["file-jwt-1", "file-jwt-2"])
        #expect(t.apiKeys == ["file-key"])
        #expect(t.strategy == .random)
        #expect(t.listen == ListenAddress(host: "10.0.0.1", port: 9001))
        #expect(t.healthCheckInterval == .seconds(45))
    }

    @Test func environmentOverFile() throws {
        try writeConfig(Self.fullConfig)
        let (t, _) = try resolve(env: Self.fullEnv)
        #expect(jwts(t) == ["env-jwt-1", "env-jwt-2"])
        #expect(t.tokens.map(\.name) == ["jwt-1", "jwt-2"])
        #expect(t.apiKeys == ["env-key"])
        #expect(t.strategy == .leastBusy)
        #expect(t.listen == ListenAddress(host: "10.0.0.2", port: 9002))
    }

    @Test func commandLineOverEnvironment() throws {
        try writeConfig(Self.fullConfig)
        let (t, _) = try resolve(Self.fullCLI, env: Self.fullEnv)
        #expect(jwts(t) == ["cli-jwt-1"])
        #expect(t.apiKeys == ["cli-key"])
        #expect(t.strategy == .roundRobin)
        #expect(t.listen == ListenAddress(host: "10.0.0.3", port: 9003))
    }

    @Test func eachSettingFallsThroughIndependently() throws {
        try writeConfig(Self.fullConfig)
        // Tokens from the CLI, key from the environment, strategy and host from the file, port from the CLI.
        let (t, _) = try resolve(SeedOptions(jwts: "cli-jwt", port: 7000), env: ["BEARER_TOKEN": "env-key"])
        #expect(jwts(t) == ["cli-jwt"])
        #expect(t.apiKeys == ["env-key"])
        #expect(t.strategy == .random)
        #expect(t.listen == ListenAddress(host: "10.0.0.1", port: 7000))
    }

    @Test func emptyEnvironmentValuesAreIgnored() throws {
        try writeConfig(Self.fullConfig)
        let empty = Dictionary(uniqueKeysWithValues: Self.fullEnv.keys.map { ($0, "") })
        let (t, _) = try resolve(env: empty)
        #expect(jwts(t) == ["file-jwt-1", "file-jwt-2"])
        #expect(t.apiKeys == ["file-key"])
        #expect(t.strategy == .random)
        #expect(t.listen == ListenAddress(host: "10.0.0.1", port: 9001))
    }

    @Test func jwtTokenIsTheFallbackForJwtTokens() throws {
        let (single, _) = try resolve(env: ["JWT_TOKEN": "legacy-jwt"])
        #expect(jwts(single) == ["legacy-jwt"])
        let (both, _) = try resolve(env: ["JWT_TOKEN": "legacy-jwt", "JWT_TOKENS": "new-1,new-2"])
        #expect(jwts(both) == ["new-1", "new-2"])
    }

    @Test func emptyJwtTokensStillFallsBackToJwtToken() throws {
        // Every other empty variable counts as unset (see emptyEnvironmentValuesAreIgnored), and
        // Go's os.Getenv cannot tell empty from unset either: JWT_TOKEN should then be used.
        let (t, _) = try resolve(env: ["JWT_TOKENS": "", "JWT_TOKEN": "legacy-jwt"])
        #expect(jwts(t) == ["legacy-jwt"])
    }

    @Test func commaListIsTrimmedAndEmptiesDropped() throws {
        let (t, _) = try resolve(SeedOptions(jwts: " a , ,b,, c "))
        #expect(jwts(t) == ["a", "b", "c"])
        #expect(t.tokens.map(\.name) == ["jwt-1", "jwt-2", "jwt-3"])
    }

    @Test func bearerTokensListAndSingleAreMerged() throws {
        try writeConfig(#"{"jetbrains_tokens":[{"token":"t"}],"bearer_tokens":["k1","k2"],"bearer_token":"k3"}"#)
        let (t, _) = try resolve()
        #expect(t.apiKeys == ["k1", "k2", "k3"])
    }

    // MARK: config file contents

    @Test func jsonTokenFieldsAreKept() throws {
        try writeConfig(Self.fullConfig)
        let (t, _) = try resolve()
        let first = t.tokens[0]
        #expect(first.name == "Primary_JWT")
        #expect(first.priority == 1)
        #expect(first.weight == 1)
        #expect(first.description == "main")
        #expect(first.metadata == ["environment": "production", "region": "us-east-1", "rank": "3", "beta": "true"])
        let second = t.tokens[1]
        #expect(second.name == "jwt-2")
        #expect(second.priority == 2)
        #expect(second.weight == 4)
        #expect(second.metadata == [:])
    }

    @Test func weightBelowOneBecomesOne() throws {
        try writeConfig(#"{"jetbrains_tokens":[{"token":"t","weight":0}]}"#)
        #expect(try resolve().0.tokens[0].weight == 1)
    }

    @Test(arguments: [
        (#""30s""#, Duration.seconds(30)),
        (#""5m""#, .seconds(300)),
        (#""1.5s""#, .milliseconds(1500)),
        (#""250ms""#, .milliseconds(250)),
        (#""20""#, .seconds(20)),
        ("45", .seconds(45)),
        ("2.5", .milliseconds(2500)),
        ("null", .seconds(30)),
    ])
    func healthCheckInterval(raw: String, expected: Duration) throws {
        try writeConfig(#"{"jetbrains_tokens":[{"token":"t"}],"health_check_interval":\#(raw)}"#)
        #expect(try resolve().0.healthCheckInterval == expected)
    }

    @Test(arguments: [#""soon""#, "true", "[30]"])
    func badHealthCheckIntervalIsAnError(raw: String) throws {
        try writeConfig(#"{"jetbrains_tokens":[{"token":"t"}],"health_check_interval":\#(raw)}"#)
        let error = try settingsError()
        #expect(error.description.contains("health_check_interval"))
    }

    @Test func seedExampleConfigLoads() throws {
        try writeConfig(SeedExamples.configJSON, at: "config/config.json")
        let (t, file) = try resolve()
        #expect(file == dir + "/config/config.json")
        #expect(t.tokens.map(\.name) == ["Primary_JWT", "Backup_JWT"])
        #expect(t.tokens.map(\.priority) == [1, 2])
        #expect(t.tokens[0].metadata == ["environment": "production", "region": "us-east-1"])
        #expect(t.healthCheckInterval == .seconds(30))
        #expect(t.apiKeys == ["your_bearer_token_here"])
    }

    @Test func invalidJSONIsASettingsError() throws {
        try writeConfig(#"{"jetbrains_tokens": [ {"token": 5} ]}"#)
        let error = try settingsError(SeedOptions(jwts: "x"))
        #expect(error.description.contains("config.json"))
        try writeConfig("{ not json")
        _ = try settingsError(SeedOptions(jwts: "x"))
    }

    // MARK: discovery

    @Test func discoveryOrder() throws {
        let candidates = [
            dir + "/config.json",
            dir + "/config/config.json",
            dir + "/configs/config.json",
            dir + "/.config/jetbrains-ai-proxy.json",
            home + "/.config/jetbrains-ai-proxy/config.json",
        ]
        for (i, path) in candidates.enumerated() {
            try TestSupport.write(#"{"jetbrains_tokens":[{"token":"from-\#(i)"}]}"#, to: path)
        }
        for (i, path) in candidates.enumerated() {
            let (t, file) = try resolve()
            #expect(file == path)
            #expect(jwts(t) == ["from-\(i)"])
            try FileManager.default.removeItem(atPath: path)
        }
        let (_, none) = try resolve(SeedOptions(jwts: "cli"))
        #expect(none == nil)
    }

    @Test func discoveryPathsList() {
        #expect(SeedSettings.discoveryPaths(home: "/h") == [
            "config.json", "config/config.json", "configs/config.json", ".config/jetbrains-ai-proxy.json",
            "/h/.config/jetbrains-ai-proxy/config.json",
        ])
        #expect(SeedSettings.discoveryPaths(home: nil).count == 4)
    }

    @Test func explicitConfigBeatsDiscoveryAndConfigFileVariable() throws {
        try writeConfig(#"{"jetbrains_tokens":[{"token":"discovered"}]}"#)
        try writeConfig(#"{"jetbrains_tokens":[{"token":"from-env-file"}]}"#, at: "env/chosen.json")
        try writeConfig(#"{"jetbrains_tokens":[{"token":"from-cli-file"}]}"#, at: "cli/chosen.json")

        let (viaEnv, envFile) = try resolve(env: ["CONFIG_FILE": "env/chosen.json"])
        #expect(jwts(viaEnv) == ["from-env-file"])
        #expect(envFile == dir + "/env/chosen.json")

        var options = SeedOptions()
        options.configPath = "cli/chosen.json"
        let (viaCLI, cliFile) = try resolve(options, env: ["CONFIG_FILE": "env/chosen.json"])
        #expect(jwts(viaCLI) == ["from-cli-file"])
        #expect(cliFile == dir + "/cli/chosen.json")

        options.configPath = dir + "/cli/chosen.json"
        #expect(try jwts(resolve(options).0) == ["from-cli-file"])
    }

    @Test func missingExplicitConfigIsAnError() throws {
        var options = SeedOptions(jwts: "x")
        options.configPath = "nope.json"
        let error = try settingsError(options)
        #expect(error.description.contains("nope.json"))
        _ = try settingsError(SeedOptions(jwts: "x"), env: ["CONFIG_FILE": "missing.json"])
    }

    // MARK: errors

    @Test func missingTokensIsAnError() throws {
        let error = try settingsError()
        #expect(error.description.contains("no JWT tokens"))
        _ = try settingsError(SeedOptions(jwts: " , "))
        try writeConfig(#"{"jetbrains_tokens":[],"bearer_token":"k"}"#)
        _ = try settingsError()
    }

    @Test func badStrategyIsAnError() throws {
        let cli = try settingsError(SeedOptions(jwts: "x", strategy: "fastest"))
        #expect(cli.description.contains("fastest"))
        _ = try settingsError(SeedOptions(jwts: "x"), env: ["LOAD_BALANCE_STRATEGY": "weighted"])
        try writeConfig(#"{"jetbrains_tokens":[{"token":"t"}],"load_balance_strategy":"sticky"}"#)
        let file = try settingsError()
        #expect(file.description.contains("load_balance_strategy"))
    }

    @Test func strategyIsCaseAndSpaceInsensitive() throws {
        #expect(try resolve(SeedOptions(jwts: "x", strategy: " Least_Busy ")).0.strategy == .leastBusy)
        #expect(try resolve(SeedOptions(jwts: "x"), env: ["LOAD_BALANCE_STRATEGY": "RANDOM"]).0.strategy == .random)
    }

    @Test func badPortIsAnError() throws {
        _ = try settingsError(SeedOptions(jwts: "x"), env: ["SERVER_PORT": "http"])
        _ = try settingsError(SeedOptions(jwts: "x"), env: ["SERVER_PORT": "70000"])
        _ = try settingsError(SeedOptions(jwts: "x", port: 65536))
        #expect(try resolve(SeedOptions(jwts: "x", port: 0)).0.listen.port == 0)
    }

    // MARK: .env

    @Test func dotEnvParsing() {
        let parsed = SeedSettings.parseDotEnv("""
        # JetBrains AI JWTs
        JWT_TOKENS="eyJ.a==,eyJ.b"

        export BEARER_TOKEN='key with spaces'
          SERVER_PORT = 9005  \r
        EMPTY=
        NO_EQUALS_SIGN
        HAS_EQUALS=a=b=c
        MISMATCHED="abc'
        LONE_QUOTE="
            # indented comment
        export   LOAD_BALANCE_STRATEGY=random
        """)
        #expect(parsed == [
            "JWT_TOKENS": "eyJ.a==,eyJ.b",
            "BEARER_TOKEN": "key with spaces",
            "SERVER_PORT": "9005",
            "EMPTY": "",
            "HAS_EQUALS": "a=b=c",
            "MISMATCHED": "\"abc'",
            "LONE_QUOTE": "\"",
            "LOAD_BALANCE_STRATEGY": "random",
        ])
    }

    @Test func dotEnvCRLF() {
        #expect(SeedSettings.parseDotEnv("A=1\r\nB=\"2\"\r\n") == ["A": "1", "B": "2"])
    }

    @Test func dotEnvFileIsReadAndRealEnvironmentWins() throws {
        try TestSupport.write("JWT_TOKENS=dotenv-1,dotenv-2\nBEARER_TOKEN=dotenv-key\nSERVER_PORT=9100\n", to: dir + "/.env")
        let env = SeedSettings.environment(processEnvironment: ["BEARER_TOKEN": "real-key", "OTHER": "o"], directory: dir)
        #expect(env["JWT_TOKENS"] == "dotenv-1,dotenv-2")
        #expect(env["BEARER_TOKEN"] == "real-key")
        #expect(env["OTHER"] == "o")
        let (t, _) = try resolve(env: env)
        #expect(jwts(t) == ["dotenv-1", "dotenv-2"])
        #expect(t.apiKeys == ["real-key"])
        #expect(t.listen.port == 9100)
    }

    @Test func noDotEnvFileMeansProcessEnvironmentOnly() {
        #expect(SeedSettings.environment(processEnvironment: ["A": "1"], directory: dir) == ["A": "1"])
    }

    @Test func configFileFromDotEnv() throws {
        try writeConfig(#"{"jetbrains_tokens":[{"token":"named-by-dotenv"}]}"#, at: "elsewhere/c.json")
        try TestSupport.write("CONFIG_FILE=elsewhere/c.json\n", to: dir + "/.env")
        let env = SeedSettings.environment(processEnvironment: [:], directory: dir)
        let (t, file) = try resolve(env: env)
        #expect(jwts(t) == ["named-by-dotenv"])
        #expect(file == dir + "/elsewhere/c.json")
    }

    // MARK: our additions

    @Test func upstreamAndAPIVersion() throws {
        try writeConfig(#"{"jetbrains_tokens":[{"token":"t"}],"upstream":"http://127.0.0.1:9999","api_version":"v7"}"#)
        let (fromFile, _) = try resolve()
        #expect(fromFile.upstream == "http://127.0.0.1:9999")
        #expect(fromFile.apiVersion == .v7)
        let (fromEnv, _) = try resolve(env: ["JETBRAINS_AI_UPSTREAM": "http://sim:1", "JETBRAINS_AI_API_VERSION": "v8"])
        #expect(fromEnv.upstream == "http://sim:1")
        #expect(fromEnv.apiVersion == .v8)
        _ = try settingsError(env: ["JETBRAINS_AI_API_VERSION": "v9"])
    }
}
