import Foundation
import Shared

/// Settings given the seed proxy's way: flags, environment (and `.env`), a JSON config file.
/// Precedence, highest first: command line, environment, config file, defaults.
struct SeedOptions: Sendable, Equatable {
    var jwts: String?
    var bearerToken: String?
    var strategy: String?
    var port: Int?
    var host: String?
    var configPath: String?
    var upstream: String?
    var apiVersion: String?
}

/// The seed's JSON config file.
struct SeedConfigFile: Decodable, Sendable {
    struct Token: Decodable, Sendable {
        var token: String
        var name: String?
        var description: String?
        var priority: Int?
        var weight: Int?
        var metadata: [String: JSONValue]?
    }

    var jetbrainsTokens: [Token]?
    var bearerToken: String?
    var bearerTokens: [String]?
    var loadBalanceStrategy: String?
    var healthCheckInterval: JSONValue?
    var serverPort: Int?
    var serverHost: String?
    // Additions of ours (optional; the seed never wrote them).
    var upstream: String?
    var apiVersion: String?
    var maxAttempts: Int?
    var requestTimeout: JSONValue?
    var connectTimeout: JSONValue?
    var models: [String: String]?

    enum CodingKeys: String, CodingKey {
        case jetbrainsTokens = "jetbrains_tokens"
        case bearerToken = "bearer_token"
        case bearerTokens = "bearer_tokens"
        case loadBalanceStrategy = "load_balance_strategy"
        case healthCheckInterval = "health_check_interval"
        case serverPort = "server_port"
        case serverHost = "server_host"
        case upstream
        case apiVersion = "api_version"
        case maxAttempts = "max_attempts"
        case requestTimeout = "request_timeout"
        case connectTimeout = "connect_timeout"
        case models
    }
}

struct SettingsError: Error, CustomStringConvertible {
    var description: String
}

enum SeedSettings {
    /// Where the seed looked for a config file, first found wins.
    static func discoveryPaths(home: String?) -> [String] {
        var paths = ["config.json", "config/config.json", "configs/config.json", ".config/jetbrains-ai-proxy.json"]
        if let home { paths.append(home + "/.config/jetbrains-ai-proxy/config.json") }
        return paths
    }

