import Foundation
import Logging
import NIOHTTP1
import Shared

/// The test harness's API under `/_sim/`: faults, JWTs, licenses, protocol settings, profiles,
/// OAuth refresh tokens, stats, recorded requests.
struct AdminHandler: Sendable {
    let state: SimulatorState
    let logger: Logger

    func handle(_ request: ServerRequest, writer: ResponseWriter) async throws {
        let status: HTTPResponseStatus
        let json: SimJSON
        do throws(AdminError) {
            (status, json) = try answer(request)
        } catch {
            (status, json) = (.badRequest, ["error": "bad_request", "message": .string(error.message)])
        }
        try await writer.send(status, json)
    }

    private func answer(_ request: ServerRequest) throws(AdminError) -> (HTTPResponseStatus, SimJSON) {
        let route = request.path.dropFirst("/_sim/".count).split(separator: "/").map(String.init)
        switch (request.method, route.first ?? "", route.count) {
        case (.POST, "faults", 1):
            let fault = state.addFault(try Fault(json: try body(request)))
            logger.info("fault added", metadata: ["fault": "\(fault.json.text)"])
            return (.ok, ["id": .string(fault.id)])
        case (.GET, "faults", 1):
            return (.ok, ["faults": .array(state.faults().map(\.json))])
        case (.DELETE, "faults", 1):
            return (.ok, ["deleted": .int(state.removeFaults())])
        case (.DELETE, "faults", 2):
            let removed = state.removeFaults(id: route[1])
            if removed == 0 { return (.notFound, ["error": "not_found", "message": .string("no fault \(route[1])")]) }
            return (.ok, ["deleted": .int(removed)])
        case (.POST, "jwts", 1):
            try setJWT(try body(request))
            return (.ok, ["ok": true])
        case (.GET, "jwts", 1):
            return (.ok, jwtsJSON())
        case (.POST, "licenses", 1):
            state.setLicense(try license(try body(request)))
            return (.ok, ["ok": true])
        case (.GET, "protocol", 1):
            return (.ok, state.protocolSettings.json)
        case (.POST, "protocol", 1):
            let settings = try state.updateProtocol(try body(request))
            logger.info("protocol settings", metadata: ["settings": "\(settings.json.text)"])
            return (.ok, settings.json)
        case (.GET, "profiles", 1):
            return (.ok, ["profiles": .array(state.profiles.map(SimJSON.string))])
        case (.POST, "profiles", 1):
            let json = try body(request)
            guard let list = json["profiles"]?.arrayValue else { throw AdminError("missing array 'profiles'") }
            let ids = try list.map { item throws(AdminError) -> String in
                guard let id = item.stringValue, !id.isEmpty else { throw AdminError("'profiles' must be non-empty strings") }
                return id
            }
            state.setProfiles(ids)
            return (.ok, ["profiles": .array(ids.map(SimJSON.string))])
        case (.GET, "parameters", 1):
            guard let profile = request.query["profile"] else { throw AdminError("missing query parameter 'profile'") }
            let family = ParameterFamily.of(profile: profile)
            return (.ok, ["profile": .string(profile), "family": .string(family.rawValue), "parameters": .array(family.acceptedFQDNs.map(SimJSON.string))])
        case (.POST, "oauth", 1):
            return (.ok, ["id": .string(try registerRefreshToken(try body(request)))])
        case (.GET, "oauth", 1):
            return (.ok, oauthJSON())
        case (.GET, "stats", 1):
            return (.ok, statsJSON())
        case (.GET, "requests", 1):
            var last: Int?
            if let text = request.query["last"] {
                guard let n = Int(text), n >= 0 else { throw AdminError("'last' must be a non-negative integer") }
                last = n
            }
            let recorded = state.recorded(last: last).map { r -> SimJSON in
                [
                    "jwt": r.jwt.map(SimJSON.string) ?? .null, "path": .string(r.path),
                    "endpoint": .string(ChatRoute(path: r.path)?.kind ?? "chat"),
                    "api_version": .string(r.version.rawValue), "body": r.body,
                    "headers": .object(r.headers.mapValues(SimJSON.string)),
                ]
            }
            return (.ok, ["requests": .array(recorded)])
        case (.POST, "reset", 1):
            state.reset()
            return (.ok, ["ok": true])
        case (.GET, "health", 1):
            return (.ok, ["ok": true])
        default:
            return (.notFound, ["error": "not_found", "message": .string("no admin route \(request.method) \(request.path)")])
        }
    }

