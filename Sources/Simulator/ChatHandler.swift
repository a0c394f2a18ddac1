import Foundation
import Logging
import Shared

/// `POST /user/v5/llm/chat/stream/v8` and `/v7`.
///
/// Order: count and record the request, apply a fault, check the JWT (401) and its quota
/// (477), parse the body (400), spend one unit of quota, stream the planned events, then
/// `QuotaMetadata` and `data: end`.
struct ChatHandler: Sendable {
    let state: SimulatorState
    let logger: Logger

    func handle(_ request: ServerRequest, version: APIVersion, writer: ResponseWriter) async throws {
        let jwt = request.headers.first(name: "grazie-authenticate-jwt")
        let body = SimJSON.parse(Data(request.body.readableBytesView))
        state.record(RecordedRequest(jwt: jwt, path: request.path, version: version, body: body ?? .null))
        state.requestStarted(.chat, jwt: jwt)
        defer { state.requestFinished() }

        var dropAfter: Int?
        if let fault = state.takeFault(for: .chat, jwt: jwt) {
            logger.debug("chat fault", metadata: ["fault": "\(fault.id)", "kind": "\(fault.kind.rawValue)"])
            switch try await FaultPlayer.play(fault, writer: writer, streaming: true) {
            case .handled: return
            case .proceed(let after): dropAfter = after
            }
        }

        if case .failure(let refused) = state.admit(jwt, checkQuota: true, spend: false) {
            return try await writer.sendRefusal(refused.refusal)
        }
        let chat: ChatRequest
        do throws(ChatRequestError) {
            guard let body else { throw ChatRequestError(message: "body is not JSON") }
            chat = try ChatRequest(body: body, version: version)
        } catch {
            return try await writer.sendError(.badRequest, code: "bad_request", message: error.message)
        }
        let quota: QuotaSnapshot
        switch state.admit(jwt, checkQuota: true, spend: true) {
        case .failure(let refused): return try await writer.sendRefusal(refused.refusal)
        case .success(let snapshot): quota = snapshot
        }

        let plan = AnswerPlanner.plan(chat, defaults: state.defaults, nextCallID: state.nextCallID)
        var sse = SSEWriter(writer: writer, dropAfter: dropAfter)
        try await sse.start()
        for event in plan.events {
            if event.delayMs > 0 { try await Task.sleep(for: .milliseconds(event.delayMs)) }
            try await sse.send(event.payload)
        }
        try await sse.send(Self.quotaMetadata(quota))
        try await sse.finish()
    }

    static func quotaMetadata(_ quota: QuotaSnapshot) -> SimJSON {
        [
            "type": "QuotaMetadata",
            "spent": ["amount": "1"],
            "updated": [
                "current": ["amount": .string(SimJSON.format(quota.current))],
                "maximum": ["amount": .string(SimJSON.format(quota.maximum))],
                "until": .string(ISODate.format(quota.until)),
            ],
        ]
    }
}
