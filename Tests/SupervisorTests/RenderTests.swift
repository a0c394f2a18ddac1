import Foundation
import Shared
import Testing
import Yams
@testable import SupervisorCore

/// `render kubernetes` / `render systemd`, on fleet files in memory (nothing is read from disk:
/// rendering never needs the secrets or the secret files).
@Suite struct RenderTests {
    static let fleet = """
        version: 1
        supervisor:
          shutdown_timeout: 20s
          state_dir: /var/lib/jetbrains-ai
          run_dir: /run/jetbrains-ai
          control_socket: /run/jetbrains-ai/supervisor.sock
          log_dir: /var/log/jetbrains-ai
        defaults:
          upstream: ${UPSTREAM:-https://api.jetbrains.ai}
          outbound_proxy: http://user:pa55-literal@proxy.internal:3128
        tenants:
          alpha:
            listen: 127.0.0.1:8081
            replicas: 3
            resources: {requests: {cpu: 250m, memory: 80Mi}}
            api_keys: ["literal-key-alpha-0123", "${ALPHA_KEY}"]
            tokens:
              - {name: one, jwt: "${ALPHA_JWT}"}
              - {name: two, jwt_file: secrets/two.jwt}
              - {name: lic, license_id: literal-license-9, refresh_token_file: /srv/secrets/lic.refresh}
          beta:
            listen: :8082
            state_volume: pvc:beta-state
            api_keys_file: secrets/beta.keys
            tokens:
              - {name: one, jwt: "${BETA_JWT}"}
        """

    func input(_ yaml: String = fleet, path: String = "/srv/fleet/fleet.yaml") throws -> RenderInput {
        try RenderInput.parse(yaml: yaml, path: path)
    }

