import Foundation
import Testing

@testable import Shared

@Suite("Durations and sizes")
struct ConfigDurationAndSizeTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)),
        ("30s", .seconds(30)),
        ("5m", .seconds(300)),
        ("1h", .seconds(3600)),
        ("1.5s", .milliseconds(1500)),
        ("0.25m", .seconds(15)),
        ("0s", .zero),
        (" 10s ", .seconds(10)),
        ("1.0005s", .microseconds(1_000_500)),
    ])
    func parsesDurations(text: String, expected: Duration) {
        #expect(parseDuration(text) == expected)
    }

    @Test(arguments: ["", "30", "s", "-5s", "1m30s", "1.s", ".5s", "5 s", "5sec", "10d", "1e3ms", "abc", "5S",
                      "99999999999999999999h", "5ms5"])
    func rejectsBadDurations(text: String) {
        #expect(parseDuration(text) == nil)
    }

    @Test func formatsDurationsCompactly() {
        #expect(formatDuration(.milliseconds(250)) == "250ms")
        #expect(formatDuration(.seconds(30)) == "30s")
        #expect(formatDuration(.seconds(90)) == "90s")
        #expect(formatDuration(.seconds(300)) == "5m")
        #expect(formatDuration(.seconds(7200)) == "2h")
        #expect(formatDuration(.milliseconds(1500)) == "1500ms")
        #expect(formatDuration(.zero) == "0s")
        #expect(formatDuration(.microseconds(500)) == "0.5ms")
        #expect(Duration.seconds(30).compactDescription == "30s")
        for text in ["250ms", "30s", "5m", "1h", "1500ms", "0.5ms"] {
            #expect(parseDuration(text).map(formatDuration) == text)
        }
    }

    @Test func durationSecondsAndMilliseconds() {
        #expect(Duration.milliseconds(1500).seconds == 1.5)
        #expect(Duration.seconds(30).seconds == 30)
        #expect(Duration.milliseconds(250).milliseconds == 250)
    }

    @Test(arguments: [
        ("512KiB", 512 * 1024),
        ("10MiB", 10 * 1024 * 1024),
        ("1GiB", 1 << 30),
        ("2TiB", 2 << 40),
        ("10KB", 10_000),
        ("10MB", 10_000_000),
        ("1GB", 1_000_000_000),
        ("100B", 100),
        ("4096", 4096),
        ("0", 0),
    ])
    func parsesSizes(text: String, expected: Int) {
        #expect(parseByteSize(text) == expected)
    }

    @Test(arguments: ["", "KiB", "-1", "1.5MiB", "10 MiB", "10mib", "10M", "ten", "99999999999999999999",
                      "9999999999999TiB"])
    func rejectsBadSizes(text: String) {
        #expect(parseByteSize(text) == nil)
    }

    @Test func formatsSizes() {
        #expect(formatByteSize(10 << 20) == "10MiB")
        #expect(formatByteSize(512 << 10) == "512KiB")
        #expect(formatByteSize(1000) == "1000")
    }
}

