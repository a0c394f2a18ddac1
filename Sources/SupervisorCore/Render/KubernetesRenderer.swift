import Foundation
import Shared

/// `render kubernetes`: plain manifests for every tenant of a fleet file. Per tenant a
/// ConfigMap (its cut-down fleet file, no secrets), a Secret (the secrets the file wrote
/// literally), a Service, a Deployment, a PodDisruptionBudget when it runs more than one
/// replica, and with `serviceMonitor` a Prometheus Operator ServiceMonitor. Pure: input in,
/// documents out.
struct KubernetesRenderer {
    struct Options: Sendable {
        var image = "jetbrains-ai-proxy:\(BuildInfo.version)"
        var namespace: String?
        var serviceMonitor = false
        /// The Secret the user creates with the values of the file's `${NAME}`s and secret files.
        var secretName = "jetbrains-ai-secrets"
        /// How long `preStop` waits before SIGTERM starts the drain: time for the endpoints
        /// controller and every kube-proxy to stop sending new connections to the pod.
        var preStopSeconds = 5
    }

    /// One output file: `common` or a tenant's name.
    struct File {
        var name: String
        var documents: [YAMLTree]
    }

    struct Output {
        var files: [File] = []
        var warnings: [String] = []
        var problems: [String] = []
        /// The keys the user's Secret must have (variable names and secret-file keys), and
        /// for each file the path it comes from.
        var secretKeys: [(key: String, file: String?, optional: Bool)] = []
    }

    /// Measured in BENCHMARKS.md (scenario 6 and the 30-tenant run): a worker is about 31 MiB
    /// idle and 64-67 MiB holding 500 concurrent streams; it uses 143-390 µs of CPU per
    /// request, so 0.1 CPU carries a few hundred requests per second. No CPU limit: throttling
    /// a proxy adds latency to every request and saves nothing.
    static let defaultResources = TenantResources(requests: ["cpu": "100m", "memory": "64Mi"], limits: ["memory": "256Mi"])

    static let userID = 65532
    static let appName = "jetbrains-ai-proxy"
    static let serviceAccount = "jetbrains-ai-proxy"

    var options = Options()

    func render(_ input: RenderInput) -> Output {
        var output = Output()
        var common: [YAMLTree] = []
        if let namespace = options.namespace {
            common.append(.map([
                ("apiVersion", .string("v1")), ("kind", .string("Namespace")),
                ("metadata", .map([("name", .string(namespace)), ("labels", partOf)])),
            ]))
        }
        common.append(.map([
            ("apiVersion", .string("v1")), ("kind", .string("ServiceAccount")),
            ("metadata", metadata(Self.serviceAccount, labels: partOf)),
            ("automountServiceAccountToken", .bool(false)),
        ]))
        output.files.append(File(name: "common", documents: common))

        for tenant in input.config.tenants {
            let file = TenantFleetFile(input: input, tenant: tenant)
            output.problems += file.problems
            if tenant.listen.port == 0 {
                output.problems.append("tenants.\(tenant.name).listen: port 0 cannot be rendered (a Service needs a fixed port)")
                continue
            }
            if !tenant.listen.isWildcard {
                output.warnings.append("tenants.\(tenant.name).listen: the pod listens on 0.0.0.0:\(tenant.listen.port), "
                    + "not \(tenant.listen) (the Service is the way in)")
            }
            for literal in file.literals {
                output.warnings.append("\(literal.keyPath): a secret written in the fleet file went into Secret "
                    + "\(name(tenant, "secrets")) as \(literal.variable); write it as ${NAME} to keep it out of rendered files")
            }
            if tenant.deployment.replicas > 1, case .claim(let claim) = tenant.deployment.stateVolume {
                output.warnings.append("tenants.\(tenant.name).state_volume: \(tenant.deployment.replicas) replicas share "
                    + "claim \(claim): it must be ReadWriteMany, and the replicas may overwrite each other's rotated refresh tokens")
            }
            for variable in file.variables where !output.secretKeys.contains(where: { $0.key == variable.name }) {
                output.secretKeys.append((variable.name, nil, variable.optional))
            }
            for secretFile in file.files where !output.secretKeys.contains(where: { $0.key == secretFile.key }) {
                output.secretKeys.append((secretFile.key, secretFile.sourcePath, false))
            }
            output.files.append(File(name: tenant.name, documents: documents(for: tenant, file: file)))
        }
        return output
    }

    // MARK: - One tenant