    /// Reads `KEY=VALUE` lines (comments, blank lines, `export ` prefixes and quotes handled).
    static func parseDotEnv(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)) }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let f = value.first, f == value.last, f == "\"" || f == "'" {
                value = String(value.dropFirst().dropLast())
            }
            result[key] = value
        }
        return result
    }

    /// The process environment over `.env` in the working directory (real variables win).
    static func environment(processEnvironment: [String: String], directory: String) -> [String: String] {
        var env: [String: String] = [:]
        if let text = try? String(contentsOfFile: directory + "/.env", encoding: .utf8) {
            env = parseDotEnv(text)
        }
        env.merge(processEnvironment) { _, real in real }
        return env
    }

    static func interval(_ value: JSONValue?, key: String) throws -> Duration? {
        switch value {
        case nil, .null?: return nil
        case .number(let n)?: return .milliseconds(Int64(n * 1000))
        case .string(let s)?:
            if let d = parseDuration(s) { return d }
            if let n = Double(s) { return .milliseconds(Int64(n * 1000)) }
            throw SettingsError(description: "\(key): '\(s)' is not a duration (e.g. 30s, 5m)")
        default:
            throw SettingsError(description: "\(key): expected a duration such as \"30s\"")
        }
    }

    static func strategy(_ text: String, from origin: String) throws -> BalanceStrategy {
        guard let s = BalanceStrategy(rawValue: text.trimmingCharacters(in: .whitespaces).lowercased()) else {
            throw SettingsError(description: "\(origin): unknown strategy '\(text)' (use round_robin, random or least_busy)")
        }
        return s
    }

    /// Resolves the effective tenant settings.
    static func resolve(
        _ options: SeedOptions,
        environment env: [String: String],
        directory: String,
        home: String?
    ) throws -> (TenantConfig, configFile: String?) {
        // Config file: --config, then CONFIG_FILE, then discovery.
        var file: SeedConfigFile?
        var filePath: String?
        if let explicit = options.configPath ?? env["CONFIG_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            filePath = ConfigPaths.resolve(explicit, against: directory)
            guard FileManager.default.fileExists(atPath: filePath!) else {
                throw SettingsError(description: "config file not found: \(explicit)")
            }
        } else {
            filePath = discoveryPaths(home: home)
                .map { $0.hasPrefix("/") ? $0 : directory + "/" + $0 }
                .first { FileManager.default.fileExists(atPath: $0) }
        }
        if let filePath {
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: filePath))
                file = try JSONDecoder().decode(SeedConfigFile.self, from: data)
            } catch let error as DecodingError {
                throw SettingsError(description: "\(filePath): invalid config: \(describe(error))")
            } catch {
                throw SettingsError(description: "\(filePath): cannot read: \(error.localizedDescription)")
            }
        }

        var tenant = TenantConfig(name: "default", listen: ListenAddress(host: "0.0.0.0", port: 8080), apiKeys: [], tokens: [])
        // The standalone worker keeps its state (rotated refresh tokens) in ./state.
        tenant.stateDir = ConfigPaths.resolve(SupervisorDefaults.stateDir, against: directory)

        // Defaults ← file.
        if let file {
            tenant.tokens = (file.jetbrainsTokens ?? []).enumerated().map { i, t in
                TokenConfig(
                    name: t.name ?? "jwt-\(i + 1)", source: .jwt(t.token), priority: t.priority ?? 1,
                    weight: max(1, t.weight ?? 1),
                    metadata: (t.metadata ?? [:]).mapValues { $0.stringValue ?? $0.jsonText },
                    description: t.description
                )
            }
            tenant.apiKeys = (file.bearerTokens ?? []) + (file.bearerToken.map { [$0] } ?? [])
            if let s = file.loadBalanceStrategy { tenant.strategy = try strategy(s, from: "load_balance_strategy") }
            if let d = try interval(file.healthCheckInterval, key: "health_check_interval") { tenant.healthCheckInterval = d }
            if let p = file.serverPort { tenant.listen.port = p }
            if let h = file.serverHost { tenant.listen.host = h }
            if let u = file.upstream { tenant.upstream = u }
            if let v = file.apiVersion {
                guard let version = APIVersion(rawValue: v) else { throw SettingsError(description: "api_version: '\(v)' is not v8 or v7") }
                tenant.apiVersion = version
            }
            if let m = file.maxAttempts { tenant.maxAttempts = max(1, m) }
            if let d = try interval(file.requestTimeout, key: "request_timeout") { tenant.requestTimeout = d }
            if let d = try interval(file.connectTimeout, key: "connect_timeout") { tenant.connectTimeout = d }
            if let m = file.models { tenant.models = m }
        }

        // ← environment ← command line.
        func jwtList(_ text: String) -> [TokenConfig] {
            text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                .enumerated().map { TokenConfig(name: "jwt-\($0.offset + 1)", source: .jwt($0.element)) }
        }
        if let list = [env["JWT_TOKENS"], env["JWT_TOKEN"]].compactMap({ $0 }).first(where: { !$0.isEmpty }) {
            tenant.tokens = jwtList(list)
        }
        if let list = options.jwts { tenant.tokens = jwtList(list) }
        if let key = options.bearerToken ?? env["BEARER_TOKEN"], !key.isEmpty { tenant.apiKeys = [key] }
        if let s = options.strategy { tenant.strategy = try strategy(s, from: "-s") }
        else if let s = env["LOAD_BALANCE_STRATEGY"], !s.isEmpty { tenant.strategy = try strategy(s, from: "LOAD_BALANCE_STRATEGY") }
        if let h = options.host ?? env["SERVER_HOST"], !h.isEmpty { tenant.listen.host = h }
        if let p = options.port { tenant.listen.port = p }
        else if let p = env["SERVER_PORT"], !p.isEmpty {
            guard let port = Int(p), (0...65535).contains(port) else { throw SettingsError(description: "SERVER_PORT: '\(p)' is not a port") }
            tenant.listen.port = port
        }
        if let u = options.upstream ?? env["JETBRAINS_AI_UPSTREAM"], !u.isEmpty { tenant.upstream = u }
        if let v = options.apiVersion ?? env["JETBRAINS_AI_API_VERSION"], !v.isEmpty {
            guard let version = APIVersion(rawValue: v) else { throw SettingsError(description: "api version '\(v)' is not v8 or v7") }
            tenant.apiVersion = version
        }
        guard (0...65535).contains(tenant.listen.port) else {
            throw SettingsError(description: "port \(tenant.listen.port) is out of range")
        }
        guard !tenant.tokens.isEmpty else {
            throw SettingsError(description: "no JWT tokens configured: pass -c \"jwt1,jwt2\", set JWT_TOKENS, or list jetbrains_tokens in a config file")
        }
        return (tenant, filePath)
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
            return "\(path(c)): \(c.debugDescription)"
        case .keyNotFound(let key, let c):
            return "\(path(c)): missing key '\(key.stringValue)'"
        @unknown default:
            return "\(error)"
        }
    }
}
