import Foundation
import Testing

@testable import Shared

/// The keys protocol fidelity added: refresh-token licenses, `account_url`, `outbound_proxy`,
/// `grazie_agent` as JSON, `supervisor.state_dir`, `models` entries with parameters. One test
/// per rule, each pinning the key path and position of its diagnostic.
@Suite("Fleet file: credentials and protocol keys")
struct ConfigCredentialKeysTests {
    /// A one-tenant file; `tenant` and `token` are extra lines (already indented) for the
    /// tenant (after `listen` and `api_keys`, from line 6) and the token (after `name`).
    static func file(defaults: String = "", supervisor: String = "", tenant: String = "", token: String = "") -> String {
        var text = "version: 1\n"
        if !supervisor.isEmpty { text += "supervisor:\n" + supervisor + "\n" }
        if !defaults.isEmpty { text += "defaults:\n" + defaults + "\n" }
        text += """
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]

            """
        if !tenant.isEmpty { text += tenant + "\n" }
        text += """
                tokens:
                  - name: t

            """
        text += token.isEmpty ? "        jwt: eyJ.a.b\n" : token + "\n"
        return text
    }

    // MARK: - Refresh-token licenses

    @Test func licenseWithRefreshToken() throws {
        let config = try #require(parsedConfig(Self.file(token: """
                    license_id: LIC-1
                    refresh_token: "${RT}"
            """), environment: ["RT": "rt-secret-0123456789"]))
        #expect(config.tenants[0].tokens[0].source == .licenseRefresh(id: "LIC-1", refreshToken: "rt-secret-0123456789"))
    }

    @Test func refreshTokenFileIsReadAndTrimmed() throws {
        let dir = try ConfigTempDirectory()
        defer { dir.remove() }
        try dir.write("secrets/rt", "\n  rt-from-file-0123456789 \n")
        let path = try dir.write("fleet.yaml", Self.file(token: """
                    license_id: LIC-1
                    refresh_token_file: secrets/rt
            """))
        let config = try FleetConfigLoader.load(path: path, environment: [:])
        #expect(config.tenants[0].tokens[0].source == .licenseRefresh(id: "LIC-1", refreshToken: "rt-from-file-0123456789"))
    }

    @Test func refreshTokenFileMustExist() {
        let diagnostics = configDiagnostics(Self.file(token: """
                    license_id: LIC-1
                    refresh_token_file: /nonexistent/rt
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.tokens[0].refresh_token_file", line: 9, column: 29,
            message: "refresh_token_file '/nonexistent/rt' does not exist")
    }

    @Test func refreshTokenNeedsLicenseID() {
        let diagnostics = configDiagnostics(Self.file(token: "        refresh_token: rt-1"))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.tokens[0].refresh_token", line: 8, column: 9,
            message: "'refresh_token' needs 'license_id' too")
    }

    @Test func licenseTakesOneOfAuthorizationAndRefreshToken() {
        let diagnostics = configDiagnostics(Self.file(token: """
                    license_id: LIC-1
                    authorization: AUTH-1
                    refresh_token: rt-1
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.tokens[0].refresh_token", line: 10, column: 9,
            message: "'refresh_token' cannot be combined with 'authorization' (a license token has one of "
                + "'authorization', 'refresh_token' or 'refresh_token_file')")
    }

    @Test func refreshTokenAndItsFileTogether() {
        let diagnostics = configDiagnostics(Self.file(token: """
                    license_id: LIC-1
                    refresh_token_file: /etc/hostname
                    refresh_token: rt-1
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.tokens[0].refresh_token", line: 10, column: 9,
            containing: "'refresh_token' cannot be combined with 'refresh_token_file'")
    }

    @Test func refreshTokenCannotBeCombinedWithAJWT() {
        let diagnostics = configDiagnostics(Self.file(token: """
                    jwt: eyJ.a.b
                    license_id: LIC-1
                    refresh_token: rt-1
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.tokens[0].license_id", line: 9, column: 9,
            containing: "'license_id' cannot be combined with 'jwt'")
    }

    @Test func emptyRefreshTokenIsNotQuoted() {
        let diagnostics = configDiagnostics(Self.file(token: """
                    license_id: LIC-1
                    refresh_token: "  "
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.tokens[0].refresh_token", line: 9, column: 24,
            message: "refresh_token is empty")
    }

    @Test func refreshTokenWithWhitespaceIsReportedWithoutItsValue() {
        let diagnostics = configDiagnostics(Self.file(token: """
                    license_id: LIC-1
                    refresh_token: "rt-secret part-two"
            """))
        let diagnostic = expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.tokens[0].refresh_token", line: 9,
            message: "refresh_token contains whitespace or control characters")
        #expect(diagnostic.map { !$0.description.contains("rt-secret") } == true)
    }

    @Test func tokenSourceRoundTripsThroughJSON() throws {
        let sources: [TokenSource] = [
            .jwt("eyJ.a.b"), .license(id: "L", authorization: "A"), .licenseRefresh(id: "L", refreshToken: "R"),
        ]
        for source in sources {
            let data = try JSONEncoder().encode(source)
            #expect(try JSONDecoder().decode(TokenSource.self, from: data) == source)
        }
        let text = String(decoding: try JSONEncoder().encode(sources[2]), as: UTF8.self)
        #expect(text.contains(#""refresh_token":"R""#) && text.contains(#""license_id":"L""#))
        // The JSON a supervisor of the previous release sends still decodes.
        let old = try JSONDecoder().decode(TokenSource.self, from: Data(#"{"license_id":"L","authorization":"A"}"#.utf8))
        #expect(old == .license(id: "L", authorization: "A"))
    }

    // MARK: - account_url

    @Test func accountURLDefaultsAndOverrides() throws {
        let config = try #require(parsedConfig("""
            version: 1
            defaults:
              account_url: http://127.0.0.1:7000/
            tenants:
              inherits:
                listen: :8081
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
              overrides:
                listen: :8082
                api_keys: [k]
                account_url: https://account.example.com/oauth
                tokens: [{name: t, jwt: j}]
            """))
        #expect(config.tenant(named: "inherits")?.accountURL == "http://127.0.0.1:7000")
        #expect(config.tenant(named: "overrides")?.accountURL == "https://account.example.com/oauth")
        let plain = try #require(parsedConfig(Self.file()))
        #expect(plain.tenants[0].accountURL == "https://oauth.account.jetbrains.com")
    }

    @Test func accountURLMustBeHTTP() {
        let diagnostics = configDiagnostics(Self.file(tenant: "    account_url: ftp://account.example.com"))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.account_url", line: 6, column: 18,
            containing: "invalid URL 'ftp://account.example.com'")
    }

    // MARK: - fetch_image_urls

    @Test func fetchImageURLsIsOffUnlessSaid() throws {
        #expect(try #require(parsedConfig(Self.file())).tenants[0].fetchImageURLs == false)
        let on = try #require(parsedConfig(Self.file(defaults: "  fetch_image_urls: true")))
        #expect(on.tenants[0].fetchImageURLs == true)
        let off = try #require(parsedConfig(Self.file(defaults: "  fetch_image_urls: true", tenant: "    fetch_image_urls: false")))
        #expect(off.tenants[0].fetchImageURLs == false)
    }

    @Test func fetchImageURLsMustBeABoolean() {
        let diagnostics = configDiagnostics(Self.file(tenant: "    fetch_image_urls: sometimes"))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.fetch_image_urls", line: 6, column: 23,
            containing: "expected true or false, found 'sometimes'")
    }

    // MARK: - outbound_proxy

    @Test func outboundProxyInDefaultsAndTenants() throws {
        let config = try #require(parsedConfig("""
            version: 1
            defaults:
              outbound_proxy: http://proxy.internal:3128
            tenants:
              inherits:
                listen: :8081
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
              overrides:
                listen: :8082
                api_keys: [k]
                outbound_proxy: "http://user:${PROXY_PASSWORD}@[::1]:8888/"
                tokens: [{name: t, jwt: j}]
            """, environment: ["PROXY_PASSWORD": "p%40ss"]))
        #expect(config.tenant(named: "inherits")?.outboundProxy == "http://proxy.internal:3128")
        let overridden = try #require(config.tenant(named: "overrides")?.outboundProxy)
        #expect(overridden == "http://user:p%40ss@[::1]:8888")
        let proxy = try #require(OutboundProxy(parsing: overridden))
        #expect(proxy == OutboundProxy(host: "::1", port: 8888, username: "user", password: "p@ss"))
        #expect(try #require(parsedConfig(Self.file())).tenants[0].outboundProxy == nil)
    }

    @Test func emptyOutboundProxyOverridesTheDefaultsOne() throws {
        let config = try #require(parsedConfig(Self.file(
            defaults: "  outbound_proxy: http://proxy.internal:3128",
            tenant: "    outbound_proxy: \"${TEAM_A_PROXY:-}\"")))
        #expect(config.tenants[0].outboundProxy == nil)
    }

    @Test func outboundProxyNeedsAPort() {
        let diagnostics = configDiagnostics(Self.file(tenant: "    outbound_proxy: http://proxy.internal"))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.outbound_proxy", line: 6, column: 21,
            message: "invalid outbound_proxy 'http://proxy.internal': the proxy port is missing "
                + "(expected an HTTP proxy: http://[user:password@]host:port)")
    }

    @Test func outboundProxyMustBePlainHTTP() {
        let diagnostics = configDiagnostics(Self.file(tenant: "    outbound_proxy: https://proxy.internal:443"))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.outbound_proxy", line: 6, column: 21,
            containing: "https:// proxies are not supported")
    }

    @Test func outboundProxyHasNoPath() {
        let diagnostics = configDiagnostics(Self.file(defaults: "  outbound_proxy: http://proxy:3128/path?x=1"))
        expectSingleDiagnostic(
            diagnostics, keyPath: "defaults.outbound_proxy", line: 3, column: 19,
            containing: "a proxy URL has no path, query or fragment")
    }

    @Test func outboundProxyErrorsNeverShowCredentials() {
        let diagnostics = configDiagnostics(Self.file(tenant: "    outbound_proxy: http://alice:hunter2-secret@proxy.internal"))
        let diagnostic = expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.outbound_proxy", line: 6, containing: "the proxy port is missing")
        #expect(diagnostic.map { !$0.description.contains("hunter2") && !$0.description.contains("alice") } == true)
    }

    @Test func outboundProxyRedactsItsCredentials() throws {
        let proxy = try #require(OutboundProxy(parsing: "http://alice:hunter2-secret@proxy.internal:3128"))
        #expect(proxy.redacted == "http://ali...:***@proxy.internal:3128")
        #expect(OutboundProxy(parsing: "http://proxy:3128")?.redacted == "http://proxy:3128")
        #expect(OutboundProxy(parsing: "http://[::1]:3128")?.redacted == "http://[::1]:3128")
        #expect(OutboundProxy(parsing: "http://:pw@proxy:3128") == nil)
        #expect(OutboundProxy(parsing: "http://proxy:0") == nil)
        #expect(OutboundProxy(parsing: "socks5://proxy:1080") == nil)
    }

    // MARK: - grazie_agent

    @Test func grazieAgentIsJSONWithNameAndVersion() throws {
        let agent = #"{"name":"aia:idea","version":"253.1234.5"}"#
        let config = try #require(parsedConfig(Self.file(defaults: "  grazie_agent: '\(agent)'")))
        #expect(config.tenants[0].grazieAgent == agent)
    }

    @Test func grazieAgentMustBeJSON() {
        let diagnostics = configDiagnostics(Self.file(tenant: "    grazie_agent: aia:pycharm"))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.grazie_agent", line: 6, column: 19,
            containing: "grazie_agent is not a JSON object")
    }

    @Test func grazieAgentNeedsAVersionString() {
        let diagnostics = configDiagnostics(Self.file(defaults: #"  grazie_agent: '{"name":"aia:pycharm","version":251}'"#))
        expectSingleDiagnostic(
            diagnostics, keyPath: "defaults.grazie_agent", line: 3, column: 17,
            containing: "grazie_agent needs 'version' (a non-empty string)")
    }

    @Test func grazieAgentWrittenAsAMappingSaysToQuoteIt() {
        let diagnostics = configDiagnostics(Self.file(tenant: "    grazie_agent: {name: pycharm, version: '1'}"))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.grazie_agent", line: 6, column: 19,
            containing: "grazie_agent is JSON text, found a mapping (quote it")
    }

    // MARK: - state_dir

    @Test func stateDirDefaultsNextToTheFileAndReachesEveryTenant() throws {
        let config = try #require(parsedConfig(Self.file(), path: "/srv/fleet/fleet.yaml"))
        #expect(config.supervisor.stateDir == "/srv/fleet/state")
        #expect(config.tenants[0].stateDir == "/srv/fleet/state")
    }

    @Test func stateDirResolvesAgainstTheFilesFolder() throws {
        let config = try #require(parsedConfig(
            Self.file(supervisor: "  state_dir: ../var/jbai-state"), path: "/srv/fleet/fleet.yaml"))
        #expect(config.supervisor.stateDir == "/srv/var/jbai-state")
        #expect(config.tenants[0].stateDir == "/srv/var/jbai-state")
    }

    @Test func stateDirMustNotBeEmpty() {
        let diagnostics = configDiagnostics(Self.file(supervisor: #"  state_dir: """#))
        expectSingleDiagnostic(diagnostics, keyPath: "supervisor.state_dir", line: 3, column: 14, message: "the path is empty")
    }

    @Test func stateDirIsNotATenantKey() {
        let diagnostics = configDiagnostics(Self.file(tenant: "    state_dir: state"))
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.state_dir", line: 6, column: 5,
                               containing: "unknown key 'state_dir'")
    }

    // MARK: - models with parameters

    @Test func modelEntriesMayCarryParameters() throws {
        let config = try #require(parsedConfig("""
            version: 1
            defaults:
              models:
                my-claude: {profile: anthropic-claude-4-5-sonnet, parameters: [temperature, top-p, length]}
                openai-gpt-5: {parameters: [length, reasoning-effort, verbosity]}
                plain: openai-gpt-4o
                no-params: {profile: openai-o3}
            tenants:
              team-a:
                listen: :8081
                api_keys: [k]
                models:
                  openai-gpt-5: {parameters: []}
                tokens: [{name: t, jwt: j}]
              team-b:
                listen: :8082
                api_keys: [k]
                tokens: [{name: t, jwt: j}]
            """))
        let b = try #require(config.tenant(named: "team-b"))
        #expect(b.models == [
            "my-claude": "anthropic-claude-4-5-sonnet", "plain": "openai-gpt-4o", "no-params": "openai-o3",
        ])
        #expect(b.profileParameters == [
            "anthropic-claude-4-5-sonnet": ["temperature", "top-p", "length"],
            "openai-gpt-5": ["length", "reasoning-effort", "verbosity"],
        ])
        let a = try #require(config.tenant(named: "team-a"))
        #expect(a.models == b.models)
        #expect(a.profileParameters["openai-gpt-5"] == [])
        #expect(a.profileParameters["anthropic-claude-4-5-sonnet"] == ["temperature", "top-p", "length"])
    }

    @Test func unknownParameterListsTheValidOnes() {
        let diagnostics = configDiagnostics(Self.file(tenant: """
                models:
                  fast: {profile: openai-gpt-4o, parameters: [temperature, max_tokens]}
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.models.fast.parameters[1]", line: 7, column: 64,
            message: "unknown parameter 'max_tokens' (valid: temperature, top-p, top-k, length, stop-token, seed, "
                + "response-format, reasoning-effort, thinking-budget, verbosity, parallel-tool-calls)")
    }

    @Test func misspelledParameterGetsASuggestion() {
        let diagnostics = configDiagnostics(Self.file(tenant: """
                models:
                  fast: {profile: openai-gpt-4o, parameters: [top_p]}
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.models.fast.parameters[0]", line: 7, containing: "did you mean 'top-p'?")
    }

    @Test func parameterListedTwice() {
        let diagnostics = configDiagnostics(Self.file(tenant: """
                models:
                  fast: {profile: openai-gpt-4o, parameters: [seed, seed]}
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.models.fast.parameters[1]", line: 7,
            message: "parameter 'seed' is listed twice")
    }

    @Test func parametersMustBeAList() {
        let diagnostics = configDiagnostics(Self.file(tenant: """
                models:
                  fast: {profile: openai-gpt-4o, parameters: temperature}
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.models.fast.parameters", line: 7, column: 50,
            containing: "expected a list of parameter names")
    }

    @Test func unknownKeyInAModelEntry() {
        let diagnostics = configDiagnostics(Self.file(tenant: """
                models:
                  fast: {profil: openai-gpt-4o}
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.models.fast.profil", line: 7, column: 14,
            message: "unknown key 'profil' (did you mean 'profile'?)")
    }

    @Test func emptyModelEntry() {
        let diagnostics = configDiagnostics(Self.file(tenant: """
                models:
                  fast: {}
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.models.fast", line: 7, column: 13,
            containing: "expected 'profile' (the upstream profile id) and/or 'parameters'")
    }

    @Test func modelEntryMustNotBeAList() {
        let diagnostics = configDiagnostics(Self.file(tenant: """
                models:
                  fast: [openai-gpt-4o]
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.models.fast", line: 7, column: 13,
            message: "expected a profile id, or a mapping with 'profile' and/or 'parameters', found a list")
    }

    @Test func twoParameterListsForOneProfile() {
        let diagnostics = configDiagnostics(Self.file(tenant: """
                models:
                  a: {profile: openai-gpt-4o, parameters: [seed]}
                  b: {profile: openai-gpt-4o, parameters: [temperature]}
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.models.b.parameters", line: 8, column: 47,
            message: "other parameters for profile 'openai-gpt-4o' are already given at line 7")
    }

    @Test func emptyProfileInAModelEntry() {
        let diagnostics = configDiagnostics(Self.file(tenant: """
                models:
                  fast: {profile: ""}
            """))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.models.fast.profile", line: 7, column: 23,
            message: "model profile is empty")
    }

    // MARK: - TenantConfig JSON

    @Test func newTenantFieldsRoundTripThroughJSON() throws {
        let tenant = TenantConfig(
            name: "t", listen: ListenAddress(host: "0.0.0.0", port: 1), apiKeys: ["k"],
            tokens: [TokenConfig(name: "r", source: .licenseRefresh(id: "L", refreshToken: "R"))],
            grazieAgent: #"{"name":"n","version":"v"}"#,
            profileParameters: ["openai-gpt-5": ["length", "verbosity"]],
            accountURL: "http://127.0.0.1:7000", outboundProxy: "http://u:p@proxy:3128", stateDir: "/srv/state")
        let data = try JSONEncoder().encode(tenant)
        #expect(try JSONDecoder().decode(TenantConfig.self, from: data) == tenant)
    }

    @Test func tenantJSONWithoutTheNewFieldsGetsTheirDefaults() throws {
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(TenantConfig(
            name: "t", listen: ListenAddress(host: "0.0.0.0", port: 1), apiKeys: ["k"],
            tokens: [TokenConfig(name: "a", source: .jwt("j"))],
            profileParameters: ["p": ["seed"]], accountURL: "http://x", outboundProxy: "http://p:1",
            stateDir: "/s"))) as? [String: Any])
        for key in ["profileParameters", "accountURL", "outboundProxy", "stateDir"] {
            #expect(object.removeValue(forKey: key) != nil, "\(key) is encoded")
        }
        let old = try JSONDecoder().decode(TenantConfig.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(old.profileParameters == [:])
        #expect(old.accountURL == "https://oauth.account.jetbrains.com")
        #expect(old.outboundProxy == nil)
        #expect(old.stateDir == nil)
    }

    @Test func supervisorStateDirRoundTripsAndDefaults() throws {
        let settings = SupervisorSettings(controlSocket: "/r/s.sock", runDir: "/r", logDir: nil, stateDir: "/srv/state")
        let data = try JSONEncoder().encode(settings)
        #expect(try JSONDecoder().decode(SupervisorSettings.self, from: data) == settings)
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        object["stateDir"] = nil
        let old = try JSONDecoder().decode(SupervisorSettings.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(old.stateDir == "state")
    }

    // MARK: - SHA-256

    @Test func sha256KnownVectors() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(String(repeating: "a", count: 1000))
            == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}

/// `header_timeout`, `idle_timeout`, `body_timeout`, `max_connections`, `max_header_size`,
/// `max_concurrent_requests`: defaults, inheritance, the supervisor's own, and their minimums.
@Suite("Fleet file: connection limits")
struct ConfigConnectionLimitKeysTests {
    @Test func defaultsAreAReverseProxysChoice() throws {
        let config = try #require(parsedConfig(ConfigCredentialKeysTests.file()))
        let limits = config.tenants[0].limits
        #expect(limits == ConnectionLimits.publicListener)
        #expect(limits.headerTimeout == .seconds(10) && limits.idleTimeout == .seconds(60) && limits.bodyTimeout == .seconds(60))
        #expect(limits.maxConnections == 4096 && limits.maxHeaderSize == 32 << 10)
        #expect(config.tenants[0].maxConcurrentRequests == 256)
        #expect(config.supervisor.limits == .publicListener)
    }

    @Test func tenantOverridesDefaults() throws {
        let config = try #require(parsedConfig(ConfigCredentialKeysTests.file(
            defaults: "  header_timeout: 5s\n  max_connections: 100",
            supervisor: "  idle_timeout: 10s\n  max_header_size: 8KiB",
            tenant: "    max_connections: 50\n    max_concurrent_requests: 8\n    body_timeout: 2s")))
        let t = config.tenants[0]
        #expect(t.limits.headerTimeout == .seconds(5))
        #expect(t.limits.maxConnections == 50)
        #expect(t.limits.bodyTimeout == .seconds(2))
        #expect(t.maxConcurrentRequests == 8)
        #expect(config.supervisor.limits.idleTimeout == .seconds(10))
        #expect(config.supervisor.limits.maxHeaderSize == 8192)
    }

    @Test func timeoutsHaveAMinimum() {
        let diagnostics = configDiagnostics(ConfigCredentialKeysTests.file(tenant: "    header_timeout: 1ms"))
        expectSingleDiagnostic(
            diagnostics, keyPath: "tenants.team-a.header_timeout", line: 6, column: 21,
            message: "must be at least 100ms, found '1ms'")
    }

    @Test func headLimitHasAMinimum() {
        let diagnostics = configDiagnostics(ConfigCredentialKeysTests.file(tenant: "    max_header_size: 100"))
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.max_header_size", line: 6, containing: "at least 1KiB")
    }

    @Test func capsArePositive() {
        let diagnostics = configDiagnostics(ConfigCredentialKeysTests.file(tenant: "    max_concurrent_requests: 0"))
        expectSingleDiagnostic(diagnostics, keyPath: "tenants.team-a.max_concurrent_requests", line: 6, message: "must be at least 1, found '0'")
    }

    @Test func limitsSurviveTheSettingsJSON() throws {
        var tenant = try #require(parsedConfig(ConfigCredentialKeysTests.file())).tenants[0]
        tenant.limits.headerTimeout = .milliseconds(1500)
        tenant.maxConcurrentRequests = 3
        let decoded = try JSONDecoder().decode(TenantConfig.self, from: JSONEncoder().encode(tenant))
        #expect(decoded == tenant)
    }
}
