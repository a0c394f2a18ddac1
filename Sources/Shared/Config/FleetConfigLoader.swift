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
        let config = reader.read(yaml)
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
    ]
    static let restart = ["initial_backoff", "max_backoff", "max_restarts", "window"]
    static let tenantSettings = [
        "upstream", "api_version", "strategy", "health_check_interval", "max_attempts",
        "connect_timeout", "request_timeout", "max_body_size", "models", "grazie_agent",
        "keepalive_interval",
    ]
    static let tenant = ["listen", "api_keys", "api_keys_file", "tokens"] + tenantSettings
    static let token = [
        "name", "jwt", "jwt_file", "license_id", "authorization", "priority", "weight", "metadata",
        "description",
    ]
}

/// The settings a tenant inherits from `defaults` and may override.
struct FleetTenantSettings {
    var upstream = TenantDefaults.upstream
    var apiVersion = TenantDefaults.apiVersion
    var strategy = TenantDefaults.strategy
    var healthCheckInterval = TenantDefaults.healthCheckInterval
    var maxAttempts = TenantDefaults.maxAttempts
    var connectTimeout = TenantDefaults.connectTimeout
    var requestTimeout = TenantDefaults.requestTimeout
    var maxBodySize = TenantDefaults.maxBodySize
    var models: [String: String] = [:]
    var grazieAgent: String?
    var keepaliveInterval = TenantDefaults.keepaliveInterval
}

/// A node of the file with its key path and position.
struct ConfigItem {
    var node: Node
    var path: String
    /// Where its key is (for a list element: where the element is).
    var keyPosition: ConfigPosition
    /// Where the value is.
    var position: ConfigPosition

    init(node: Node, path: String, keyPosition: ConfigPosition? = nil) {
        self.node = node
        self.path = path
        self.position = node.configPosition
        self.keyPosition = keyPosition ?? node.configPosition
    }

    var isNull: Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    var kindDescription: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar: return isNull ? "nothing" : "a single value"
        }
    }
}

/// The entries of a mapping, in file order.
struct ConfigFields {
    struct Entry {
        var key: String
        var item: ConfigItem
        /// A later repetition of a key already present (reported already).
        var isDuplicate: Bool
    }

    var entries: [Entry] = []
    private var index: [String: Int] = [:]

    mutating func append(_ entry: Entry) {
        if !entry.isDuplicate { index[entry.key] = entries.count }
        entries.append(entry)
    }

    /// The first entry for `key`; nil when absent or null (`key:`, `key: ~`).
    subscript(key: String) -> ConfigItem? {
        guard let position = index[key], !entries[position].item.isNull else { return nil }
        return entries[position].item
    }
}

/// A scalar after `${...}` substitution.
struct ConfigText {
    var value: String
    /// The scalar as written, before substitution.
    var raw: String
    var usedVariables: Bool

    /// How to quote it in a message: the value, or the raw text when it came from variables
    /// (a variable's value is never shown); long values are shortened.
    var display: String {
        let shown = usedVariables ? raw : value
        return shown.count > 48 ? "'\(fingerprint(shown))'" : "'\(shown)'"
    }
}

extension Node {
    fileprivate var configPosition: ConfigPosition {
        mark.map { ConfigPosition(line: $0.line, column: $0.column) } ?? .start
    }
}

/// One pass over one file; collects diagnostics.
final class FleetFileReader {
    let file: String
    let environment: [String: String]
    /// The file's folder, absolute; relative paths resolve against it.
    let directory: String
    private(set) var diagnostics: [ConfigDiagnostic] = []
    private var document = FleetComposedYAML()

    init(file: String, environment: [String: String]) {
        self.file = file
        self.environment = environment
        self.directory = ConfigPaths.directory(of: file)
    }

    var sortedDiagnostics: [ConfigDiagnostic] {
        diagnostics.enumerated()
            .sorted { ($0.element.line, $0.element.column, $0.offset) < ($1.element.line, $1.element.column, $1.offset) }
            .map(\.element)
    }

    // MARK: - Reporting

    func error(_ path: String, at position: ConfigPosition, _ message: String) {
        diagnostics.append(ConfigDiagnostic(
            file: file, line: position.line, column: position.column, keyPath: path, message: message))
    }