    private func body(_ request: ServerRequest) throws(AdminError) -> SimJSON {
        guard let json = SimJSON.parse(Data(request.body.readableBytesView)), json.objectValue != nil else {
            throw AdminError("body must be a JSON object")
        }
        return json
    }

    /// `{"jwt", "valid"?, "quota_current"?, "quota_maximum"?, "topup_current"?, "topup_maximum"?,
    /// "until"?}` (`until`: an ISO 8601 date or epoch milliseconds; null: no reset)
    private func setJWT(_ json: SimJSON) throws(AdminError) {
        guard let jwt = json["jwt"]?.stringValue, !jwt.isEmpty else { throw AdminError("missing string 'jwt'") }
        var until: Date??
        switch json["until"] {
        case nil: until = nil
        case .null?: until = .some(nil)
        case .string(let text)?:
            guard let date = ISODate.parse(text) else { throw AdminError("'until' must be an ISO 8601 date or epoch milliseconds") }
            until = .some(date)
        case .int(let ms)?:
            until = .some(Date(timeIntervalSince1970: Double(ms) / 1000))
        case .double(let ms)?:
            until = .some(Date(timeIntervalSince1970: ms / 1000))
        default: throw AdminError("'until' must be an ISO 8601 date or epoch milliseconds")
        }
        let valid = json["valid"]
        if let valid, valid.boolValue == nil { throw AdminError("'valid' must be a boolean") }
        state.setJWT(
            jwt, valid: valid?.boolValue,
            quotaCurrent: try number(json, "quota_current"), quotaMaximum: try number(json, "quota_maximum"),
            until: until, topUpCurrent: try number(json, "topup_current"), topUpMaximum: try number(json, "topup_maximum")
        )
    }

    private func number(_ json: SimJSON, _ key: String) throws(AdminError) -> Double? {
        guard let value = json[key], !value.isNull else { return nil }
        guard let number = value.doubleValue else { throw AdminError("'\(key)' must be a number") }
        return number
    }

    /// `{"license_id", "authorization"?, "state"?, "jwt_ttl_s"?, "issue_token"?}`
    /// (no `authorization`: only OAuth id tokens minted for the license are accepted)
    private func license(_ json: SimJSON) throws(AdminError) -> LicenseRecord {
        guard let id = json["license_id"]?.stringValue else { throw AdminError("missing string 'license_id'") }
        var authorization: String?
        if let value = json["authorization"], !value.isNull {
            guard let text = value.stringValue else { throw AdminError("'authorization' must be a string") }
            authorization = text
        }
        var license = LicenseRecord(id: id, authorization: authorization)
        if let state = json["state"], !state.isNull {
            guard let text = state.stringValue else { throw AdminError("'state' must be a string") }
            license.state = text
        }
        if let ttl = json["jwt_ttl_s"], !ttl.isNull {
            guard let seconds = ttl.intValue else { throw AdminError("'jwt_ttl_s' must be an integer") }
            license.jwtTTLSeconds = seconds
        }
        if let issue = json["issue_token"], !issue.isNull {
            guard let bool = issue.boolValue else { throw AdminError("'issue_token' must be a boolean") }
            license.issueToken = bool
        }
        return license
    }

