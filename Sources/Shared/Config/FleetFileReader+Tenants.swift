import Foundation

extension FleetFileReader {
    // MARK: - defaults and tenant settings

    func apply(_ f: ConfigFields, to s: inout FleetTenantSettings) {
        if let v = f["upstream"].flatMap({ url($0) }) { s.upstream = v }
        if let v = f["api_version"].flatMap({ choice($0, APIVersion.self, what: "api_version") }) { s.apiVersion = v }
        if let v = f["strategy"].flatMap({ choice($0, BalanceStrategy.self, what: "strategy") }) { s.strategy = v }
        if let v = f["health_check_interval"].flatMap({ duration($0, positive: true) }) { s.healthCheckInterval = v }
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
        if let v = f["keepalive_interval"].flatMap({ duration($0, positive: true) }) { s.keepaliveInterval = v }
    }

    // MARK: - tenants

    func readTenant(
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

    func readAPIKeys(_ f: ConfigFields, tenant: ConfigItem) -> [String]? {
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

    func readInlineAPIKeys(_ item: ConfigItem) -> [String]? {
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

    func readAPIKeysFile(_ item: ConfigItem) -> [String]? {
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
}