    @Test func validatesWithoutSecretsOrSecretFiles() throws {
        let input = try input()
        #expect(input.config.tenants.map(\.name) == ["alpha", "beta"])
        let alpha = try #require(input.config.tenant(named: "alpha"))
        #expect(alpha.deployment == TenantDeployment(
            replicas: 3, resources: TenantResources(requests: ["cpu": "250m", "memory": "80Mi"]), stateVolume: .emptyDir))
        #expect(input.config.tenant(named: "beta")?.deployment.stateVolume == .claim("beta-state"))
        #expect(alpha.tokens[0].source == .jwt(FleetConfigLoader.secretPlaceholder))
        #expect(input.variableNames == ["UPSTREAM", "ALPHA_KEY", "ALPHA_JWT", "BETA_JWT"])
    }

    @Test func badDeploymentKeysAreErrorsWithPositions() throws {
        let yaml = Self.fleet.replacingOccurrences(of: "replicas: 3", with: "replicas: 0")
            .replacingOccurrences(of: "state_volume: pvc:beta-state", with: "state_volume: pvc:Bad_Name")
            .replacingOccurrences(of: "cpu: 250m", with: "cpu: fast")
        #expect {
            try RenderInput.parse(yaml: yaml, path: "/srv/fleet/fleet.yaml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            let paths = error.diagnostics.map(\.keyPath)
            return paths == ["tenants.alpha.replicas", "tenants.alpha.resources.requests.cpu", "tenants.beta.state_volume"]
                && error.diagnostics[0].line == 14
        }
    }

    @Test func tenantFileKeepsVariablesAndTakesOutLiteralsAndFiles() throws {
        let input = try input()
        let alpha = try #require(input.config.tenant(named: "alpha"))
        let file = TenantFleetFile(input: input, tenant: alpha)
        #expect(file.problems.isEmpty)
        #expect(!file.yaml.contains("literal-key-alpha-0123") && !file.yaml.contains("pa55-literal")
            && !file.yaml.contains("literal-license-9"))
        #expect(file.literals.map(\.keyPath) == [
            "defaults.outbound_proxy", "tenants.alpha.api_keys[0]", "tenants.alpha.tokens[2].license_id",
        ])
        #expect(file.literals.map(\.variable) == [
            "JBAI_LITERAL_DEFAULTS_OUTBOUND_PROXY", "JBAI_LITERAL_API_KEYS_0", "JBAI_LITERAL_TOKENS_2_LICENSE_ID",
        ])
        #expect(file.variables == [
            .init(name: "UPSTREAM", optional: true), .init(name: "ALPHA_KEY", optional: false),
            .init(name: "ALPHA_JWT", optional: false),
        ])
        #expect(file.files == [
            .init(key: "two.jwt", sourcePath: "/srv/fleet/secrets/two.jwt", keyPath: "tenants.alpha.tokens[1].jwt_file"),
            .init(key: "lic.refresh", sourcePath: "/srv/secrets/lic.refresh", keyPath: "tenants.alpha.tokens[2].refresh_token_file"),
        ])
        // The pod's file is a valid fleet file of one tenant, on every interface, same port.
        let pod = try FleetConfigLoader.parseWithoutSecrets(yaml: file.yaml, path: "/etc/jetbrains-ai/config/fleet.yaml")
        #expect(pod.tenants.map(\.name) == ["alpha"])
        #expect(pod.tenants[0].listen == ListenAddress(host: "0.0.0.0", port: 8081))
        #expect(pod.tenants[0].shutdownTimeout == .seconds(20))
        #expect(pod.supervisor.stateDir == "/var/lib/jetbrains-ai")
        #expect(pod.tenants[0].deployment == TenantDeployment(), "replicas and the rest stay out of the pod")
        // With the environment the Deployment builds and the files where the volume puts them,
        // the real loader reads every secret back.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("render-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "jwt-from-file-0123\n".write(toFile: folder + "/two.jwt", atomically: true, encoding: .utf8)
        try "refresh-from-file-0123\n".write(toFile: folder + "/lic.refresh", atomically: true, encoding: .utf8)
        var environment = Dictionary(uniqueKeysWithValues: file.literals.map { ($0.variable, $0.value) })
        environment["ALPHA_KEY"] = "env-key-0123"
        environment["ALPHA_JWT"] = "env-jwt-0123"
        let resolved = try FleetConfigLoader.parse(
            yaml: file.yaml.replacingOccurrences(of: TenantFleetFile.PodPaths.secretFiles, with: folder),
            path: folder + "/fleet.yaml", environment: environment)
        let tenant = try #require(resolved.tenants.first)
        #expect(tenant.apiKeys == ["literal-key-alpha-0123", "env-key-0123"])
        #expect(tenant.outboundProxy == "http://user:pa55-literal@proxy.internal:3128")
        #expect(tenant.upstream == "https://api.jetbrains.ai")
        #expect(tenant.tokens.map(\.source) == [
            .jwt("env-jwt-0123"), .jwt("jwt-from-file-0123"),
            .licenseRefresh(id: "literal-license-9", refreshToken: "refresh-from-file-0123"),
        ])
    }

    @Test func manifestsPerTenant() throws {
        var renderer = KubernetesRenderer()
        renderer.options.namespace = "ai"
        let output = renderer.render(try input())
        #expect(output.problems.isEmpty)
        #expect(output.files.map(\.name) == ["common", "alpha", "beta"])
        func kinds(_ name: String) -> [String] {
            output.files.first { $0.name == name }!.documents.compactMap { $0.node["kind"]?.string }
        }
        #expect(kinds("common") == ["Namespace", "ServiceAccount"])
        #expect(kinds("alpha") == ["ConfigMap", "Secret", "Service", "Deployment", "PodDisruptionBudget"])
        #expect(kinds("beta") == ["ConfigMap", "Secret", "Service", "Deployment"])
        let deployment = output.files[1].documents[3].node
        let pod = try #require(deployment["spec"]?["template"]?["spec"])
        #expect(pod["terminationGracePeriodSeconds"]?.int == 5 + 20 + 5)
        #expect(pod["containers"]?[0]?["resources"]?["requests"]?["cpu"]?.string == "250m")
        #expect(pod["containers"]?[0]?["resources"]?["limits"] == nil, "a tenant's resources replace the default")
        let beta = output.files[2].documents[3].node
        #expect(beta["spec"]?["template"]?["spec"]?["containers"]?[0]?["resources"]?["limits"]?["memory"]?.string == "256Mi")
        // Warnings name places, never values.
        let warnings = output.warnings.joined(separator: "\n")
        #expect(warnings.contains("tenants.alpha.api_keys[0]") && warnings.contains("127.0.0.1:8081"))
        #expect(!warnings.contains("literal-key-alpha-0123") && !warnings.contains("pa55-literal"))
        #expect(output.secretKeys.map(\.key) == ["UPSTREAM", "ALPHA_KEY", "ALPHA_JWT", "two.jwt", "lic.refresh", "BETA_JWT", "beta.keys"])
        let text = try YAMLTree.emit(output.files.flatMap(\.documents))
        let secretsOnly = text.components(separatedBy: "\n---").filter { !$0.contains("kind: Secret") }.joined()
        #expect(!secretsOnly.contains("literal-key-alpha-0123"))
    }

    @Test func portZeroCannotBeRendered() throws {
        let yaml = Self.fleet.replacingOccurrences(of: "listen: :8082", with: "listen: :0")
        let output = KubernetesRenderer().render(try input(yaml))
        #expect(output.problems == ["tenants.beta.listen: port 0 cannot be rendered (a Service needs a fixed port)"])
    }

    @Test func scalarsThatLookLikeOtherTypesAreQuoted() throws {
        let text = try YAMLTree.emit([.map([("a", .string("8081")), ("b", .string("true")), ("c", .string("")),
                                            ("d", .int(3)), ("e", .string("plain"))])])
        #expect(text == "---\na: \"8081\"\nb: \"true\"\nc: \"\"\nd: 3\ne: plain\n")
    }

    @Test func systemdUnit() throws {
        let unit = SystemdRenderer().render(try input()).unit
        let lines = Set(unit.split(separator: "\n").map(String.init))
        #expect(lines.contains("Type=notify"))
        #expect(lines.contains("ExecStart=/usr/local/bin/jetbrains-ai-supervisor run /srv/fleet/fleet.yaml"))
        #expect(lines.contains("ExecReload=/usr/local/bin/jetbrains-ai-supervisor ctl --config /srv/fleet/fleet.yaml reload"))
        #expect(lines.contains("TimeoutStopSec=35s"))
        #expect(lines.contains("ProtectHome=yes"))
        #expect(!unit.contains("ReadWritePaths"), "every folder is one systemd makes for the unit")
        let home = try input(Self.fleet.replacingOccurrences(of: "state_dir: /var/lib/jetbrains-ai", with: "state_dir: state"),
                             path: "/home/ops/fleet dir/fleet.yaml")
        let rendered = SystemdRenderer().render(home)
        #expect(rendered.unit.contains("ProtectHome=read-only"))
        #expect(rendered.unit.contains("ReadWritePaths=\"/home/ops/fleet dir/state\""))
        #expect(rendered.unit.contains("ExecStart=/usr/local/bin/jetbrains-ai-supervisor run \"/home/ops/fleet dir/fleet.yaml\""))
        #expect(rendered.warnings.count == 1)
    }

    @Test func notifySocketAddresses() {
        #expect(NotifySocket("@abc")?.path == [0, 97, 98, 99])
        #expect(NotifySocket("@abc")?.isAbstract == true)
        #expect(NotifySocket("/run/systemd/notify")?.path == Array("/run/systemd/notify".utf8))
        #expect(NotifySocket("relative/path") == nil)
        #expect(NotifySocket("@") == nil)
        #expect(NotifySocket("/" + String(repeating: "x", count: 107)) == nil, "no room for the terminating NUL")
        #expect(NotifySocket("@" + String(repeating: "x", count: 107)) != nil)
    }

    @Test func watchdogIntervalIsHalfOfWatchdogUsecForThisProcess() {
        #expect(SystemdNotifyEnvironment(["WATCHDOG_USEC": "400000"], pid: 7).watchdogInterval == .milliseconds(200))
        #expect(SystemdNotifyEnvironment(["WATCHDOG_USEC": "400000", "WATCHDOG_PID": "7"], pid: 7).watchdogInterval == .milliseconds(200))
        #expect(SystemdNotifyEnvironment(["WATCHDOG_USEC": "400000", "WATCHDOG_PID": "8"], pid: 7).watchdogInterval == nil)
        #expect(SystemdNotifyEnvironment(["WATCHDOG_USEC": "0"], pid: 7).watchdogInterval == nil)
        #expect(SystemdNotifyEnvironment([:], pid: 7) == SystemdNotifyEnvironment(["NOTIFY_SOCKET": "nope"], pid: 7))
    }
}
