import Logging
import Shared

/// `POST /user/v5/quota/get`: the JWT's quota in the shape `quota_shape` says. Spends nothing.
struct QuotaHandler: Sendable {
    let state: SimulatorState
    let logger: Logger

    func handle(_ request: ServerRequest, writer: ResponseWriter) async throws {
        let jwt = request.headers.first(name: "grazie-authenticate-jwt")
        state.requestStarted(.quota, jwt: jwt)
        defer { state.requestFinished() }

        var drop = false
        if let fault = state.takeFault(for: .quota, jwt: jwt) {
            switch try await FaultPlayer.play(fault, writer: writer, streaming: false, served: state.profiles) {
            case .handled: return
            case .proceed(let after): drop = after != nil
            case .errorEvent: break
            }
        }
        switch state.admit(jwt, checkQuota: false, spend: false) {
        case .failure(let refused):
            try await writer.sendRefusal(refused.refusal)
        case .success(let quota):
            let json = Self.body(quota, settings: state.protocolSettings)
            if drop { try await FaultPlayer.sendTruncated(json, writer: writer) }
            try await writer.send(.ok, json)
        }
    }

    /// The answer in the settings' shape; `until` and amounts in the settings' formats
    /// (except the `old` shape: numbers and an ISO `until`, as the one client that shows it).
    static func body(_ quota: QuotaSnapshot, settings: ProtocolSettings) -> SimJSON {
        let until = settings.until(quota.until)
        func amount(_ value: Double) -> SimJSON { ["amount": settings.amount(value)] }
        switch settings.quotaShape {
        case .current:
            return [
                "current": [
                    "current": amount(quota.current), "maximum": amount(quota.maximum), "until": until,
                ]
            ]
        case .tariff:
            return [
                "tariffQuota": [
                    "current": amount(quota.current), "maximum": amount(quota.maximum),
                    "available": amount(quota.maximum - quota.current), "until": until,
                ],
                "topUpQuota": [
                    "current": amount(quota.topUpCurrent), "maximum": amount(quota.topUpMaximum),
                    "available": amount(quota.topUpMaximum - quota.topUpCurrent),
                ],
            ]
        case .old:
            return [
                "dailyUsed": .double(quota.current), "dailyTotal": .double(quota.maximum),
                "until": .string(ISODate.format(quota.until)),
            ]
        }
    }
}
