import ArgumentParser
import Foundation
import Shared

/// `render kubernetes FILE` and `render systemd FILE`: what a cluster or a systemd host needs,
/// from the same fleet file `run` starts. Rendering never needs the secrets themselves.
struct Render: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render Kubernetes manifests or a systemd unit from a fleet file.",
        subcommands: [RenderKubernetes.self, RenderSystemd.self]
    )
}

struct RenderKubernetes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubernetes",
        abstract: "Print (or write to --output) a Deployment, Service, Secret and ConfigMap per tenant.",
        discussion: """
        Every ${NAME} in the file becomes an environment variable of the pod read from the Secret
        named by --secret-name, which you create (the renderer never reads the secrets):
          kubectl create secret generic jetbrains-ai-secrets --from-literal=NAME=value ... \\
            --from-file=KEY=path/to/secret-file
        The keys it needs are listed on stderr. Secrets written literally in the file go into the
        rendered per-tenant Secret instead, with a warning.
        """
    )

    @Argument(help: "The fleet YAML file.")
    var file: String

    @Option(help: "The container image (the repository's Dockerfile builds it).")
    var image: String = KubernetesRenderer.Options().image

    @Option(help: "Put every object in this namespace (and render the Namespace).")
    var namespace: String?

    @Option(help: "Write common.yaml and one TENANT.yaml per tenant into this folder instead of printing.")
    var output: String?

    @Option(help: "The Secret you create with the values of the file's ${NAME}s and secret files.")
    var secretName: String = KubernetesRenderer.Options().secretName

    @Flag(help: "Also render a Prometheus Operator ServiceMonitor per tenant (instead of relying on annotations).")
    var serviceMonitor = false

    func run() async throws {
        let input = try loadForRendering(file)
        var renderer = KubernetesRenderer()
        renderer.options.image = image
        renderer.options.namespace = namespace
        renderer.options.serviceMonitor = serviceMonitor
        renderer.options.secretName = secretName
        let result = renderer.render(input)
        for warning in result.warnings { warn("warning: \(warning)") }
        guard result.problems.isEmpty else {
            for problem in result.problems { warn("error: \(problem)") }
            throw ExitCode(1)
        }
        if !result.secretKeys.isEmpty {
            warn("Secret \(secretName) must hold (kubectl create secret generic \(secretName)"
                + (namespace.map { " -n \($0)" } ?? "") + " ...):")
            for key in result.secretKeys {
                let source = key.file.map { "--from-file=\(key.key)=\($0)" } ?? "--from-literal=\(key.key)=..."
                warn("  \(source)\(key.optional ? "   (optional: the file has a fallback)" : "")")
            }
        }
        if let output {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            for file in result.files {
                let path = (output as NSString).appendingPathComponent("\(file.name).yaml")
                try Data(try YAMLTree.emit(file.documents).utf8).write(to: URL(fileURLWithPath: path))
                warn("wrote \(path)")
            }
        } else {
            print(try YAMLTree.emit(result.files.flatMap(\.documents)), terminator: "")
        }
    }
}

struct RenderSystemd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "systemd",
        abstract: "Print a systemd unit (Type=notify, hardened) that runs the supervisor for FILE."
    )

    @Argument(help: "The fleet YAML file (the unit names its absolute path).")
    var file: String

    @Option(help: "Where jetbrains-ai-supervisor is installed.")
    var binaryDir: String = SystemdRenderer.Options().binaryDirectory

    @Option(help: "The user (and group) the supervisor runs as.")
    var user: String = SystemdRenderer.Options().user

    @Option(help: "The EnvironmentFile with the values of the file's ${NAME}s.")
    var environmentFile: String = SystemdRenderer.Options().environmentFile

    func run() async throws {
        let input = try loadForRendering(file)
        var renderer = SystemdRenderer()
        renderer.options.binaryDirectory = ConfigPaths.absolute(binaryDir)
        renderer.options.user = user
        renderer.options.environmentFile = environmentFile
        let result = renderer.render(input)
        for warning in result.warnings { warn("warning: \(warning)") }
        print(result.unit, terminator: "")
    }
}

/// The fleet file validated without its secrets; errors as `check` prints them.
func loadForRendering(_ path: String) throws -> RenderInput {
    do {
        return try RenderInput.load(path: path)
    } catch let error as ConfigError {
        warn(error.description)
        warn("\(path): \(error.diagnostics.count) error(s)")
        throw ExitCode(1)
    } catch {
        warn("\(error)")
        throw ExitCode(1)
    }
}

private func warn(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