    func error(_ item: ConfigItem, _ message: String) {
        error(item.path, at: item.position, message)
    }

    func missing(_ key: String, in item: ConfigItem) {
        error(item.path, at: item.keyPosition, "missing required key '\(key)'")
    }

    static func child(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// A key as shown in messages (very long keys are likely pasted secrets: fingerprinted).
    static func displayKey(_ key: String) -> String {
        key.count > 48 ? fingerprint(key) : key
    }

    // MARK: - The file

    func read(_ yaml: String) -> FleetConfig? {
        switch FleetYAMLDocument.compose(yaml) {
        case .failure(let problem):
            error("", at: problem.position, problem.message)
            return nil
        case .success(let composed):
            document = composed
        }
        guard let rootNode = document.root else {
            error("", at: .start, "the file is empty (expected 'version', 'supervisor', 'defaults' and 'tenants')")
            return nil
        }
        let root = ConfigItem(node: rootNode, path: "")
        guard let top = fields(of: root, allowedKeys: FleetKeys.root) else { return nil }

        var version = 1
        if let item = top["version"] {
            if let number = int(item) {
                version = number
                if number != 1 { error(item, "unsupported version \(number) (this program reads version 1)") }
            }
        } else {
            missing("version", in: root)
        }

        let (supervisor, supervisorListenIsValid) = readSupervisor(top["supervisor"])

        var defaults = FleetTenantSettings()
        if let item = top["defaults"], let settings = fields(of: item, allowedKeys: FleetKeys.tenantSettings) {
            apply(settings, to: &defaults)
        }

        var tenants: [TenantConfig] = []
        var listeners: [(owner: String, address: ListenAddress)] = []
        if supervisorListenIsValid { listeners.append(("supervisor.listen", supervisor.listen)) }
        if let item = top["tenants"] {
            let tenantFields = fields(of: item, allowedKeys: nil) { name, first in
                "duplicate tenant name '\(name)' (first defined at line \(first.line))"
            }
            for entry in tenantFields?.entries ?? [] {
                let (tenant, listen) = readTenant(
                    name: entry.key, entry.item, defaults: defaults, shutdownTimeout: supervisor.shutdownTimeout)
                guard !entry.isDuplicate else { continue }
                if let (address, listenItem) = listen {
                    if let other = listeners.first(where: { $0.address.conflicts(with: address) }) {
                        error(listenItem, "port \(address.port) is already used by \(other.owner)")
                    }
                    listeners.append(("tenants.\(entry.key)", address))
                }
                if let tenant { tenants.append(tenant) }
            }
        } else {
            missing("tenants", in: root)
        }

        guard diagnostics.isEmpty else { return nil }
        return FleetConfig(
            version: version, supervisor: supervisor, tenants: tenants, path: ConfigPaths.absolute(file))
    }

    // MARK: - supervisor

    private func readSupervisor(_ item: ConfigItem?) -> (SupervisorSettings, listenIsValid: Bool) {
        var settings = SupervisorSettings(defaultsRelativeTo: directory)
        var listenIsValid = true
        guard let item, let f = fields(of: item, allowedKeys: FleetKeys.supervisor) else {
            return (settings, listenIsValid)
        }
        if let i = f["listen"] {
            if let address = listen(i) { settings.listen = address } else { listenIsValid = false }
        }
        if let i = f["control_socket"], let (path, display) = path(i) {
            settings.controlSocket = path
            let limit = Self.maxSocketPathBytes
            if path.utf8.count > limit {
                error(i, "the socket path \(display) is \(path.utf8.count) bytes long once resolved; "
                    + "Unix socket paths are limited to \(limit) bytes")
            }
        }
        if let i = f["run_dir"], let (path, _) = path(i) { settings.runDir = path }
        if let i = f["log_dir"], let text = text(i) {
            if text.value == "-" {
                settings.logDir = nil
            } else if let (path, _) = path(i, text: text) {
                settings.logDir = path
            }
        }
        if let i = f["restart"], let r = fields(of: i, allowedKeys: FleetKeys.restart) {
            var backoffsValid = true
            if let i = r["initial_backoff"] {
                if let v = duration(i) { settings.restart.initialBackoff = v } else { backoffsValid = false }
            }
            if let i = r["max_backoff"] {
                if let v = duration(i) { settings.restart.maxBackoff = v } else { backoffsValid = false }
            }
            if let v = r["max_restarts"].flatMap({ int($0, minimum: 0) }) { settings.restart.maxRestarts = v }
            if let v = r["window"].flatMap({ duration($0, positive: true) }) { settings.restart.window = v }
            if backoffsValid, settings.restart.initialBackoff > settings.restart.maxBackoff,
               let culprit = r["initial_backoff"] ?? r["max_backoff"] {
                error(culprit, "initial_backoff (\(formatDuration(settings.restart.initialBackoff))) "
                    + "is longer than max_backoff (\(formatDuration(settings.restart.maxBackoff)))")
            }
        }
        var heartbeatValid = true
        if let i = f["heartbeat_interval"] {
            if let v = duration(i, positive: true) { settings.heartbeatInterval = v } else { heartbeatValid = false }
        }
        if let i = f["heartbeat_timeout"] {
            if let v = duration(i, positive: true) { settings.heartbeatTimeout = v } else { heartbeatValid = false }
        }
        if heartbeatValid, settings.heartbeatTimeout <= settings.heartbeatInterval,
           let culprit = f["heartbeat_timeout"] ?? f["heartbeat_interval"] {
            error(culprit, "heartbeat_timeout (\(formatDuration(settings.heartbeatTimeout))) must be longer "
                + "than heartbeat_interval (\(formatDuration(settings.heartbeatInterval)))")
        }
        if let v = f["shutdown_timeout"].flatMap({ duration($0) }) { settings.shutdownTimeout = v }
        if let i = f["worker_binary"], let (path, _) = path(i) { settings.workerBinary = path }
        if let v = f["log_max_bytes"].flatMap({ size($0) }) { settings.logMaxBytes = v }
        if let v = f["log_backups"].flatMap({ int($0, minimum: 0) }) { settings.logBackups = v }
        return (settings, listenIsValid)
    }

    #if os(Linux)
    static let maxSocketPathBytes = 107  // sun_path is 108 bytes, NUL included
    #else
    static let maxSocketPathBytes = 103  // sun_path is 104 bytes, NUL included
    #endif

    // MARK: - defaults and tenant settings

    private func apply(_ f: ConfigFields, to s: inout FleetTenantSettings) {
        if let v = f["upstream"].flatMap({ url($0) }) { s.upstream = v }
        if let v = f["api_version"].flatMap({ choice($0, APIVersion.self, what: "api_version") }) { s.apiVersion = v }
        if let v = f["strategy"].flatMap({ choice($0, BalanceStrategy.self, what: "strategy") }) { s.strategy = v }
        if let v = f["health_check_interval"].flatMap({ duration($0) }) { s.healthCheckInterval = v }
        if let v = f["max_attempts"].flatMap({ int($0, minimum: 1) }) { s.maxAttempts = v }
        if let v = f["connect_timeout"].flatMap({ duration($0, positive: true) }) { s.connectTimeout = v }
        if let v = f["request_timeout"].flatMap({ duration($0, positive: true) }) { s.requestTimeout = v }
        if let v = f["max_body_size"].flatMap({ size($0) }) { s.maxBodySize = v }
        if let i = f["models"], let models = stringMap(i, what: "model profile") {
            s.models.merge(models) { _, override in override }
        }
        if let i = f["grazie_agent"], let text = text(i) {
            if text.value.isEmpty {
                error(i, "grazie_agent is empty (leave the key out to use the built-in agent)")
            } else if text.value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                error(i, "grazie_agent contains control characters (it is sent as an HTTP header)")
            } else {
                s.grazieAgent = text.value
            }
        }
        if let v = f["keepalive_interval"].flatMap({ duration($0) }) { s.keepaliveInterval = v }
    }

