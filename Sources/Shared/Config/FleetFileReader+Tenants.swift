import Foundation

extension FleetFileReader {
    // MARK: - defaults and tenant settings

    func apply(_ f: ConfigFields, to s: inout FleetTenantSettings) {
        if let v = f["upstream"].flatMap({ url($0) }) { s.upstream = v }
        if let v = f["api_version"].flatMap({ choice($0, APIVersion.self, what: "api_version") }) { s.apiVersion = v }
        if let v = f["strategy"].flatMap({ choice($0, BalanceStrategy.self, what: "strategy") }) { s.strategy = v }
        if let v = f["health_check_interval"].flatMap({ duration($0, positive: true, minimum: Self.minimumHealthCheckInterval) }) { s.healthCheckInterval = v }
        if let v = f["max_attempts"].flatMap({ int($0, minimum: 1) }) { s.maxAttempts = v }
        if let v = f["connect_timeout"].flatMap({ duration($0, positive: true) }) { s.connectTimeout = v }
        if let v = f["request_timeout"].flatMap({ duration($0, positive: true) }) { s.requestTimeout = v }
        if let v = f["max_body_size"].flatMap({ size($0) }) { s.maxBodySize = v }
        if let i = f["models"], let (aliases, parameters) = readModels(i) {
            s.models.merge(aliases) { _, override in override }
            s.profileParameters.merge(parameters) { _, override in override }
        }
        if let i = f["grazie_agent"], let agent = readGrazieAgent(i) { s.grazieAgent = agent }
        if let v = f["keepalive_interval"].flatMap({ duration($0, positive: true, minimum: Self.minimumKeepaliveInterval) }) { s.keepaliveInterval = v }
        if let v = f["account_url"].flatMap({ url($0) }) { s.accountURL = v }
        if let v = f["fetch_image_urls"].flatMap({ bool($0) }) { s.fetchImageURLs = v }
        if let v = f["backlog_grace"].flatMap({ duration($0) }) { s.backlogGrace = v }
        if let v = f["max_concurrent_requests"].flatMap({ int($0, minimum: 1) }) { s.maxConcurrentRequests = v }
        applyLimits(f, to: &s.limits)
        applyUsageSettings(f, to: &s)
        if let v = f["log_format"].flatMap({ choice($0, LogFormat.self, what: "log_format") }) { s.logFormat = v }
        if let i = f["outbound_proxy"], let text = text(i) {
            // Empty: no proxy (a tenant's way to override one in `defaults`).
            if text.value.trimmingCharacters(in: .whitespaces).isEmpty {
                s.outboundProxy = nil
            } else if let v = readOutboundProxy(i, text: text) {
                s.outboundProxy = v
            }
        }
    }

    /// The connection-limit keys, shared by tenant settings and the `supervisor` section.
    func applyLimits(_ f: ConfigFields, to limits: inout ConnectionLimits) {
        // Below these a well-formed client on a slow link would be cut off.
        if let v = f["header_timeout"].flatMap({ duration($0, minimum: .milliseconds(100)) }) { limits.headerTimeout = v }
        if let v = f["idle_timeout"].flatMap({ duration($0, minimum: .milliseconds(100)) }) { limits.idleTimeout = v }
        if let v = f["body_timeout"].flatMap({ duration($0, minimum: .milliseconds(100)) }) { limits.bodyTimeout = v }
        if let v = f["max_connections"].flatMap({ int($0, minimum: 1) }) { limits.maxConnections = v }
        if let i = f["max_header_size"], let v = size(i) {
            if v < 1024 {
                error(i, "must be at least 1KiB (a request line and a few headers), found \(v) bytes")
            } else {
                limits.maxHeaderSize = v
            }
        }
    }

    static let grazieAgentExample = #"'{"name":"aia:pycharm","version":"251.26094.80.13"}'"#