@Suite("Listen addresses")
struct ConfigListenAddressTests {
    @Test(arguments: [
        ("127.0.0.1:9090", "127.0.0.1", 9090, "127.0.0.1:9090"),
        (":8081", "0.0.0.0", 8081, "0.0.0.0:8081"),
        ("0.0.0.0:8082", "0.0.0.0", 8082, "0.0.0.0:8082"),
        ("[::1]:80", "::1", 80, "[::1]:80"),
        ("[::]:0", "::", 0, "[::]:0"),
        ("localhost:65535", "localhost", 65535, "localhost:65535"),
        ("[fe80::1%eth0]:8080", "fe80::1%eth0", 8080, "[fe80::1%eth0]:8080"),
    ])
    func parses(text: String, host: String, port: Int, description: String) throws {
        let address = try #require(ListenAddress(parsing: text))
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.description == description)
        #expect(ListenAddress(parsing: address.description) == address)
    }

    @Test(arguments: ["", "8081", "host", "host:", ":", ":65536", ":-1", "::1:80", "[::1]", "[::1:80",
                      "[]:80", "a b:80", "host:80x", "[127.0.0.1]:80", ":123456"])
    func rejects(text: String) {
        #expect(ListenAddress(parsing: text) == nil)
    }

    @Test func conflicts() throws {
        func address(_ text: String) throws -> ListenAddress { try #require(ListenAddress(parsing: text)) }
        #expect(try address("127.0.0.1:80").conflicts(with: address("127.0.0.1:80")))
        #expect(try address("0.0.0.0:80").conflicts(with: address("127.0.0.1:80")))
        #expect(try address("127.0.0.1:80").conflicts(with: address("[::]:80")))
        #expect(try address("[::1]:80").conflicts(with: address("0.0.0.0:80")))
        #expect(try !address("127.0.0.1:80").conflicts(with: address("127.0.0.2:80")))
        #expect(try !address("127.0.0.1:80").conflicts(with: address("127.0.0.1:81")))
        #expect(try !address("0.0.0.0:0").conflicts(with: address("0.0.0.0:0")))
    }

    @Test func codableAsString() throws {
        let address = try #require(ListenAddress(parsing: "[::1]:8080"))
        let json = try JSONEncoder().encode([address])
        #expect(String(decoding: json, as: UTF8.self) == #"["[::1]:8080"]"#)
        #expect(try JSONDecoder().decode([ListenAddress].self, from: json) == [address])
    }
}

@Suite("Fingerprints and the model table")
struct ConfigFingerprintAndModelTests {
    @Test func longSecretsShowTenCharacters() {
        // 24 characters or more: the prefix and a short hash of the whole secret.
        let jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.payload.sig"
        #expect(fingerprint(jwt) == "eyJ0eXAiOi...#" + String(SHA256.hex(jwt).prefix(4)))
        #expect(fingerprint("abcdefghijklmn") == "abcdefghij...")  // exactly 14: no hash
    }

    @Test func shortSecretsShowThreeCharacters() {
        #expect(fingerprint("abcdefghijklm") == "abc...")  // 13
        #expect(fingerprint("abcd") == "abc...")
        #expect(fingerprint("abc") == "...")
        #expect(fingerprint("") == "...")
    }

    @Test func fingerprintNeverRevealsTheWholeSecret() {
        for length in 0...40 {
            let secret = String(repeating: "x", count: length)
            let shown = fingerprint(secret).split(separator: "...", maxSplits: 1, omittingEmptySubsequences: false)[0]
            #expect(length == 0 || shown.count < length)
            #expect(length < 14 || shown.count == 10)
            #expect(length < 24 || length - shown.count >= 14, "a hash only where at least 14 characters stay hidden")
        }
    }

