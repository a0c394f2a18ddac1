import Foundation

/// The `--config` file:
/// `{"jwts": [{"jwt", "quota_current", "quota_maximum", "valid", "until"}],
///   "licenses": [{"license_id", "authorization", "state", "jwt_ttl_s"}],
///   "chunks": 4, "chunk_delay_ms": 0, "quota_format": "new"}` — every field optional.
struct SimulatorConfig: Decodable, Sendable {
    struct JWT: Decodable, Sendable {
        var jwt: String
        var quotaCurrent: Double?
        var quotaMaximum: Double?
        var valid: Bool?
        var until: String?

        enum CodingKeys: String, CodingKey {
            case jwt, valid, until
            case quotaCurrent = "quota_current"
            case quotaMaximum = "quota_maximum"
        }
    }

    struct License: Decodable, Sendable {
        var licenseID: String
        var authorization: String
        var state: String?
        var jwtTTLSeconds: Int?

        enum CodingKeys: String, CodingKey {
            case authorization, state
            case licenseID = "license_id"
            case jwtTTLSeconds = "jwt_ttl_s"
        }
    }

    var jwts: [JWT]?
    var licenses: [License]?
    var chunks: Int?
    var chunkDelayMs: Int?
    var quotaFormat: String?

    enum CodingKeys: String, CodingKey {
        case jwts, licenses, chunks
        case chunkDelayMs = "chunk_delay_ms"
        case quotaFormat = "quota_format"
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
            state.setJWT(entry.jwt, valid: entry.valid, quotaCurrent: entry.quotaCurrent, quotaMaximum: entry.quotaMaximum, until: until)
        }
        for entry in licenses ?? [] {
            state.setLicense(
                LicenseRecord(
                    id: entry.licenseID, authorization: entry.authorization,
                    state: entry.state ?? "PAID", jwtTTLSeconds: entry.jwtTTLSeconds ?? 3600
                )
            )
        }
    }
}

struct ConfigError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