    /// `grazie_agent`: JSON text of an object with `name` and `version` strings (sent verbatim
    /// as the `grazie-agent` header).
    func readGrazieAgent(_ item: ConfigItem) -> String? {
        if case .mapping = item.node {
            error(item, "grazie_agent is JSON text, found a mapping (quote it: grazie_agent: \(Self.grazieAgentExample))")
            return nil
        }
        guard let text = text(item) else { return nil }
        let value = text.value.trimmingCharacters(in: .whitespacesAndNewlines)
        if value.isEmpty {
            error(item, "grazie_agent is empty (leave the key out to use the built-in agent)")
            return nil
        }
        if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            error(item, "grazie_agent contains control characters (it is sent as an HTTP header)")
            return nil
        }
        guard let json = JSONValue(parsing: value), case .object = json else {
            error(item, "grazie_agent is not a JSON object (expected e.g. \(Self.grazieAgentExample))")
            return nil
        }
        let missing = ["name", "version"].filter { json[$0]?.stringValue?.isEmpty ?? true }
        if !missing.isEmpty {
            let keys = missing.map { "'\($0)'" }.joined(separator: " and ")
            let kind = missing.count == 1 ? "a non-empty string" : "non-empty strings"
            error(item, "grazie_agent needs \(keys) (\(kind)); expected e.g. \(Self.grazieAgentExample)")
            return nil
        }
        return value
    }

    /// `outbound_proxy`: `http://[user:password@]host:port`. The value is kept as written
    /// (trimmed); messages never show its credentials.
    func readOutboundProxy(_ item: ConfigItem, text: ConfigText) -> String? {
        let value = text.value.trimmingCharacters(in: .whitespaces)
        switch OutboundProxy.parse(value) {
        case .success:
            return value.hasSuffix("/") ? String(value.dropLast()) : value
        case .failure(let problem):
            let shown: String
            if text.usedVariables {
                shown = "'\(text.raw)'"
            } else if value.contains("@") {
                shown = "(credentials not shown)"
            } else {
                shown = text.display
            }
            error(item, "invalid outbound_proxy \(shown): \(problem.message)")
            return nil
        }
    }

    /// `models`: alias → profile id, or alias → `{profile, parameters}`, or profile id →
    /// `{parameters}`. Returns the aliases and the configured parameter lists by profile.
    func readModels(_ item: ConfigItem) -> (aliases: [String: String], parameters: [String: [String]])? {
        guard let f = fields(of: item, allowedKeys: nil) else { return nil }
        var aliases: [String: String] = [:]
        var parameters: [String: (names: [String], line: Int)] = [:]
        var valid = true
        for entry in f.entries where !entry.isDuplicate {
            let entryItem = entry.item
            if entry.key.isEmpty {
                error(entryItem.path, at: entryItem.keyPosition, "empty key")
                valid = false
                continue
            }
            switch entryItem.node {
            case .scalar:
                guard let text = text(entryItem) else { valid = false; continue }
                let profile = entryItem.isNull ? "" : text.value.trimmingCharacters(in: .whitespaces)
                if profile.isEmpty {
                    error(entryItem, "model profile is empty")
                    valid = false
                } else {
                    aliases[entry.key] = profile
                }
            case .mapping:
                let errorsBefore = diagnostics.count
                guard let m = fields(of: entryItem, allowedKeys: FleetKeys.modelEntry) else { valid = false; continue }
                var profile: String?
                if let p = m["profile"], let text = text(p) {
                    let value = text.value.trimmingCharacters(in: .whitespaces)
                    if value.isEmpty { error(p, "model profile is empty") } else { profile = value }
                }
                var names: [String]?
                if let p = m["parameters"] { names = readParameterNames(p) }
                if m["profile"] == nil && m["parameters"] == nil && diagnostics.count == errorsBefore {
                    error(entryItem, "expected 'profile' (the upstream profile id) and/or 'parameters' (the parameters it takes)")
                }
                guard diagnostics.count == errorsBefore else { valid = false; continue }
                if let profile { aliases[entry.key] = profile }
                if let names {
                    let target = profile ?? entry.key
                    if let earlier = parameters[target], earlier.names != names {
                        error(m["parameters"]!, "other parameters for profile '\(Self.displayKey(target))' are "
                            + "already given at line \(earlier.line)")
                        valid = false
                        continue
                    }
                    parameters[target] = (names, entryItem.keyPosition.line)
                }
            default:
                error(entryItem, "expected a profile id, or a mapping with 'profile' and/or 'parameters', "
                    + "found \(entryItem.kindDescription)")
                valid = false
            }
        }
        return valid ? (aliases, parameters.mapValues(\.names)) : nil
    }

    /// A list of parameter names (`ProfileParameter`), each at most once.
    func readParameterNames(_ item: ConfigItem) -> [String]? {
        guard case .sequence(let sequence) = item.node else {
            error(item, "expected a list of parameter names (\(ProfileParameter.names.joined(separator: ", "))), "
                + "found \(item.kindDescription)")
            return nil
        }
        var names: [String] = []
        var valid = true
        for (index, node) in sequence.enumerated() {
            let element = ConfigItem(node: node, path: "\(item.path)[\(index)]")
            guard let text = text(element) else { valid = false; continue }
            let name = text.value.trimmingCharacters(in: .whitespaces)
            guard ProfileParameter(rawValue: name) != nil else {
                var message = "unknown parameter \(text.display) (valid: \(ProfileParameter.names.joined(separator: ", ")))"
                if let suggestion = Self.closest(to: name, among: ProfileParameter.names) {
                    message += "; did you mean '\(suggestion)'?"
                }
                error(element, message)
                valid = false
                continue
            }
            if names.contains(name) {
                error(element, "parameter '\(name)' is listed twice")
                valid = false
                continue
            }
            names.append(name)
        }
        return valid ? names : nil
    }

    // MARK: - tenants

    func readTenant(
        name: String, _ item: ConfigItem, defaults: FleetTenantSettings, shutdownTimeout: Duration,
        stateDir: String
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
        let deployment = readDeployment(f)

        valid = valid && diagnostics.count == errorsBefore
        guard valid, let (address, _) = listenAddress, let apiKeys else { return (nil, listenAddress) }
        var tenant = TenantConfig(
            name: name, listen: address, apiKeys: apiKeys.map(\.key), tokens: tokens,
            upstream: settings.upstream, apiVersion: settings.apiVersion, strategy: settings.strategy,
            healthCheckInterval: settings.healthCheckInterval, maxAttempts: settings.maxAttempts,
            connectTimeout: settings.connectTimeout, requestTimeout: settings.requestTimeout,
            maxBodySize: settings.maxBodySize, models: settings.models, grazieAgent: settings.grazieAgent,
            keepaliveInterval: settings.keepaliveInterval, shutdownTimeout: shutdownTimeout,
            profileParameters: settings.profileParameters, accountURL: settings.accountURL,
            outboundProxy: settings.outboundProxy, stateDir: stateDir, fetchImageURLs: settings.fetchImageURLs,
            limits: settings.limits, maxConcurrentRequests: settings.maxConcurrentRequests)
        tenant.deployment = deployment
        tenant.logFormat = settings.logFormat
        tenant.backlogGrace = settings.backlogGrace
        // Only when a key has a name or limits of its own: plain keys get their default names anyway.
        if apiKeys.contains(where: { $0.policy != ClientKeyPolicy(name: ClientKeyPolicy.defaultName(for: $0.key)) }) {
            tenant.keyPolicies = apiKeys.map(\.policy)
        }
        tenant.usageLimits = settings.usageLimits
        tenant.usageRetention = settings.usageRetention
        tenant.usageLedger = settings.usageLedger
        return (tenant, listenAddress)
    }

    /// `[a-z0-9][a-z0-9-]{0,31}`
    static func isValidTenantName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 32 else { return false }
        func isLowerAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        return isLowerAlnum(first) && bytes.allSatisfy { isLowerAlnum($0) || $0 == 0x2D }
    }

    func readAPIKeys(_ f: ConfigFields, tenant: ConfigItem) -> [ClientKeyEntry]? {
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
        guard let keys = fromList ?? fromFile else { return nil }
        return checkDistinct(keys, at: (inline ?? file)!) ? keys : nil
    }

    func readInlineAPIKeys(_ item: ConfigItem) -> [ClientKeyEntry]? {
        guard case .sequence(let sequence) = item.node else {
            error(item, "expected a list of API keys, found \(item.kindDescription)")
            return nil
        }
        guard !sequence.isEmpty else {
            error(item, "api_keys is empty (a tenant needs at least one key)")
            return nil
        }
        var keys: [ClientKeyEntry] = []
        var valid = true
        for (index, node) in sequence.enumerated() {
            let element = ConfigItem(node: node, path: "\(item.path)[\(index)]")
            if case .mapping = node {
                if let entry = readNamedAPIKey(element) { keys.append(entry) } else { valid = false }
                continue
            }
            guard let text = text(element) else { valid = false; continue }
            let key = text.value.trimmingCharacters(in: .whitespacesAndNewlines)
            if let problem = Self.secretProblem(key, what: "API key") {
                error(element, problem)
                valid = false
            } else {
                keys.append(ClientKeyEntry(key: key, policy: ClientKeyPolicy(name: ClientKeyPolicy.defaultName(for: key))))
            }
        }
        return valid ? keys : nil
    }

    func readAPIKeysFile(_ item: ConfigItem) -> [ClientKeyEntry]? {
        guard let (path, display) = path(item), let contents = readFile(item, path: path, display: display, what: "api_keys_file")
        else { return nil }
        var keys: [ClientKeyEntry] = []
        var valid = true
        for (number, rawLine) in contents.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            switch Self.keyFileLine(line) {
            case .failure(let problem):
                error(item, "line \(number + 1) of api_keys_file \(display): \(problem.message)")
                valid = false
            case .success(let entry):
                keys.append(entry)
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
}