    @Test func builtinTable() {
        // Every id of the seed's table still resolves as it did (drop-in), and every alias
        // points at a profile the table knows.
        let seed = [
            "gpt-4o": "openai-gpt-4o", "o1": "openai-o1", "o3": "openai-o3", "o3-mini": "openai-o3-mini",
            "o4-mini": "openai-o4-mini", "gpt4.1": "openai-gpt4.1", "gpt4.1-mini": "openai-gpt4.1-mini",
            "gpt4.1-nano": "openai-gpt4.1-nano", "gemini-pro-2.5": "google-chat-gemini-pro-2.5",
            "gemini-flash-2.0": "google-chat-gemini-flash-2.0", "gemini-flash-2.5": "google-chat-gemini-flash-2.5",
            "claude-3.5-haiku": "anthropic-claude-3.5-haiku", "claude-3.5-sonnet": "anthropic-claude-3.5-sonnet",
            "claude-3.7-sonnet": "anthropic-claude-3.7-sonnet", "claude-4-sonnet": "anthropic-claude-4-sonnet",
        ]
        for (id, profile) in seed { #expect(ModelTable.builtin[id] == profile, "\(id)") }
        for (id, profile) in ModelTable.builtin {
            #expect(ModelTable.knownProfiles.contains(profile), "\(id) → \(profile) is not a known profile")
        }
        #expect(Set(ModelTable.knownProfiles).count == ModelTable.knownProfiles.count)
        #expect(ModelTable.builtin["gpt-4o"] == "openai-gpt-4o")
        #expect(ModelTable.builtin["gpt4.1-nano"] == "openai-gpt4.1-nano")
        #expect(ModelTable.builtin["gemini-flash-2.0"] == "google-chat-gemini-flash-2.0")
        #expect(ModelTable.builtin["claude-3.7-sonnet"] == "anthropic-claude-3.7-sonnet")
        #expect(ModelTable.builtin["claude-4-sonnet"] == "anthropic-claude-4-sonnet")
    }

    @Test func profileLookup() {
        #expect(ModelTable.profile(for: "o3") == "openai-o3")
        #expect(ModelTable.profile(for: "openai-gpt-4o") == "openai-gpt-4o")
        #expect(ModelTable.profile(for: "nope") == nil)
        let overrides = ["my-claude": "anthropic-claude-4-sonnet", "gpt-4o": "openai-o1"]
        #expect(ModelTable.profile(for: "my-claude", overrides: overrides) == "anthropic-claude-4-sonnet")
        #expect(ModelTable.profile(for: "gpt-4o", overrides: overrides) == "openai-o1")
    }

    /// The ids Claude Code and OpenAI tools send resolve through aliases.
    @Test(arguments: [
        ("claude-sonnet-4-5-20250929", "anthropic-claude-4-5-sonnet"),
        ("claude-opus-4-1-20250805", "anthropic-claude-4.1-opus"),
        ("claude-haiku-4-5-20251001", "anthropic-claude-4-5-haiku"),
        ("claude-3-5-haiku-20241022", "anthropic-claude-3.5-haiku"),
        ("gpt-5", "openai-gpt-5"),
        ("gpt-4.1", "openai-gpt4.1"),
        ("o3", "openai-o3"),
        ("gpt-5.1-codex", "openai-gpt-5-1-codex"),
        ("anthropic-claude-4-6-opus", "anthropic-claude-4-6-opus"),
    ])
    func providerNamesResolve(model: String, profile: String) {
        #expect(ModelTable.profile(for: model) == profile)
    }

    @Test func aDateSuffixIsOnlyStrippedWhenItIsADate() {
        #expect(ModelTable.profile(for: "claude-sonnet-4-5-2025092") == nil)
        #expect(ModelTable.profile(for: "claude-sonnet-4-5-latest") == nil)
        #expect(ModelTable.profile(for: "gpt-5-20250101") == "openai-gpt-5")
    }

    @Test func closeMatchesSuggestNeighbours() {
        let ids = Array(ModelTable.builtin.keys) + ModelTable.knownProfiles
        #expect(ModelTable.closeMatches(to: "gpt-4-o", among: ids).first == "gpt-4o")
        #expect(ModelTable.closeMatches(to: "claude-sonet-4-5", among: ids).first == "claude-sonnet-4-5")
        #expect(ModelTable.closeMatches(to: "zzzzzzzzzzzzzzzzzzzzzzzz", among: ids).isEmpty)
        #expect(ModelTable.closeMatches(to: "gpt", among: ids).count <= 3)
    }

    @Test func codexAndChatProfiles() {
        #expect(ModelTable.isCodexProfile("openai-gpt-5-1-codex-mini"))
        #expect(!ModelTable.isCodexProfile("openai-gpt-5-1"))
        #expect(!ModelTable.isChatProfile("openai-embedding-3-large"))
        #expect(!ModelTable.isChatProfile("openai-instruct-gpt"))
        #expect(ModelTable.isChatProfile("xai-grok-4"))
    }
}

@Suite("Variable substitution")
struct ConfigVariableSubstitutionTests {
    let environment = ["A": "alpha", "EMPTY": "", "B_2": "beta"]

    @Test func substitutes() {
        let outcome = ConfigVariableSubstitution.apply(to: "x-${A}-${B_2}-$A-$", environment: environment)
        #expect(outcome == .init(value: "x-alpha-beta-$A-$", usedVariables: true, errors: []))
    }

    @Test func fallbacks() {
        #expect(ConfigVariableSubstitution.apply(to: "${MISSING:-dflt}", environment: environment).value == "dflt")
        #expect(ConfigVariableSubstitution.apply(to: "${EMPTY:-dflt}", environment: environment).value == "dflt")
        #expect(ConfigVariableSubstitution.apply(to: "${A:-dflt}", environment: environment).value == "alpha")
        #expect(ConfigVariableSubstitution.apply(to: "${MISSING:-}", environment: environment).value == "")
        #expect(ConfigVariableSubstitution.apply(to: "${EMPTY}", environment: environment).value == "")
    }

