import Foundation
import Shared
import Yams

/// The fleet file one tenant's pod reads: the source file cut down to that tenant, with every
/// secret out of it. A `${NAME}` stays as written (the pod's environment provides it, from a
/// Secret the user creates); a secret written literally becomes `${JBAI_LITERAL_...}` and its
/// value goes into the rendered Secret; a secret file is mounted from the user's Secret and
/// its path rewritten. Pure: the source tree in, the text and what the pod needs out.
struct TenantFleetFile {
    /// A literal secret taken out of the file.
    struct Literal: Equatable {
        /// The environment variable (and Secret key) that now carries it.
        var variable: String
        var value: String
        /// Where it was, e.g. `tenants.team-a.tokens[0].jwt` (for the warning).
        var keyPath: String
    }

    /// A `${NAME}` the pod's environment must provide.
    struct Variable: Equatable {
        var name: String
        /// Every use has a fallback (`${NAME:-x}`): the pod starts without it.
        var optional: Bool
    }

    /// A secret file (`jwt_file`, ...) mounted from the user's Secret.
    struct SecretFile: Equatable {
        /// The key in the user's Secret (and the file's name in the mounted folder).
        var key: String
        /// The path the source file names, absolute (for the `kubectl create secret` hint).
        var sourcePath: String
        var keyPath: String
    }

    var yaml: String
    var literals: [Literal] = []
    var variables: [Variable] = []
    var files: [SecretFile] = []
    var problems: [String] = []

    /// Keys whose scalar values are secrets (at any depth; a list under them: every element).
    static let secretKeys: Set<String> = [
        "api_keys", "jwt", "license_id", "authorization", "refresh_token", "outbound_proxy", "metrics_key", "key",
    ]
    /// Keys whose values name a file holding secrets.
    static let secretFileKeys: Set<String> = ["jwt_file", "api_keys_file", "refresh_token_file", "key_file"]
    /// Tenant keys that mean nothing inside the pod.
    static let droppedTenantKeys: Set<String> = ["replicas", "resources", "state_volume"]

    /// Where the pod sees things.
    enum PodPaths {
        static let configDirectory = "/etc/jetbrains-ai/config"
        static let configFile = "/etc/jetbrains-ai/config/fleet.yaml"
        static let secretFiles = "/etc/jetbrains-ai/files"
        static let state = "/var/lib/jetbrains-ai"
        static let scratch = "/tmp/jetbrains-ai"
    }

    private enum Context { case plain, secret, secretFile }
    /// The source file's folder: relative secret-file paths resolve against it.
    private var directory = "/"

    init(input: RenderInput, tenant: TenantConfig) {
        yaml = ""
        directory = input.directory
        var top: [(String, YAMLTree)] = [("version", .int(input.config.version))]
        let supervisorOverrides: [(String, YAMLTree)] = [
            ("control_socket", .string("\(PodPaths.scratch)/supervisor.sock")),
            ("run_dir", .string(PodPaths.scratch)),
            ("log_dir", .string("-")),
            ("state_dir", .string(PodPaths.state)),
        ]
        var supervisor: [(String, YAMLTree)] = []
        for (key, value) in input.section("supervisor")?.mapping.map(Array.init) ?? [] {
            guard let name = key.string, name != "worker_binary",
                  !supervisorOverrides.contains(where: { $0.0 == name }) else { continue }
            supervisor.append((name, transform(value, path: "supervisor.\(name)", context: Self.context(for: name))))
        }
        top.append(("supervisor", .map(supervisor + supervisorOverrides)))
        if let defaults = input.section("defaults") {
            top.append(("defaults", transform(defaults, path: "defaults", context: .plain)))
        }
        var tenantEntries: [(String, YAMLTree)] = []
        let tenantPath = "tenants.\(tenant.name)"
        for (key, value) in input.tenantNode(tenant.name)?.mapping.map(Array.init) ?? [] {
            guard let name = key.string, !Self.droppedTenantKeys.contains(name) else { continue }
            if name == "listen" {
                // Inside the pod the tenant listens on every interface, on the file's port.
                tenantEntries.append((name, .string("0.0.0.0:\(tenant.listen.port)")))
                continue
            }
            tenantEntries.append((name, transform(value, path: "\(tenantPath).\(name)", context: Self.context(for: name))))
        }
        top.append(("tenants", .map([(tenant.name, .map(tenantEntries))])))
        do {
            yaml = try Yams.serialize(node: YAMLTree.map(top).node, width: -1)
        } catch {
            problems.append("tenants.\(tenant.name): cannot write its fleet file: \(error)")
        }
        collectVariables()
    }

