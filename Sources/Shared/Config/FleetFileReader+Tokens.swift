import Foundation

extension FleetFileReader {
    // MARK: - tokens

    func readTokens(_ item: ConfigItem) -> [TokenConfig] {
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

    func readToken(_ item: ConfigItem, names: inout [String: ConfigPosition]) -> TokenConfig? {
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

    static let tokenSourceRule = "a token has exactly one of 'jwt', 'jwt_file', or 'license_id' with one of "
        + "'authorization', 'refresh_token' or 'refresh_token_file'"
    static let licenseCredentialKeys = ["authorization", "refresh_token", "refresh_token_file"]

    func readTokenSource(_ f: ConfigFields, token: ConfigItem) -> TokenSource? {
        func byPosition(_ a: (key: String, item: ConfigItem), _ b: (key: String, item: ConfigItem)) -> Bool {
            (a.item.keyPosition.line, a.item.keyPosition.column) < (b.item.keyPosition.line, b.item.keyPosition.column)
        }
        // The license keys count as one kind of credential, placed at the first of them.
        let licenseKeys = (["license_id"] + Self.licenseCredentialKeys)
            .compactMap { key in f[key].map { (key: key, item: $0) } }
            .sorted(by: byPosition)
        let kinds: [(key: String, item: ConfigItem)] = [
            f["jwt"].map { ("jwt", $0) }, f["jwt_file"].map { ("jwt_file", $0) }, licenseKeys.first,
        ]
        .compactMap { $0 }
        .sorted(by: byPosition)

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
            sources.append(readSecretFile(i, key: "jwt_file", what: "the JWT").map { .jwt($0) })
        }
        if !licenseKeys.isEmpty { sources.append(readLicenseSource(f)) }
        guard kinds.count == 1, sources.count == 1 else { return nil }
        return sources[0]
    }

    /// `license_id` with exactly one of `authorization`, `refresh_token`, `refresh_token_file`.
    private func readLicenseSource(_ f: ConfigFields) -> TokenSource? {
        let id = f["license_id"]
        let credentials = Self.licenseCredentialKeys
            .compactMap { key in f[key].map { (key: key, item: $0) } }
            .sorted { ($0.item.keyPosition.line, $0.item.keyPosition.column) < ($1.item.keyPosition.line, $1.item.keyPosition.column) }
        guard let id else {
            for credential in credentials {
                error(credential.item.path, at: credential.item.keyPosition, "'\(credential.key)' needs 'license_id' too")
            }
            return nil
        }
        guard let credential = credentials.first else {
            error(id.path, at: id.keyPosition, "'license_id' needs 'authorization', 'refresh_token' or 'refresh_token_file' too")
            return nil
        }
        for extra in credentials.dropFirst() {
            error(extra.item.path, at: extra.item.keyPosition,
                  "'\(extra.key)' cannot be combined with '\(credential.key)' (a license token has one of "
                    + "'authorization', 'refresh_token' or 'refresh_token_file')")
        }
        let idValue = readSecret(id, what: "license_id")
        let value: String?
        switch credential.key {
        case "authorization": value = readSecret(credential.item, what: "authorization")
        case "refresh_token": value = readSecret(credential.item, what: "refresh_token")
        default: value = readSecretFile(credential.item, key: "refresh_token_file", what: "the refresh token")
        }
        guard credentials.count == 1, let idValue, let value else { return nil }
        return credential.key == "authorization"
            ? .license(id: idValue, authorization: value)
            : .licenseRefresh(id: idValue, refreshToken: value)
    }

    /// A secret scalar, trimmed; reported (never quoted) when empty or malformed.
    func readSecret(_ item: ConfigItem, what: String) -> String? {
        guard let text = text(item) else { return nil }
        let value = text.value.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = Self.secretProblem(value, what: what) {
            error(item, problem)
            return nil
        }
        return value
    }

    /// A file holding one secret (`jwt_file`, `refresh_token_file`), trimmed.
    func readSecretFile(_ item: ConfigItem, key: String, what: String) -> String? {
        guard let (path, display) = path(item),
              let contents = readFile(item, path: path, display: display, what: key) else { return nil }
        let secret = contents.trimmingCharacters(in: .whitespacesAndNewlines)
        if secret.isEmpty {
            error(item, "\(key) \(display) is empty")
            return nil
        }
        if let problem = Self.secretProblem(secret, what: "\(what) in \(key) \(display)") {
            error(item, problem)
            return nil
        }
        return secret
    }

    func readFile(_ item: ConfigItem, path: String, display: String, what: String) -> String? {
        if let secretFilePlaceholder { return secretFilePlaceholder }
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
}
