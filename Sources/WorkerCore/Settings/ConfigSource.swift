import Foundation
import Shared

/// Where a worker's settings come from; read again on reload.
enum ConfigSource: Sendable {
    case seed(SeedOptions)
    case fleet(path: String, tenant: String)
    /// Started by the supervisor: the resolved tenant arrived as one JSON line on stdin.
    case supervised(SupervisedStart)

    func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> TenantConfig {
        switch self {
        case .seed(let options):
            let directory = FileManager.default.currentDirectoryPath
            let env = SeedSettings.environment(processEnvironment: environment, directory: directory)
            return try SeedSettings.resolve(options, environment: env, directory: directory, home: environment["HOME"]).0
        case .fleet(let path, let name):
            let fleet = try FleetConfigLoader.load(path: path, environment: environment)
            guard let tenant = fleet.tenant(named: name) else {
                let known = fleet.tenants.map(\.name).joined(separator: ", ")
                throw SettingsError(description: "\(path): no tenant named '\(escapingControlCharacters(name))' (tenants: \(known))")
            }
            return tenant
        case .supervised(let start):
            return start.tenant
        }
    }
}
