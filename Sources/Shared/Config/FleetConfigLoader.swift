import Foundation
import Yams

/// Reads and validates the fleet file (see `fleet-config.md`). Every problem is collected and
/// thrown together as a `ConfigError`; nothing is half-loaded.
public enum FleetConfigLoader {
    /// Reads the file at `path` and parses it. `${NAME}`s come from `environment`.
    public static func load(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> FleetConfig {
        if let size = fileSize(path), size > maxFileBytes {
            throw ConfigError(diagnostics: [
                ConfigDiagnostic(file: path, line: 1, column: 1, keyPath: "", message: "the fleet file is \(size) bytes; "
                    + "fleet files are limited to \(formatByteSize(maxFileBytes)) (\(maxFileBytes) bytes)")
            ])
        }
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
        return try parse(yaml: text, path: path, environment: environment, checkingFileSystem: true)
    }

    /// The largest fleet file read (16 MiB, about 150,000 tenants): a bigger one is refused before
    /// it is read, so a mistaken path (a log, a disk image) cannot tie up the supervisor.
    public static let maxFileBytes = 16 << 20

    private static func fileSize(_ path: String) -> Int? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              attributes[.type] as? FileAttributeType == .typeRegular,
              let size = attributes[.size] as? NSNumber else { return nil }
        return size.intValue
    }

    /// Parses `yaml` as if read from `path`: `path` names the file in diagnostics and relative
    /// paths in the file resolve against its folder.
    /// `checkingFileSystem` also checks what is at the paths the supervisor will create things at
    /// (a file where the control socket goes, a `log_dir` that cannot hold files).
    public static func parse(
        yaml: String, path: String, environment: [String: String], checkingFileSystem: Bool = false
    ) throws -> FleetConfig {
        let reader = FleetFileReader(file: path, environment: environment)
        reader.checksFileSystem = checkingFileSystem
        return try read(yaml, with: reader)
    }

    private static func read(_ yaml: String, with reader: FleetFileReader) throws -> FleetConfig {
        // A byte order mark is not part of the text (and editors do not count it as a column).
        let config = reader.read(yaml.hasPrefix("\u{FEFF}") ? String(yaml.unicodeScalars.dropFirst()) : yaml)
        if let config, reader.diagnostics.isEmpty { return config }
        throw ConfigError(diagnostics: reader.sortedDiagnostics)
    }

    /// Validates `yaml` without its secrets, for `render`: a `${NAME}` without a fallback that
    /// `environment` does not set reads as a placeholder, and secret files are not opened. The
    /// result's secret values may be placeholders; its names, ports and durations are real.
    public static func parseWithoutSecrets(
        yaml: String, path: String, environment: [String: String] = [:]
    ) throws -> FleetConfig {
        var environment = environment
        for reference in ConfigVariableReferences.scan(yaml) where !reference.hasFallback && environment[reference.name] == nil {
            environment[reference.name] = secretPlaceholder
        }
        let reader = FleetFileReader(file: path, environment: environment)
        reader.secretFilePlaceholder = secretPlaceholder
        return try read(yaml, with: reader)
    }

    /// What `parseWithoutSecrets` puts where a secret would be.
    /// (A URL, so it also passes where a URL is expected: `upstream`, `outbound_proxy`.)
    public static let secretPlaceholder = "http://jbai-render-placeholder:1"
}

/// The keys each level of the fleet file accepts.
enum FleetKeys {
    static let root = ["version", "supervisor", "defaults", "tenants"]
    static let supervisor = [
        "listen", "control_socket", "run_dir", "log_dir", "restart", "heartbeat_interval",
        "heartbeat_timeout", "shutdown_timeout", "worker_binary", "log_max_bytes", "log_backups",
        "state_dir", "metrics_key", "event_history",
    ] + connectionLimits
    /// A listener's client limits: tenant settings and `supervisor` (for its own port).
    static let connectionLimits = ["header_timeout", "idle_timeout", "body_timeout", "max_connections", "max_header_size"]
    static let restart = ["initial_backoff", "max_backoff", "max_restarts", "window"]
    static let tenantSettings = [
        "upstream", "api_version", "strategy", "health_check_interval", "max_attempts",
        "connect_timeout", "request_timeout", "max_body_size", "models", "grazie_agent",
        "keepalive_interval", "account_url", "outbound_proxy", "fetch_image_urls", "max_concurrent_requests",
        "log_format", "backlog_grace", "limits", "usage_retention", "usage_ledger",
    ] + connectionLimits
    static let tenant = ["listen", "api_keys", "api_keys_file", "tokens"] + tenantSettings + deployment
    /// Tenant keys only `render kubernetes` reads.
    static let deployment = ["replicas", "resources", "state_volume"]
    static let resources = ["requests", "limits"]
    static let token = [
        "name", "jwt", "jwt_file", "license_id", "authorization", "refresh_token", "refresh_token_file",
        "priority", "weight", "metadata", "description",
    ]
    /// An `api_keys` entry written as a mapping, and the limit fields it shares with `limits`.
    static let apiKey = ["name", "key", "key_file"] + usageLimits
    static let usageLimits = ["rpm", "max_concurrent", "daily_quota", "models"]
    /// A `models` entry written as a mapping.
    static let modelEntry = ["profile", "parameters"]
}
