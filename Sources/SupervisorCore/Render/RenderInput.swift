import Foundation
import Shared
import Yams

/// The fleet file as `render` reads it: validated without its secrets (see
/// `FleetConfigLoader.parseWithoutSecrets`), plus its composed YAML tree, which keeps every
/// `${NAME}` as written.
struct RenderInput {
    /// Secret values in it are placeholders; names, ports, durations and paths are real.
    var config: FleetConfig
    var root: Node
    /// The file's folder, absolute.
    var directory: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RenderInput {
        guard let data = FileManager.default.contents(atPath: path), var text = String(data: data, encoding: .utf8) else {
            throw Failure(description: "\(path): cannot read the fleet file")
        }
        if text.hasPrefix("\u{FEFF}") { text = String(text.unicodeScalars.dropFirst()) }
        return try parse(yaml: text, path: path, environment: environment)
    }

    /// `environment` only helps validation (a `${PORT}` in a listen address, `~` in paths);
    /// nothing rendered comes from it except the port numbers.
    static func parse(yaml: String, path: String, environment: [String: String] = [:]) throws -> RenderInput {
        let config = try FleetConfigLoader.parseWithoutSecrets(yaml: yaml, path: path, environment: environment)
        guard let root = try Yams.compose(yaml: yaml) else { throw Failure(description: "\(path): the file is empty") }
        return RenderInput(config: config, root: root, directory: ConfigPaths.directory(of: ConfigPaths.absolute(path)))
    }

    /// A top-level section (`supervisor`, `defaults`) or nil.
    func section(_ key: String) -> Node? { root.mapping?[key] }

    func tenantNode(_ name: String) -> Node? { root.mapping?["tenants"]?.mapping?[name] }

    /// Every `${NAME}` written anywhere in the file's values.
    var variableNames: [String] {
        var names: [String] = []
        func walk(_ node: Node) {
            switch node {
            case .scalar(let scalar):
                for reference in ConfigVariableReferences.scan(scalar.string) where !names.contains(reference.name) {
                    names.append(reference.name)
                }
            case .mapping(let mapping): for (_, value) in mapping { walk(value) }
            case .sequence(let sequence): for value in sequence { walk(value) }
            case .alias: break
            }
        }
        walk(root)
        return names
    }
}
