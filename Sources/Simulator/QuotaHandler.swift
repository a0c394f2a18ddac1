import Logging
import Shared

/// `POST /user/v5/quota/get`: the JWT's quota, in the new or the old shape. Spends nothing.
struct QuotaHandler: Sendable {
    let state: SimulatorState
    let logger: Logger

    func handle(_ request: ServerRequest, writer: ResponseWriter) async throws {
        let jwt = request.headers.first(name: "grazie-authenticate-jwt")
        state.requestStarted(.quota, jwt: jwt)
        defer { state.requestFinished() }

        var drop = false
        if let fault = state.takeFault(for: .quota, jwt: jwt) {
            switch try await FaultPlayer.play(fault, writer: writer, streaming: false) {
            case .handled: return
            case .proceed(let after): drop = after != nil
            }
        }
        switch state.admit(jwt, checkQuota: false, spend: false) {
        case .failure(let refused):
            try await writer.sendRefusal(refused.refusal)
        case .success(let quota):
            let json = Self.body(quota, format: state.quotaFormat)
            if drop { try await FaultPlayer.sendTruncated(json, writer: writer) }
            try await writer.send(.ok, json)
        }
    }

    static func body(_ quota: QuotaSnapshot, format: QuotaFormat) -> SimJSON {
        let until = SimJSON.string(ISODate.format(quota.until))
        switch format {
        case .new:
            return [
                "current": [
                    "current": ["amount": .string(SimJSON.format(quota.current))],
                    "maximum": ["amount": .string(SimJSON.format(quota.maximum))],
                ],
                "until": until,
            ]
        case .old:
            return ["dailyUsed": .double(quota.current), "dailyTotal": .double(quota.maximum), "until": until]
        }
    }
}
