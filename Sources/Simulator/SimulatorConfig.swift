import Foundation

/// The `--config` file:
/// `{"jwts": [{"jwt", "quota_current", "quota_maximum", "topup_current", "topup_maximum", "valid", "until"}],
///   "licenses": [{"license_id", "authorization", "state", "jwt_ttl_s", "issue_token"}],
///   "refresh_tokens": [{"refresh_token", "license_id", "id_token_ttl_s", "rotate"}],
///   "chunks": 4, "chunk_delay_ms": 0, "quota_format": "new",
///   "protocol": {<as POST /_sim/protocol>}, "profiles": ["…"]}` — every field optional;
/// command-line flags win over the file.
struct SimulatorConfig: Decodable, Sendable {
    struct JWT: Decodable, Sendable {
        var jwt: String
        var quotaCurrent: Double?
        var quotaMaximum: Double?
        var valid: Bool?
        var until: String?
        var topUpCurrent: Double?
        var topUpMaximum: Double?

        enum CodingKeys: String, CodingKey {
            case jwt, valid, until
            case quotaCurrent = "quota_current"
            case quotaMaximum = "quota_maximum"
            case topUpCurrent = "topup_current"
            case topUpMaximum = "topup_maximum"
        }
    }

    struct License: Decodable, Sendable {
        var licenseID: String
        var authorization: String?
        var state: String?
        var jwtTTLSeconds: Int?
        var issueToken: Bool?

        enum CodingKeys: String, CodingKey {
            case authorization, state
            case licenseID = "license_id"
            case jwtTTLSeconds = "jwt_ttl_s"
            case issueToken = "issue_token"
        }
    }

    struct RefreshToken: Decodable, Sendable {
        var refreshToken: String
        var licenseID: String?
        var idTokenTTLSeconds: Int?
        var rotate: Bool?

        enum CodingKeys: String, CodingKey {
            case rotate
            case refreshToken = "refresh_token"
            case licenseID = "license_id"
            case idTokenTTLSeconds = "id_token_ttl_s"
        }
    }

    var jwts: [JWT]?
    var licenses: [License]?
    var refreshTokens: [RefreshToken]?
    var chunks: Int?
    var chunkDelayMs: Int?
    var quotaFormat: String?
    var protocolSettings: SimJSON?
    var profiles: [String]?

    enum CodingKeys: String, CodingKey {
        case jwts, licenses, chunks, profiles
        case refreshTokens = "refresh_tokens"
        case chunkDelayMs = "chunk_delay_ms"
        case quotaFormat = "quota_format"
        case protocolSettings = "protocol"
    }

    static func load(path: String) throws -> SimulatorConfig {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(SimulatorConfig.self, from: data)
    }

    /// Registers the configured JWTs and licenses.
    func apply(to state: SimulatorState) throws {
        for entry in jwts ?? [] {
            var until: Date??
            if let text = entry.until {
                guard let date = ISODate.parse(text) else { throw ConfigError("jwt until '\(text)' is not an ISO 8601 date") }
                until = .some(date)
            }
            state.setJWT(
                entry.jwt, valid: entry.valid, quotaCurrent: entry.quotaCurrent, quotaMaximum: entry.quotaMaximum,
                until: until, topUpCurrent: entry.topUpCurrent, topUpMaximum: entry.topUpMaximum
            )
        }
        for entry in licenses ?? [] {
            state.setLicense(
                LicenseRecord(
                    id: entry.licenseID, authorization: entry.authorization,
                    state: entry.state ?? "PAID", jwtTTLSeconds: entry.jwtTTLSeconds ?? 3600,
                    issueToken: entry.issueToken ?? true
                )
            )
        }
        for entry in refreshTokens ?? [] {
            _ = state.registerRefreshToken(
                entry.refreshToken, licenseID: entry.licenseID, idTokenTTLSeconds: entry.idTokenTTLSeconds ?? 3600,
                rotate: entry.rotate ?? true
            )
        }
    }

    /// The file's protocol settings over `base`: `quota_format` (old name: new → current,
    /// old → old) first, then the `protocol` object.
    func settings(over base: ProtocolSettings) throws -> ProtocolSettings {
        var settings = base
        if let name = quotaFormat {
            guard let shape = QuotaShape(legacyName: name) else { throw ConfigError("quota_format must be new or old") }
            settings.quotaShape = shape
        }
        if let json = protocolSettings {
            do throws(AdminError) {
                settings = try settings.merging(json)
            } catch {
                throw ConfigError("protocol: \(error.message)")
            }
        }
        return settings
    }
}

struct ConfigError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