    private static func context(for key: String) -> Context {
        if secretKeys.contains(key) { return .secret }
        if secretFileKeys.contains(key) { return .secretFile }
        return .plain
    }

    private mutating func transform(_ node: Node, path: String, context: Context) -> YAMLTree {
        switch node {
        case .mapping(let mapping):
            return .map(mapping.compactMap { key, value in
                guard let name = key.string else { return nil }
                return (name, transform(value, path: "\(path).\(name)", context: Self.context(for: name)))
            })
        case .sequence(let sequence):
            return .list(sequence.enumerated().map { index, value in
                transform(value, path: "\(path)[\(index)]", context: context)
            })
        case .scalar(let scalar):
            switch context {
            case .plain:
                return .node(node)
            case .secret:
                return secretScalar(scalar, node: node, path: path)
            case .secretFile:
                return secretFile(scalar, path: path)
            }
        case .alias:
            problems.append("\(path): YAML aliases are not supported by render")
            return .node(node)
        }
    }

    private mutating func secretScalar(_ scalar: Node.Scalar, node: Node, path: String) -> YAMLTree {
        let text = scalar.string.trimmingCharacters(in: .whitespacesAndNewlines)
        let isNull = (scalar.style == .plain || scalar.style == .any) && ["", "~", "null", "Null", "NULL"].contains(text)
        if isNull || text.isEmpty || text.contains("${") { return .node(node) }
        let variable = uniqueVariable(for: path)
        literals.append(Literal(variable: variable, value: text, keyPath: path))
        return .string("${\(variable)}")
    }

    private mutating func secretFile(_ scalar: Node.Scalar, path: String) -> YAMLTree {
        let written = scalar.string.trimmingCharacters(in: .whitespaces)
        if written.contains("${") {
            problems.append("\(path): a secret file path with ${...} cannot be rendered (write the path itself)")
            return .string(written)
        }
        let base = (written as NSString).lastPathComponent
        var key = String(base.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) ? $0 : "-" })
        if key.isEmpty || key == "." || key == ".." { key = "file" }
        let source = ConfigPaths.resolve(written, against: directory, home: ProcessInfo.processInfo.environment["HOME"])
        if let existing = files.first(where: { $0.sourcePath == source }) {
            return .string("\(PodPaths.secretFiles)/\(existing.key)")
        }
        var unique = key
        var n = 2
        while files.contains(where: { $0.key == unique }) {
            unique = "\(n)-\(key)"
            n += 1
        }
        files.append(SecretFile(key: unique, sourcePath: source, keyPath: path))
        return .string("\(PodPaths.secretFiles)/\(unique)")
    }

    /// `JBAI_LITERAL_` + the key path in capitals (`tenants.team-a.tokens[0].jwt` →
    /// `JBAI_LITERAL_TOKENS_0_JWT`), unique in this file.
    private func uniqueVariable(for path: String) -> String {
        var parts = path.split(separator: ".").map(String.init)
        if parts.first == "tenants", parts.count > 2 { parts.removeFirst(2) }
        let words = parts.joined(separator: "_").uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" }
        var name = "JBAI_LITERAL_" + String(words).split(separator: "_").joined(separator: "_")
        let base = name
        var n = 2
        while literals.contains(where: { $0.variable == name }) {
            name = "\(base)_\(n)"
            n += 1
        }
        return name
    }

    /// Every `${NAME}` in the written file that is not one of ours.
    private mutating func collectVariables() {
        let ours = Set(literals.map(\.variable))
        var order: [String] = []
        var optional: [String: Bool] = [:]
        for reference in ConfigVariableReferences.scan(yaml) where !ours.contains(reference.name) {
            if optional[reference.name] == nil { order.append(reference.name) }
            optional[reference.name] = (optional[reference.name] ?? true) && reference.hasFallback
        }
        variables = order.map { Variable(name: $0, optional: optional[$0] ?? false) }
    }
}