    // MARK: - tenants

    private func readTenant(
        name: String, _ item: ConfigItem, defaults: FleetTenantSettings, shutdownTimeout: Duration
    ) -> (TenantConfig?, listen: (ListenAddress, ConfigItem)?) {
        var valid = Self.isValidTenantName(name)
        if !valid {
            error(item.path, at: item.keyPosition,
                  "invalid tenant name '\(Self.displayKey(name))' (expected [a-z0-9][a-z0-9-]{0,31}: "
                    + "lowercase letters, digits and '-', at most 32 characters)")
        }
        guard let f = fields(of: item, allowedKeys: FleetKeys.tenant) else { return (nil, nil) }
        let errorsBefore = diagnostics.count

        var listenAddress: (ListenAddress, ConfigItem)?
        if let i = f["listen"] {
            if let address = listen(i) { listenAddress = (address, i) }
        } else {
            missing("listen", in: item)
        }

        let apiKeys = readAPIKeys(f, tenant: item)

        var tokens: [TokenConfig] = []
        if let i = f["tokens"] {
            tokens = readTokens(i)
        } else {
            missing("tokens", in: item)
        }

        var settings = defaults
        apply(f, to: &settings)

        valid = valid && diagnostics.count == errorsBefore
        guard valid, let (address, _) = listenAddress, let apiKeys else { return (nil, listenAddress) }
        let tenant = TenantConfig(
            name: name, listen: address, apiKeys: apiKeys, tokens: tokens,
            upstream: settings.upstream, apiVersion: settings.apiVersion, strategy: settings.strategy,
            healthCheckInterval: settings.healthCheckInterval, maxAttempts: settings.maxAttempts,
            connectTimeout: settings.connectTimeout, requestTimeout: settings.requestTimeout,
            maxBodySize: settings.maxBodySize, models: settings.models, grazieAgent: settings.grazieAgent,
            keepaliveInterval: settings.keepaliveInterval, shutdownTimeout: shutdownTimeout)
        return (tenant, listenAddress)
    }