    func documents(for tenant: TenantConfig, file: TenantFleetFile) -> [YAMLTree] {
        let labels = self.labels(tenant)
        let configMap = YAMLTree.map([
            ("apiVersion", .string("v1")), ("kind", .string("ConfigMap")),
            ("metadata", metadata(name(tenant, "config"), labels: labels)),
            ("data", .map([("fleet.yaml", .string(file.yaml))])),
        ])
        let secret = YAMLTree.map([
            ("apiVersion", .string("v1")), ("kind", .string("Secret")),
            ("metadata", metadata(name(tenant, "secrets"), labels: labels)),
            ("type", .string("Opaque")),
            ("stringData", .map(file.literals.map { ($0.variable, .string($0.value)) })),
        ])
        let service = YAMLTree.map([
            ("apiVersion", .string("v1")), ("kind", .string("Service")),
            ("metadata", metadata(name(tenant), labels: labels)),
            ("spec", .map([
                ("type", .string("ClusterIP")),
                ("selector", selector(tenant)),
                ("ports", .list([.map([
                    ("name", .string("http")), ("port", .int(tenant.listen.port)),
                    ("targetPort", .string("http")), ("protocol", .string("TCP")),
                ])])),
            ])),
        ])
        var documents = [configMap, secret, service, deployment(tenant, file: file)]
        if tenant.deployment.replicas > 1 {
            documents.append(.map([
                ("apiVersion", .string("policy/v1")), ("kind", .string("PodDisruptionBudget")),
                ("metadata", metadata(name(tenant), labels: labels)),
                ("spec", .map([("maxUnavailable", .int(1)), ("selector", .map([("matchLabels", selector(tenant))]))])),
            ]))
        }
        if options.serviceMonitor {
            documents.append(.map([
                ("apiVersion", .string("monitoring.coreos.com/v1")), ("kind", .string("ServiceMonitor")),
                ("metadata", metadata(name(tenant), labels: labels)),
                ("spec", .map([
                    ("selector", .map([("matchLabels", selector(tenant))])),
                    ("endpoints", .list([.map([
                        ("port", .string("http")), ("path", .string("/metrics")), ("interval", .string("30s")),
                    ])])),
                ])),
            ]))
        }
        return documents
    }

