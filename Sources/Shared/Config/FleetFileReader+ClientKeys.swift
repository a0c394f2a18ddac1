import Foundation

/// A duration (`parseDuration`) or a whole number of days (`90d`), for retention periods.
public func parseDurationOrDays(_ text: String) -> Duration? {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    if trimmed.hasSuffix("d"), let days = Int(trimmed.dropLast()), days >= 0, days <= 1_000_000 {
        return .seconds(days * 86_400)
    }
    return parseDuration(trimmed)
}

/// One client key as read from the file: its value and its name and limits.
struct ClientKeyEntry {
    var key: String
    var policy: ClientKeyPolicy
}

struct KeyFileLineProblem: Error {
    var message: String
}

extension FleetFileReader {
    /// `limits`, `usage_retention`, `usage_ledger` (tenant settings and `defaults`).
    func applyUsageSettings(_ f: ConfigFields, to s: inout FleetTenantSettings) {
        if let i = f["limits"], let limits = fields(of: i, allowedKeys: FleetKeys.usageLimits).flatMap({ readUsageLimits($0) }) {
            s.usageLimits = limits
        }
        if let i = f["usage_retention"], let text = text(i) {
            if let v = parseDurationOrDays(text.value), v >= .seconds(3600) {
                s.usageRetention = v
            } else {
                error(i, "invalid usage_retention \(text.display) (expected at least 1h, e.g. 90d, 720h)")
            }
        }
        if let v = f["usage_ledger"].flatMap({ bool($0) }) { s.usageLedger = v }
    }

    /// `rpm`, `max_concurrent`, `daily_quota`, `models` of a key entry or of `limits`.
    func readUsageLimits(_ f: ConfigFields) -> UsageLimits? {
        let errorsBefore = diagnostics.count
        var limits = UsageLimits()
        limits.rpm = f["rpm"].flatMap { int($0, minimum: 1) }
        limits.maxConcurrent = f["max_concurrent"].flatMap { int($0, minimum: 1) }
        if let i = f["daily_quota"], let text = text(i) {
            if let value = Double(text.value.trimmingCharacters(in: .whitespaces)), value.isFinite, value > 0 {
                limits.dailyQuota = value
            } else {
                error(i, "expected a number of quota units above 0, found \(text.display)")
            }
        }
        if let i = f["models"] { limits.models = readModelPatterns(i) }
        return diagnostics.count == errorsBefore ? limits : nil
    }

    /// A list of model names or globs (`claude-*`).
    private func readModelPatterns(_ item: ConfigItem) -> [String]? {
        guard case .sequence(let sequence) = item.node else {
            error(item, "expected a list of model names or patterns (e.g. [claude-*, gpt-5]), found \(item.kindDescription)")
            return nil
        }
        var patterns: [String] = []
        for (index, node) in sequence.enumerated() {
            let element = ConfigItem(node: node, path: "\(item.path)[\(index)]")
            guard let text = text(element) else { return nil }
            let pattern = text.value.trimmingCharacters(in: .whitespaces)
            if pattern.isEmpty {
                error(element, "model pattern is empty")
                return nil
            }
            patterns.append(pattern)
        }
        if patterns.isEmpty {
            error(item, "models is empty (no model would be allowed; leave the key out to allow every model)")
            return nil
        }
        return patterns
    }

    /// `{name, key | key_file, rpm, max_concurrent, daily_quota, models}`.
    func readNamedAPIKey(_ item: ConfigItem) -> ClientKeyEntry? {
        guard let f = fields(of: item, allowedKeys: FleetKeys.apiKey) else { return nil }
        let errorsBefore = diagnostics.count
        var name: String?
        if let i = f["name"], let text = text(i) {
            let value = text.value.trimmingCharacters(in: .whitespaces)
            if ClientKeyPolicy.isValidName(value) {
                name = value
            } else {
                error(i, "invalid key name \(text.display) \(Self.keyNameRule)")
            }
        } else if f["name"] == nil {
            missing("name", in: item)
        }
        var key: String?
        switch (f["key"], f["key_file"]) {
        case (nil, nil):
            error(item, "missing 'key' or 'key_file' (the key clients send)")
        case (let i?, let file?):
            let later = i.keyPosition.line > file.keyPosition.line ? ("key", i) : ("key_file", file)
            error(later.1.path, at: later.1.keyPosition, "'key' and 'key_file' cannot both be set (use one of them)")
        case (let i?, nil):
            if let text = text(i) {
                let value = text.value.trimmingCharacters(in: .whitespacesAndNewlines)
                if let problem = Self.secretProblem(value, what: "API key") { error(i, problem) } else { key = value }
            }
        case (nil, let file?):
            key = readSecretFile(file, key: "key_file", what: "the API key")
        }
        let limits = readUsageLimits(f)
        guard diagnostics.count == errorsBefore, let name, let key, let limits else { return nil }
        return ClientKeyEntry(key: key, policy: ClientKeyPolicy(name: name, limits: limits))
    }

    static let keyNameRule = "(expected [A-Za-z0-9][A-Za-z0-9._-]{0,63}: letters, digits, '.', '_' and '-')"

    /// A line of `api_keys_file`: `KEY` or `NAME:KEY` (so a key containing ':' must be written
    /// with a name).
    static func keyFileLine(_ line: String) -> Result<ClientKeyEntry, KeyFileLineProblem> {
        var name: String?
        var key = line
        if let colon = line.firstIndex(of: ":") {
            let candidate = line[..<colon].trimmingCharacters(in: .whitespaces)
            guard ClientKeyPolicy.isValidName(candidate) else {
                return .failure(KeyFileLineProblem(message: "the name before ':' is not a valid key name \(keyNameRule)"))
            }
            name = candidate
            key = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if let problem = secretProblem(key, what: "the key") { return .failure(KeyFileLineProblem(message: problem)) }
        return .success(ClientKeyEntry(key: key, policy: ClientKeyPolicy(name: name ?? ClientKeyPolicy.defaultName(for: key))))
    }

    /// Two entries may not share a name, and one key may not carry two names (which one
    /// matched would be a guess).
    func checkDistinct(_ keys: [ClientKeyEntry], at item: ConfigItem) -> Bool {
        var names: [String: String] = [:]
        var valid = true
        for entry in keys {
            if let earlier = names[entry.policy.name] {
                if earlier != entry.key {
                    error(item, "two api_keys are named '\(entry.policy.name)' (names must be unique within a tenant)")
                    valid = false
                }
                continue
            }
            names[entry.policy.name] = entry.key
        }
        var byKey: [String: String] = [:]
        // `render` reads every secret as one placeholder: those say nothing about the real keys.
        for entry in keys where entry.key != FleetConfigLoader.secretPlaceholder && entry.key != secretFilePlaceholder {
            if let earlier = byKey[entry.key], earlier != entry.policy.name {
                error(item, "the same key is listed as '\(earlier)' and '\(entry.policy.name)' (a key has one name)")
                valid = false
            }
            byKey[entry.key] = entry.policy.name
        }
        return valid
    }
}
