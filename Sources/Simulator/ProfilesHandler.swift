import Logging
import Shared

/// `GET /user/v5/llm/profiles/v3`: the profiles a JWT may use, `{"profiles": [{"id", …}]}`.
/// JWT checks and faults as for the quota endpoint; spends nothing.
struct ProfilesHandler: Sendable {
    let state: SimulatorState
    let logger: Logger

    func handle(_ request: ServerRequest, writer: ResponseWriter) async throws {
        let jwt = request.headers.first(name: "grazie-authenticate-jwt")
        state.requestStarted(.profiles, jwt: jwt)
        defer { state.requestFinished() }
        let profiles = state.profiles

        var drop = false
        if let fault = state.takeFault(for: .profiles, jwt: jwt) {
            switch try await FaultPlayer.play(fault, writer: writer, streaming: false, served: profiles) {
            case .handled: return
            case .proceed(let after): drop = after != nil
            case .errorEvent: break
            }
        }
        switch state.admit(jwt, checkQuota: false, spend: false) {
        case .failure(let refused):
            try await writer.sendRefusal(refused.refusal)
        case .success:
            let json: SimJSON = ["profiles": .array(profiles.map(ProfileCatalog.entry))]
            if drop { try await FaultPlayer.sendTruncated(json, writer: writer) }
            try await writer.send(.ok, json)
        }
    }
}
