import Foundation
import Yams

/// Reads and validates the fleet file (see `fleet-config.md`). Every problem is collected and
/// thrown together as a `ConfigError`; nothing is half-loaded.
public enum FleetConfigLoader {
    /// Reads the file at `path` and parses it. `${NAME}`s come from `environment`.
    public static func load(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> FleetConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let reason = !exists ? "no such file" : isDirectory.boolValue ? "it is a folder" : "it cannot be read"
            throw ConfigError(diagnostics: [
                ConfigDiagnostic(file: path, line: 1, column: 1, keyPath: "", message: "cannot read the fleet file: \(reason)")
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(diagnostics: [
                ConfigDiagnostic(file: path, line: 1, column: 1, keyPath: "", message: "the fleet file is not valid UTF-8")
            ])
        }
        return try parse(yaml: text, path: path, environment: environment)
    }

    /// Parses `yaml` as if read from `path`: `path` names the file in diagnostics and relative
    /// paths in the file resolve against its folder.
    public static func parse(yaml: String, path: String, environment: [String: String]) throws -> FleetConfig {
        let reader = FleetFileReader(file: path, environment: environment)
        // A byte order mark is not part of the text (and editors do not count it as a column).
        let config = reader.read(yaml.hasPrefix("\u{FEFF}") ? String(yaml.unicodeScalars.dropFirst()) : yaml)
        if let config, reader.diagnostics.isEmpty { return config }
        throw ConfigError(diagnostics: reader.sortedDiagnostics)
    }
}

/// The keys each level of the fleet file accepts.
enum FleetKeys {
    static let root = ["version", "supervisor", "defaults", "tenants"]
    static let supervisor = [
        "listen", "control_socket", "run_dir", "log_dir", "restart", "heartbeat_interval",
        "heartbeat_timeout", "shutdown_timeout", "worker_binary", "log_max_bytes", "log_backups",
        "state_dir",
    ]
    static let restart = ["initial_backoff", "max_backoff", "max_restarts", "window"]
    static let tenantSettings = [
        "upstream", "api_version", "strategy", "health_check_interval", "max_attempts",
        "connect_timeout", "request_timeout", "max_body_size", "models", "grazie_agent",
        "keepalive_interval", "account_url", "outbound_proxy", "fetch_image_urls",
        "backlog_grace",
    ]
    static let tenant = ["listen", "api_keys", "api_keys_file", "tokens"] + tenantSettings
    static let token = [
        "name", "jwt", "jwt_file", "license_id", "authorization", "refresh_token", "refresh_token_file",
        "priority", "weight", "metadata", "description",
    ]
    /// A `models` entry written as a mapping.
    static let modelEntry = ["profile", "parameters"]
}