    /// `{"refresh_token", "license_id"?, "id_token_ttl_s"? (3600), "rotate"? (true)}` → record id.
    private func registerRefreshToken(_ json: SimJSON) throws(AdminError) -> String {
        guard let token = json["refresh_token"]?.stringValue, !token.isEmpty else {
            throw AdminError("missing string 'refresh_token'")
        }
        var licenseID: String?
        if let value = json["license_id"], !value.isNull {
            guard let text = value.stringValue else { throw AdminError("'license_id' must be a string") }
            licenseID = text
        }
        var ttl = 3600
        if let value = json["id_token_ttl_s"], !value.isNull {
            guard let seconds = value.intValue, seconds >= 0 else { throw AdminError("'id_token_ttl_s' must be an integer >= 0") }
            ttl = seconds
        }
        var rotate = true
        if let value = json["rotate"], !value.isNull {
            guard let bool = value.boolValue else { throw AdminError("'rotate' must be a boolean") }
            rotate = bool
        }
        let id = state.registerRefreshToken(token, licenseID: licenseID, idTokenTTLSeconds: ttl, rotate: rotate)
        logger.info("refresh token registered", metadata: ["refresh_token": "\(id)", "license": "\(licenseID ?? "-")"])
        return id
    }

    /// The refresh tokens without their secrets: `{"refresh_tokens": [{"id", "license_id",
    /// "valid", "uses", "rejected_uses", "rotate", "id_token_ttl_s", "rotated_from",
    /// "replaced_by"}], "valid_count", "used_count", "id_tokens_issued"}`.
    private func oauthJSON() -> SimJSON {
        let records = state.refreshTokens()
        let list = records.map { r -> SimJSON in
            [
                "id": .string(r.id), "license_id": r.licenseID.map(SimJSON.string) ?? .null,
                "valid": .bool(r.valid), "uses": .int(r.uses), "rejected_uses": .int(r.rejectedUses),
                "rotate": .bool(r.rotate), "id_token_ttl_s": .int(r.idTokenTTLSeconds),
                "rotated_from": r.rotatedFrom.map(SimJSON.string) ?? .null,
                "replaced_by": r.replacedBy.map(SimJSON.string) ?? .null,
            ]
        }
        return [
            "refresh_tokens": .array(list),
            "valid_count": .int(records.filter(\.valid).count),
            "used_count": .int(records.filter { $0.uses > 0 }.count),
            "id_tokens_issued": .int(state.idTokenCount()),
        ]
    }

    private func statsJSON() -> SimJSON {
        let (stats, inFlight) = state.stats()
        func counts(_ table: [Endpoint: Int], _ endpoints: [Endpoint]) -> SimJSON {
            .object(Dictionary(uniqueKeysWithValues: endpoints.map { ($0.rawValue, SimJSON.int(table[$0] ?? 0)) }))
        }
        return [
            "totals": counts(stats.totals, Endpoint.allCases),
            "by_jwt": .object(stats.byJWT.mapValues { counts($0, [.chat, .quota, .profiles]) }),
            "by_path": .object(stats.byPath.mapValues(SimJSON.int)),
            "by_license": .object(stats.byLicense.mapValues(SimJSON.int)),
            "in_flight": .int(inFlight),
            "faults_applied": .object(
                Dictionary(uniqueKeysWithValues: stats.faultsApplied.map { ($0.key.rawValue, SimJSON.int($0.value)) })
            ),
        ]
    }

    private func jwtsJSON() -> SimJSON {
        let records = state.jwtRecords().mapValues { r -> SimJSON in
            [
                "valid": .bool(r.valid), "quota_current": .double(r.quotaCurrent), "quota_maximum": .double(r.quotaMaximum),
                "topup_current": .double(r.topUpCurrent), "topup_maximum": .double(r.topUpMaximum),
                "until": r.until.map { .string(ISODate.format($0)) } ?? .null,
                "expires_at": r.expiresAt.map { .string(ISODate.format($0)) } ?? .null,
                "configured": .bool(r.configured),
            ]
        }
        return ["jwts": .object(records)]
    }
}
