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

    static let tokenSourceRule = "a token has exactly one of 'jwt', 'jwt_file', or 'license_id' + 'authorization'"

    func readTokenSource(_ f: ConfigFields, token: ConfigItem) -> TokenSource? {
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
    func readSecret(_ item: ConfigItem, what: String) -> String? {
        guard let text = text(item) else { return nil }
        let value = text.value.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = Self.secretProblem(value, what: what) {
            error(item, problem)
            return nil
        }
        return value
    }

    func readJWTFile(_ item: ConfigItem) -> String? {
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

    func readFile(_ item: ConfigItem, path: String, display: String, what: String) -> String? {
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
