import Foundation
import Logging
import Shared

/// `POST /auth/jetbrains-jwt/provide-access/license/v2`: `Authorization: Bearer <authorization>`
/// (the license's own, or an OAuth id token minted for it) and `{"licenseId"}` →
/// `{"state": <state>, "token": <fresh JWT>}`, or `{"state"}` when the license does not issue
/// tokens (`issue_token` false); 401 for an unknown license, a wrong authorization or an
/// expired id token.
struct LicenseHandler: Sendable {
    let state: SimulatorState
    let logger: Logger

    func handle(_ request: ServerRequest, writer: ResponseWriter) async throws {
        let body = SimJSON.parse(Data(request.body.readableBytesView))
        let licenseID = body?["licenseId"]?.stringValue
        state.requestStarted(.license, jwt: nil, license: licenseID)
        defer { state.requestFinished() }

        var drop = false
        if let fault = state.takeFault(for: .license, jwt: nil) {
            switch try await FaultPlayer.play(fault, writer: writer, streaming: false, served: state.profiles) {
            case .handled: return
            case .proceed(let after): drop = after != nil
            case .errorEvent: break
            }
        }
        guard body?.objectValue != nil else {
            return try await writer.sendError(.badRequest, code: "bad_request", message: "body is not a JSON object")
        }
        guard let licenseID else {
            return try await writer.sendError(.badRequest, code: "bad_request", message: "missing string 'licenseId'")
        }
        guard let license = state.license(licenseID) else {
            return try await writer.sendError(.unauthorized, code: "unauthorized", message: "unknown license or wrong authorization")
        }
        switch state.authorizes(bearer(request), license: license) {
        case .allowed: break
        case .refused:
            return try await writer.sendError(.unauthorized, code: "unauthorized", message: "unknown license or wrong authorization")
        case .expired:
            return try await writer.sendError(.unauthorized, code: "unauthorized", message: "id token expired")
        }
        let json: SimJSON
        if license.issueToken {
            let minted = state.mint(for: license)
            logger.debug("minted JWT", metadata: ["license": "\(licenseID)"])
            json = ["state": .string(license.state), "token": .string(minted.token)]
        } else {
            json = ["state": .string(license.state)]
        }
        if drop { try await FaultPlayer.sendTruncated(json, writer: writer) }
        try await writer.send(.ok, json)
    }

    private func bearer(_ request: ServerRequest) -> String? {
        guard let value = request.headers.first(name: "authorization") else { return nil }
        let prefix = "bearer "
        guard value.lowercased().hasPrefix(prefix) else { return nil }
        return String(value.dropFirst(prefix.count)).trimmingSpaces
    }
}