    /// `[a-z0-9][a-z0-9-]{0,31}`
    static func isValidTenantName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 32 else { return false }
        func isLowerAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        return isLowerAlnum(first) && bytes.allSatisfy { isLowerAlnum($0) || $0 == 0x2D }
    }

    private func readAPIKeys(_ f: ConfigFields, tenant: ConfigItem) -> [String]? {
        let inline = f["api_keys"]
        let file = f["api_keys_file"]
        if inline == nil && file == nil {
            error(tenant.path, at: tenant.keyPosition, "missing 'api_keys' or 'api_keys_file' (the keys clients send)")
            return nil
        }
        if let inline, let file {
            let later = inline.keyPosition.line > file.keyPosition.line ? ("api_keys", inline) : ("api_keys_file", file)
            error(later.1.path, at: later.1.keyPosition,
                  "'api_keys' and 'api_keys_file' cannot both be set (use one of them)")
        }
        let fromList = inline.flatMap { readInlineAPIKeys($0) }
        let fromFile = file.flatMap { readAPIKeysFile($0) }
        if inline != nil && file != nil { return nil }
        return fromList ?? fromFile
    }

    private func readInlineAPIKeys(_ item: ConfigItem) -> [String]? {
        guard case .sequence(let sequence) = item.node else {
            error(item, "expected a list of API keys, found \(item.kindDescription)")
            return nil
        }
        guard !sequence.isEmpty else {
            error(item, "api_keys is empty (a tenant needs at least one key)")
            return nil
        }
        var keys: [String] = []
        var valid = true
        for (index, node) in sequence.enumerated() {
            let element = ConfigItem(node: node, path: "\(item.path)[\(index)]")
            guard let text = text(element) else { valid = false; continue }
            let key = text.value.trimmingCharacters(in: .whitespacesAndNewlines)
            if let problem = Self.secretProblem(key, what: "API key") {
                error(element, problem)
                valid = false
            } else {
                keys.append(key)
            }
        }
        return valid ? keys : nil
    }

    private func readAPIKeysFile(_ item: ConfigItem) -> [String]? {
        guard let (path, display) = path(item), let contents = readFile(item, path: path, display: display, what: "api_keys_file")
        else { return nil }
        var keys: [String] = []
        var valid = true
        for (number, rawLine) in contents.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if let problem = Self.secretProblem(line, what: "the key") {
                error(item, "line \(number + 1) of api_keys_file \(display): \(problem)")
                valid = false
            } else {
                keys.append(line)
            }
        }
        if valid && keys.isEmpty {
            error(item, "api_keys_file \(display) has no keys (one key per line; blank lines and # comments are skipped)")
            return nil
        }
        return valid ? keys : nil
    }

    /// Why a secret value is unusable, without quoting it.
    static func secretProblem(_ secret: String, what: String) -> String? {
        if secret.isEmpty { return "\(what) is empty" }
        if secret.unicodeScalars.contains(where: {
            $0.properties.isWhitespace || $0.properties.generalCategory == .control
        }) {
            return "\(what) contains whitespace or control characters"
        }
        return nil
    }

    // MARK: - tokens

    private func readTokens(_ item: ConfigItem) -> [TokenConfig] {
        guard case .sequence(let sequence) = item.node else {
            error(item, "expected a list of tokens, found \(item.kindDescription)")
            return []
        }
        if sequence.isEmpty {
            error(item, "tokens is empty (a tenant needs at least one token)")
        }
        var tokens: [TokenConfig] = []
        var names: [String: ConfigPosition] = [:]
        for (index, node) in sequence.enumerated() {
            let element = ConfigItem(node: node, path: "\(item.path)[\(index)]")
            if let token = readToken(element, names: &names) { tokens.append(token) }
        }
        return tokens
    }

    private func readToken(_ item: ConfigItem, names: inout [String: ConfigPosition]) -> TokenConfig? {
        guard let f = fields(of: item, allowedKeys: FleetKeys.token) else { return nil }
        let errorsBefore = diagnostics.count

        var name: String?
        if let i = f["name"], let text = text(i) {
            let value = text.value.trimmingCharacters(in: .whitespaces)
            if value.isEmpty {
                error(i, "token name is empty")
            } else if let first = names[value] {
                error(i, "duplicate token name '\(value)' (first defined at line \(first.line))")
            } else {
                names[value] = i.position
                name = value
            }
        } else if f["name"] == nil {
            missing("name", in: item)
        }

        let source = readTokenSource(f, token: item)

        var priority = 1
        if let v = f["priority"].flatMap({ int($0) }) { priority = v }
        var weight = 1
        if let v = f["weight"].flatMap({ int($0, minimum: 1) }) { weight = v }
        var metadata: [String: String] = [:]
        if let i = f["metadata"], let map = stringMap(i, what: "metadata value", allowEmpty: true) { metadata = map }
        var description: String?
        if let i = f["description"], let text = text(i) { description = text.value }

        guard diagnostics.count == errorsBefore, let name, let source else { return nil }
        return TokenConfig(
            name: name, source: source, priority: priority, weight: weight, metadata: metadata,
            description: description)
    }

    private static let tokenSourceRule = "a token has exactly one of 'jwt', 'jwt_file', or 'license_id' + 'authorization'"

    private func readTokenSource(_ f: ConfigFields, token: ConfigItem) -> TokenSource? {
        let license = [f["license_id"].map { ("license_id", $0) }, f["authorization"].map { ("authorization", $0) }]
            .compactMap { $0 }
            .min { $0.1.keyPosition.line < $1.1.keyPosition.line }
        let kinds: [(key: String, item: ConfigItem)] = [
            f["jwt"].map { ("jwt", $0) }, f["jwt_file"].map { ("jwt_file", $0) }, license,
        ]
        .compactMap { $0 }
        .sorted { ($0.1.keyPosition.line, $0.1.keyPosition.column) < ($1.1.keyPosition.line, $1.1.keyPosition.column) }

        guard let chosen = kinds.first else {
            error(token.path, at: token.keyPosition, "missing the credential: \(Self.tokenSourceRule)")
            return nil
        }
        for extra in kinds.dropFirst() {
            error(extra.item.path, at: extra.item.keyPosition,
                  "'\(extra.key)' cannot be combined with '\(chosen.key)' (\(Self.tokenSourceRule))")
        }

        var sources: [TokenSource?] = []
        if let i = f["jwt"] {
            sources.append(readSecret(i, what: "jwt").map { .jwt($0) })
        }
        if let i = f["jwt_file"] {
            sources.append(readJWTFile(i).map { .jwt($0) })
        }
        let id = f["license_id"]
        let authorization = f["authorization"]
        if let id, authorization == nil {
            error(id.path, at: id.keyPosition, "'license_id' needs 'authorization' too")
        } else if let authorization, id == nil {
            error(authorization.path, at: authorization.keyPosition, "'authorization' needs 'license_id' too")
        }
        if id != nil || authorization != nil {
            let idValue = id.flatMap { readSecret($0, what: "license_id") }
            let authorizationValue = authorization.flatMap { readSecret($0, what: "authorization") }
            if let idValue, let authorizationValue {
                sources.append(.license(id: idValue, authorization: authorizationValue))
            } else {
                sources.append(nil)
            }
        }
        guard kinds.count == 1, sources.count == 1 else { return nil }
        return sources[0]
    }

    /// A secret scalar, trimmed; reported (never quoted) when empty or malformed.
    private func readSecret(_ item: ConfigItem, what: String) -> String? {
        guard let text = text(item) else { return nil }
        let value = text.value.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = Self.secretProblem(value, what: what) {
            error(item, problem)
            return nil
        }
        return value
    }

    private func readJWTFile(_ item: ConfigItem) -> String? {
        guard let (path, display) = path(item),
              let contents = readFile(item, path: path, display: display, what: "jwt_file") else { return nil }
        let jwt = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        if jwt.isEmpty {
            error(item, "jwt_file \(display) is empty")
            return nil
        }
        if let problem = Self.secretProblem(jwt, what: "the JWT in jwt_file \(display)") {
            error(item, problem)
            return nil
        }
        return jwt
    }

    private func readFile(_ item: ConfigItem, path: String, display: String, what: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            error(item, "\(what) \(display) does not exist")
            return nil
        }
        if isDirectory.boolValue {
            error(item, "\(what) \(display) is a folder, not a file")
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            error(item, "\(what) \(display) cannot be read")
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            error(item, "\(what) \(display) is not UTF-8 text")
            return nil
        }
        return text
    }

    // MARK: - Mappings

    /// The entries of a mapping node. Reports a non-mapping, non-string keys, unknown keys
    /// (when `allowedKeys` is given) and repeated keys.
    func fields(
        of item: ConfigItem, allowedKeys: [String]?,
        duplicateMessage: ((String, ConfigPosition) -> String)? = nil
    ) -> ConfigFields? {
        guard case .mapping(let mapping) = item.node else {
            error(item, "expected a mapping, found \(item.kindDescription)")
            return nil
        }
        var result = ConfigFields()
        var firstPositions: [String: ConfigPosition] = [:]
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                error(item.path, at: keyNode.configPosition, "keys must be plain strings, found \(ConfigItem(node: keyNode, path: "").kindDescription)")
                continue
            }
            let key = document.keyString(scalar.string)
            let keyPosition = keyNode.configPosition
            let path = Self.child(item.path, key)
            let child = ConfigItem(node: valueNode, path: path, keyPosition: keyPosition)
            if let allowedKeys, !allowedKeys.contains(key) {
                var message = "unknown key '\(Self.displayKey(key))'"
                if key == "<<" {
                    message += " (YAML merge keys are not supported)"
                } else if let suggestion = Self.closest(to: key, among: allowedKeys) {
                    message += " (did you mean '\(suggestion)'?)"
                }
                error(path, at: keyPosition, message)
                continue
            }
            if let first = firstPositions[key] {
                let message = duplicateMessage?(key, first)
                    ?? "duplicate key '\(Self.displayKey(key))' (first defined at line \(first.line))"
                error(path, at: keyPosition, message)
                result.append(.init(key: key, item: child, isDuplicate: true))
                continue
            }
            firstPositions[key] = keyPosition
            result.append(.init(key: key, item: child, isDuplicate: false))
        }
        return result
    }

    /// A mapping of strings to strings (`models`, `metadata`).
    private func stringMap(_ item: ConfigItem, what: String, allowEmpty: Bool = false) -> [String: String]? {
        guard let f = fields(of: item, allowedKeys: nil) else { return nil }
        var map: [String: String] = [:]
        var valid = true
        for entry in f.entries where !entry.isDuplicate {
            if entry.key.isEmpty {
                error(entry.item.path, at: entry.item.keyPosition, "empty key")
                valid = false
                continue
            }
            if entry.item.isNull && allowEmpty {
                map[entry.key] = ""
                continue
            }
            guard let text = text(entry.item) else { valid = false; continue }
            if text.value.isEmpty && !allowEmpty {
                error(entry.item, "\(what) is empty")
                valid = false
                continue
            }
            map[entry.key] = text.value
        }
        return valid ? map : nil
    }

    /// The closest known key, if it is close enough to be a likely typo.
    static func closest(to key: String, among candidates: [String]) -> String? {
        let lowered = key.lowercased()
        let scored = candidates.map { ($0, editDistance(lowered, $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        let limit = max(2, key.count / 3)
        return best.1 <= limit && best.1 < key.count ? best.0 : nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous2 = Array(repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = Array(repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], previous2[j - 2] + 1)
                }
            }
            previous2 = previous
            previous = current
        }
        return previous[b.count]
    }

    // MARK: - Scalars

    /// A scalar's text with `${...}` substituted; reports non-scalars and variable problems.
    func text(_ item: ConfigItem) -> ConfigText? {
        guard case .scalar(let scalar) = item.node else {
            error(item, "expected a single value, found \(item.kindDescription)")
            return nil
        }
        let outcome = ConfigVariableSubstitution.apply(to: scalar.string, environment: environment)
        for message in outcome.errors { error(item, message) }
        guard outcome.errors.isEmpty else { return nil }
        return ConfigText(value: outcome.value, raw: scalar.string, usedVariables: outcome.usedVariables)
    }

    func int(_ item: ConfigItem, minimum: Int? = nil) -> Int? {
        guard let text = text(item) else { return nil }
        guard let value = Int(text.value.trimmingCharacters(in: .whitespaces)) else {
            error(item, "expected a whole number, found \(text.display)")
            return nil
        }
        if let minimum, value < minimum {
            error(item, "must be at least \(minimum), found \(text.display)")
            return nil
        }
        return value
    }

    func duration(_ item: ConfigItem, positive: Bool = false) -> Duration? {
        guard let text = text(item) else { return nil }
        guard let value = parseDuration(text.value) else {
            error(item, "invalid duration \(text.display) (expected a number and a unit: 250ms, 30s, 5m, 1h)")
            return nil
        }
        if positive && value <= .zero {
            error(item, "must be longer than 0, found \(text.display)")
            return nil
        }
        return value
    }

    func size(_ item: ConfigItem) -> Int? {
        guard let text = text(item) else { return nil }
        guard let value = parseByteSize(text.value) else {
            error(item, "invalid size \(text.display) (expected e.g. 512KiB, 10MiB, 1GiB, 10MB or a number of bytes)")
            return nil
        }
        if value <= 0 {
            error(item, "must be more than 0 bytes, found \(text.display)")
            return nil
        }
        return value
    }

    func listen(_ item: ConfigItem) -> ListenAddress? {
        guard let text = text(item) else { return nil }
        guard let address = ListenAddress(parsing: text.value.trimmingCharacters(in: .whitespaces)) else {
            error(item, "invalid listen address \(text.display) (expected HOST:PORT, :PORT or [IPv6]:PORT, port 0-65535)")
            return nil
        }
        return address
    }

    func choice<T: RawRepresentable & CaseIterable>(_ item: ConfigItem, _ type: T.Type, what: String) -> T?
    where T.RawValue == String {
        guard let text = text(item) else { return nil }
        if let value = T(rawValue: text.value.trimmingCharacters(in: .whitespaces)) { return value }
        let options = T.allCases.map(\.rawValue)
        var message = "invalid \(what) \(text.display) (expected \(options.joined(separator: " | ")))"
        if let suggestion = Self.closest(to: text.value, among: options) {
            message += "; did you mean '\(suggestion)'?"
        }
        error(item, message)
        return nil
    }

    func url(_ item: ConfigItem) -> String? {
        guard let text = text(item) else { return nil }
        var value = text.value.trimmingCharacters(in: .whitespaces)
        while value.hasSuffix("/") { value.removeLast() }
        guard let components = URLComponents(string: value),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty,
              components.query == nil, components.fragment == nil else {
            error(item, "invalid URL \(text.display) (expected http:// or https://, a host and an optional path)")
            return nil
        }
        return value
    }

    /// An absolute path (relative ones resolve against the file's folder) and how to show it.
    func path(_ item: ConfigItem, text given: ConfigText? = nil) -> (String, display: String)? {
        guard let text = given ?? text(item) else { return nil }
        guard !text.value.isEmpty else {
            error(item, "the path is empty")
            return nil
        }
        let resolved = ConfigPaths.resolve(text.value, against: directory, home: environment["HOME"])
        return (resolved, text.usedVariables ? "'\(text.raw)'" : "'\(resolved)'")
    }
}
