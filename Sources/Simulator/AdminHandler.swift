import Foundation
import Logging
import NIOHTTP1
import Shared

/// The test harness's API under `/_sim/`: faults, JWTs, licenses, stats, recorded requests.
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
                    "api_version": .string(r.version.rawValue), "body": r.body,
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

    /// `{"jwt", "valid"?, "quota_current"?, "quota_maximum"?, "until"?}`
    private func setJWT(_ json: SimJSON) throws(AdminError) {
        guard let jwt = json["jwt"]?.stringValue, !jwt.isEmpty else { throw AdminError("missing string 'jwt'") }
        var until: Date??
        switch json["until"] {
        case nil: until = nil
        case .null?: until = .some(nil)
        case .string(let text)?:
            guard let date = ISODate.parse(text) else { throw AdminError("'until' must be an ISO 8601 date") }
            until = .some(date)
        default: throw AdminError("'until' must be an ISO 8601 date")
        }
        let valid = json["valid"]
        if let valid, valid.boolValue == nil { throw AdminError("'valid' must be a boolean") }
        state.setJWT(
            jwt, valid: valid?.boolValue,
            quotaCurrent: try number(json, "quota_current"), quotaMaximum: try number(json, "quota_maximum"),
            until: until
        )
    }

    private func number(_ json: SimJSON, _ key: String) throws(AdminError) -> Double? {
        guard let value = json[key], !value.isNull else { return nil }
        guard let number = value.doubleValue else { throw AdminError("'\(key)' must be a number") }
        return number
    }

    /// `{"license_id", "authorization", "state"?, "jwt_ttl_s"?}`
    private func license(_ json: SimJSON) throws(AdminError) -> LicenseRecord {
        guard let id = json["license_id"]?.stringValue else { throw AdminError("missing string 'license_id'") }
        guard let authorization = json["authorization"]?.stringValue else { throw AdminError("missing string 'authorization'") }
        var license = LicenseRecord(id: id, authorization: authorization)
        if let state = json["state"], !state.isNull {
            guard let text = state.stringValue else { throw AdminError("'state' must be a string") }
            license.state = text
        }
        if let ttl = json["jwt_ttl_s"], !ttl.isNull {
            guard let seconds = ttl.intValue else { throw AdminError("'jwt_ttl_s' must be an integer") }
            license.jwtTTLSeconds = seconds
        }
        return license
    }

    private func statsJSON() -> SimJSON {
        let (stats, inFlight) = state.stats()
        func counts(_ table: [Endpoint: Int], _ endpoints: [Endpoint]) -> SimJSON {
            .object(Dictionary(uniqueKeysWithValues: endpoints.map { ($0.rawValue, SimJSON.int(table[$0] ?? 0)) }))
        }
        return [
            "totals": counts(stats.totals, Endpoint.allCases),
            "by_jwt": .object(stats.byJWT.mapValues { counts($0, [.chat, .quota]) }),
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
                "until": r.until.map { .string(ISODate.format($0)) } ?? .null,
                "expires_at": r.expiresAt.map { .string(ISODate.format($0)) } ?? .null,
                "configured": .bool(r.configured),
            ]
        }
        return ["jwts": .object(records)]
    }
}