    @Test func plainTextIsUntouched() {
        #expect(ConfigVariableSubstitution.apply(to: "plain", environment: environment)
            == .init(value: "plain", usedVariables: false, errors: []))
    }

    @Test func errorsNameTheVariable() {
        let outcome = ConfigVariableSubstitution.apply(to: "${MISSING} ${A} ${1BAD} ${OPEN", environment: environment)
        #expect(outcome.errors.count == 3)
        #expect(outcome.errors[0].contains("'MISSING' is not set"))
        #expect(outcome.errors[1].contains("invalid variable reference '${1BAD}'"))
        #expect(outcome.errors[2].contains("unterminated"))
        #expect(!outcome.errors.joined().contains("alpha"))
    }
}

@Suite("Diagnostics and JSON")
struct ConfigDiagnosticAndCodingTests {
    @Test func diagnosticDescription() {
        let diagnostic = ConfigDiagnostic(
            file: "fleet.yaml", line: 14, column: 13, keyPath: "tenants.team-a.listen",
            message: "port 8081 is already used by tenants.team-b")
        #expect(diagnostic.description
            == "fleet.yaml:14:13: tenants.team-a.listen: port 8081 is already used by tenants.team-b")
        let root = ConfigDiagnostic(file: "f.yaml", line: 1, column: 1, keyPath: "", message: "invalid YAML")
        #expect(root.description == "f.yaml:1:1: invalid YAML")
        let error = ConfigError(diagnostics: [diagnostic, root])
        #expect(error.description == diagnostic.description + "\n" + root.description)
    }

    @Test func tenantRoundTripsThroughJSONWithMilliseconds() throws {
        let tenant = TenantConfig(
            name: "team-a", listen: ListenAddress(host: "::1", port: 8081), apiKeys: ["k1", "k2"],
            tokens: [
                TokenConfig(name: "primary", source: .jwt("eyJ.a.b"), priority: 1, weight: 2,
                            metadata: ["region": "us-east-1"], description: "main"),
                TokenConfig(name: "licensed", source: .license(id: "LIC", authorization: "AUTH"), priority: 2),
            ],
            strategy: .leastBusy, healthCheckInterval: .milliseconds(1500), connectTimeout: .seconds(10),
            models: ["my-claude": "anthropic-claude-4-sonnet"], grazieAgent: "{}",
            shutdownTimeout: .seconds(30))
        let data = try JSONEncoder().encode(tenant)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["connectTimeoutMs"] as? Int == 10_000)
        #expect(object["healthCheckIntervalMs"] as? Int == 1500)
        #expect(object["requestTimeoutMs"] as? Int == 120_000)
        #expect(object["shutdownTimeoutMs"] as? Int == 30_000)
        #expect(object["listen"] as? String == "[::1]:8081")
        #expect(object["strategy"] as? String == "least_busy")
        #expect(try JSONDecoder().decode(TenantConfig.self, from: data) == tenant)
    }

    @Test func fleetRoundTripsThroughJSON() throws {
        let supervisor = SupervisorSettings(
            controlSocket: "/srv/run/supervisor.sock", runDir: "/srv/run", logDir: nil,
            restart: RestartPolicy(initialBackoff: .milliseconds(100), maxBackoff: .seconds(10), maxRestarts: 2,
                                   window: .seconds(30)),
            workerBinary: "/usr/bin/worker")
        let tenant = TenantConfig(
            name: "t", listen: ListenAddress(host: "0.0.0.0", port: 1), apiKeys: ["k"],
            tokens: [TokenConfig(name: "a", source: .jwt("j"))])
        let fleet = FleetConfig(supervisor: supervisor, tenants: [tenant], path: "/srv/fleet.yaml")
        let data = try JSONEncoder().encode(fleet)
        #expect(try JSONDecoder().decode(FleetConfig.self, from: data) == fleet)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(#""initialBackoffMs":100"#))
        #expect(!text.contains("logDir"))
    }
}
