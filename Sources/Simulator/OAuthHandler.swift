import Foundation
import Logging
import Shared

/// `POST /api/rest/oauth2/token` (JetBrains Account OAuth), form
/// `grant_type=refresh_token&refresh_token=…&client_id=ide` →
/// `{"id_token", "access_token" (the same), "token_type": "Bearer", "expires_in",
/// "refresh_token" (only when the token rotates)}`. A rotated-away, unknown or missing refresh
/// token gets `400 {"error": "invalid_grant"}`; another grant type
/// `400 {"error": "unsupported_grant_type"}`; another client `400 {"error": "invalid_client"}`.
/// Tokens never reach the log; the record id (`rt-N`) does.
struct OAuthHandler: Sendable {
    let state: SimulatorState
    let logger: Logger

    func handle(_ request: ServerRequest, writer: ResponseWriter) async throws {
        state.requestStarted(.oauth, jwt: nil)
        defer { state.requestFinished() }

        var drop = false
        if let fault = state.takeFault(for: .oauth, jwt: nil) {
            switch try await FaultPlayer.play(fault, writer: writer, streaming: false, served: state.profiles) {
            case .handled: return
            case .proceed(let after): drop = after != nil
            case .errorEvent: break
            }
        }
        let form = Self.form(String(decoding: request.body.readableBytesView, as: UTF8.self))
        guard form["grant_type"] == "refresh_token" else {
            return try await Self.refuse(writer, "unsupported_grant_type", "grant_type must be refresh_token")
        }
        guard form["client_id"] == "ide" else {
            return try await Self.refuse(writer, "invalid_client", "unknown client_id")
        }
        guard let refreshToken = form["refresh_token"], !refreshToken.isEmpty,
            let grant = state.exchange(refreshToken: refreshToken)
        else {
            logger.debug("refresh token refused")
            return try await Self.refuse(writer, "invalid_grant", "refresh token is invalid, expired or already used")
        }
        logger.debug("refresh token exchanged", metadata: ["refresh_token": "\(grant.recordID)", "rotated": "\(grant.refreshToken != nil)"])
        var json: [String: SimJSON] = [
            "id_token": .string(grant.idToken), "access_token": .string(grant.idToken),
            "token_type": "Bearer", "expires_in": .int(grant.expiresIn),
        ]
        if let fresh = grant.refreshToken { json["refresh_token"] = .string(fresh) }
        if drop { try await FaultPlayer.sendTruncated(.object(json), writer: writer) }
        try await writer.send(.ok, .object(json))
    }

    private static func refuse(_ writer: ResponseWriter, _ error: String, _ description: String) async throws {
        try await writer.send(.badRequest, ["error": .string(error), "error_description": .string(description)])
    }

    /// An `application/x-www-form-urlencoded` body (`+` and percent escapes decoded; last wins).
    static func form(_ body: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let plusless = s.replacingOccurrences(of: "+", with: " ")
                return plusless.removingPercentEncoding ?? plusless
            }
            result[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return result
    }
}