    func deployment(_ tenant: TenantConfig, file: TenantFleetFile) -> YAMLTree {
        let paths = TenantFleetFile.PodPaths.self
        let port = tenant.listen.port
        var env: [YAMLTree] = file.variables.map { variable in
            Self.secretEnv(variable.name, secret: options.secretName, key: variable.name, optional: variable.optional)
        }
        env += file.literals.map { Self.secretEnv($0.variable, secret: name(tenant, "secrets"), key: $0.variable, optional: false) }
        var mounts: [YAMLTree] = [
            .map([("name", .string("config")), ("mountPath", .string(paths.configDirectory)), ("readOnly", .bool(true))]),
            .map([("name", .string("state")), ("mountPath", .string(paths.state))]),
            .map([("name", .string("tmp")), ("mountPath", .string("/tmp"))]),
        ]
        var volumes: [YAMLTree] = [
            .map([("name", .string("config")), ("configMap", .map([("name", .string(name(tenant, "config")))]))]),
            .map([("name", .string("state")), stateVolume(tenant.deployment.stateVolume)]),
            .map([("name", .string("tmp")), ("emptyDir", .map([("sizeLimit", .string("64Mi"))]))]),
        ]
        if !file.files.isEmpty {
            mounts.append(.map([("name", .string("files")), ("mountPath", .string(paths.secretFiles)), ("readOnly", .bool(true))]))
            volumes.append(.map([
                ("name", .string("files")),
                ("secret", .map([
                    ("secretName", .string(options.secretName)),
                    ("defaultMode", .int(0o400)),
                    ("items", .list(file.files.map { .map([("key", .string($0.key)), ("path", .string($0.key))]) })),
                ])),
            ]))
        }
        let resources = tenant.deployment.resources ?? Self.defaultResources
        func quantities(_ map: [String: String]) -> YAMLTree { .map(map.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }) }
        let drain = Int(ceil(tenant.shutdownTimeout.seconds))
        let container = YAMLTree.compact([
            ("name", .string("proxy")),
            ("image", .string(options.image)),
            ("imagePullPolicy", .string("IfNotPresent")),
            ("command", .list([.string("jetbrains-ai-proxy")])),
            ("args", .list(["--config", paths.configFile, "--tenant", tenant.name].map { .string($0) })),
            ("ports", .list([.map([("name", .string("http")), ("containerPort", .int(port)), ("protocol", .string("TCP"))])])),
            ("env", env.isEmpty ? nil : .list(env)),
            // The worker fetches license JWTs before it listens: give it a minute.
            ("startupProbe", probe("/live", period: 2, failures: 30, timeout: 2)),
            ("readinessProbe", probe("/ready", period: 5, failures: 2, timeout: 2)),
            ("livenessProbe", probe("/live", period: 10, failures: 3, timeout: 3)),
            ("lifecycle", .map([("preStop", .map([
                ("exec", .map([("command", .list([.string("/bin/sleep"), .string(String(options.preStopSeconds))]))])),
            ]))])),
            ("resources", .compact([
                ("requests", resources.requests.isEmpty ? nil : quantities(resources.requests)),
                ("limits", resources.limits.isEmpty ? nil : quantities(resources.limits)),
            ])),
            ("securityContext", .map([
                ("allowPrivilegeEscalation", .bool(false)),
                ("readOnlyRootFilesystem", .bool(true)),
                ("runAsNonRoot", .bool(true)),
                ("runAsUser", .int(Self.userID)),
                ("runAsGroup", .int(Self.userID)),
                ("capabilities", .map([("drop", .list([.string("ALL")]))])),
            ])),
            ("volumeMounts", .list(mounts)),
        ])
        let annotations = YAMLTree.map([
            ("prometheus.io/scrape", .string("true")),
            ("prometheus.io/port", .string(String(port))),
            ("prometheus.io/path", .string("/metrics")),
            // A changed fleet file changes the pod template: the Deployment rolls.
            ("jetbrains-ai/config-sha256", .string(SHA256.hex(file.yaml))),
        ])
        return .map([
            ("apiVersion", .string("apps/v1")), ("kind", .string("Deployment")),
            ("metadata", metadata(name(tenant), labels: labels(tenant))),
            ("spec", .map([
                ("replicas", .int(tenant.deployment.replicas)),
                ("selector", .map([("matchLabels", selector(tenant))])),
                ("strategy", .map([
                    ("type", .string("RollingUpdate")),
                    ("rollingUpdate", .map([("maxUnavailable", .int(0)), ("maxSurge", .int(1))])),
                ])),
                ("template", .map([
                    ("metadata", .map([("labels", labels(tenant)), ("annotations", annotations)])),
                    ("spec", .map([
                        ("serviceAccountName", .string(Self.serviceAccount)),
                        ("automountServiceAccountToken", .bool(false)),
                        // preStop, then SIGTERM drains for up to shutdown_timeout; a little slack on top.
                        ("terminationGracePeriodSeconds", .int(options.preStopSeconds + drain + 5)),
                        ("securityContext", .map([
                            ("runAsNonRoot", .bool(true)),
                            ("runAsUser", .int(Self.userID)),
                            ("runAsGroup", .int(Self.userID)),
                            ("fsGroup", .int(Self.userID)),
                            ("seccompProfile", .map([("type", .string("RuntimeDefault"))])),
                        ])),
                        ("containers", .list([container])),
                        ("volumes", .list(volumes)),
                    ])),
                ])),
            ])),
        ])
    }

    // MARK: - Pieces

    func name(_ tenant: TenantConfig, _ suffix: String? = nil) -> String {
        ["jetbrains-ai", tenant.name, suffix].compactMap { $0 }.joined(separator: "-")
    }

    var partOf: YAMLTree { .map([("app.kubernetes.io/part-of", .string("jetbrains-ai"))]) }

    func selector(_ tenant: TenantConfig) -> YAMLTree {
        .map([("app.kubernetes.io/name", .string(Self.appName)), ("app.kubernetes.io/instance", .string(tenant.name))])
    }

    func labels(_ tenant: TenantConfig) -> YAMLTree {
        .map([
            ("app.kubernetes.io/name", .string(Self.appName)),
            ("app.kubernetes.io/instance", .string(tenant.name)),
            ("app.kubernetes.io/part-of", .string("jetbrains-ai")),
            ("app.kubernetes.io/version", .string(BuildInfo.version)),
            ("app.kubernetes.io/managed-by", .string("jetbrains-ai-supervisor")),
        ])
    }

    func metadata(_ name: String, labels: YAMLTree) -> YAMLTree {
        .compact([("name", .string(name)), ("namespace", options.namespace.map { .string($0) }), ("labels", labels)])
    }

    func probe(_ path: String, period: Int, failures: Int, timeout: Int) -> YAMLTree {
        .map([
            ("httpGet", .map([("path", .string(path)), ("port", .string("http"))])),
            ("periodSeconds", .int(period)), ("failureThreshold", .int(failures)), ("timeoutSeconds", .int(timeout)),
        ])
    }

    func stateVolume(_ volume: StateVolume) -> (String, YAMLTree) {
        switch volume {
        case .emptyDir: return ("emptyDir", .map([("sizeLimit", .string("64Mi"))]))
        case .claim(let claim): return ("persistentVolumeClaim", .map([("claimName", .string(claim))]))
        }
    }

    static func secretEnv(_ name: String, secret: String, key: String, optional: Bool) -> YAMLTree {
        .map([
            ("name", .string(name)),
            ("valueFrom", .map([("secretKeyRef", .compact([
                ("name", .string(secret)), ("key", .string(key)), ("optional", optional ? .bool(true) : nil),
            ]))])),
        ])
    }
}
