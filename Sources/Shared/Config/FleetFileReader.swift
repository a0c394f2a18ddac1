// The validating reader behind `FleetConfigLoader`: walks the composed YAML tree, collects a
// diagnostic for every problem, and builds the resolved model. Sections live in extensions:
// FleetFileReader+Supervisor.swift, FleetFileReader+Tenants.swift, FleetFileReader+Tokens.swift.

import Foundation
import Yams

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
    var profileParameters: [String: [String]] = [:]
    var grazieAgent: String?
    var keepaliveInterval = TenantDefaults.keepaliveInterval
    var accountURL = TenantDefaults.accountURL
    var outboundProxy: String?
    var fetchImageURLs = false
    var backlogGrace = TenantDefaults.backlogGrace
    var limits = ConnectionLimits.publicListener
    var maxConcurrentRequests = TenantDefaults.maxConcurrentRequests
    var logFormat = LogFormat.text
    var usageLimits = UsageLimits()
    var usageRetention = TenantDefaults.usageRetention
    var usageLedger = true
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
        return shown.count > 48 ? "'\(escapingControlCharacters(fingerprint(shown)))'" : "'\(escapingControlCharacters(shown))'"
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
    /// When set, secret files (`jwt_file`, `api_keys_file`, ...) are not read: each reads as
    /// this text (for `render`, which must never need the secrets).
    var secretFilePlaceholder: String?
    /// The file's folder, absolute; relative paths resolve against it.
    let directory: String
    private(set) var diagnostics: [ConfigDiagnostic] = []
    /// The `supervisor:` section's entries, for the checks that run once every tenant is read.
    var supervisorFields: ConfigFields?
    /// Whether `checkPaths` looks at the file system too (see `FleetConfigLoader.parse`).
    var checksFileSystem = false
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
        escapingControlCharacters(key.count > 48 ? fingerprint(key) : key)
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
        // By port, so a file with tens of thousands of tenants is checked in linear time.
        var listeners: [Int: [(owner: String, address: ListenAddress)]] = [:]
        if supervisorListenIsValid { listeners[supervisor.listen.port, default: []].append(("supervisor.listen", supervisor.listen)) }
        if let item = top["tenants"] {
            let tenantFields = fields(of: item, allowedKeys: nil) { name, first in
                "duplicate tenant name '\(name)' (first defined at line \(first.line))"
            }
            for entry in tenantFields?.entries ?? [] {
                let (tenant, listen) = readTenant(
                    name: entry.key, entry.item, defaults: defaults, shutdownTimeout: supervisor.shutdownTimeout,
                    stateDir: supervisor.stateDir)
                guard !entry.isDuplicate else { continue }
                if let (address, listenItem) = listen {
                    if let other = listeners[address.port]?.first(where: { $0.address.conflicts(with: address) }) {
                        error(listenItem, "port \(address.port) is already used by \(other.owner)")
                    }
                    listeners[address.port, default: []].append(("tenants.\(entry.key)", address))
                }
                if let tenant { tenants.append(tenant) }
            }
        } else {
            missing("tenants", in: root)
        }

        checkPaths(supervisor, tenants: tenants, supervisorItem: top["supervisor"] ?? root)
        guard diagnostics.isEmpty else { return nil }
        return FleetConfig(
            version: version, supervisor: supervisor, tenants: tenants, path: ConfigPaths.absolute(file))
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
    func stringMap(_ item: ConfigItem, what: String, allowEmpty: Bool = false) -> [String: String]? {
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

    func bool(_ item: ConfigItem) -> Bool? {
        guard let text = text(item) else { return nil }
        switch text.value.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            error(item, "expected true or false, found \(text.display)")
            return nil
        }
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

    func duration(_ item: ConfigItem, positive: Bool = false, minimum: Duration? = nil) -> Duration? {
        guard let text = text(item) else { return nil }
        guard let value = parseDuration(text.value) else {
            error(item, "invalid duration \(text.display) (expected a number and a unit: 250ms, 30s, 5m, 1h)")
            return nil
        }
        if positive && value <= .zero {
            error(item, "must be longer than 0, found \(text.display)")
            return nil
        }
        if let minimum, value < minimum {
            error(item, "must be at least \(formatDuration(minimum)), found \(text.display)")
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
