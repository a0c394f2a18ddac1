import Foundation
import Logging
import Shared

/// `POST /user/v5/llm/chat/stream/v8`, `/v7` and the Codex `/user/v5/llm/responses/stream/v8`.
///
/// Order: count and record the request, apply a fault, check the JWT (401) and its quota
/// (477), parse the body (400), check the profile and the parameters against the endpoint
/// and the profile list (400, plain text), spend one unit of quota, stream the planned
/// events, then `QuotaMetadata` and `data: end`. The protocol settings of the moment shape
/// the events (`event_type`, noise, `until` and amount formats).
struct ChatHandler: Sendable {
    let state: SimulatorState
    let logger: Logger

    func handle(_ request: ServerRequest, route: ChatRoute, writer: ResponseWriter) async throws {
        let jwt = request.headers.first(name: "grazie-authenticate-jwt")
        let body = SimJSON.parse(Data(request.body.readableBytesView))
        var headers: [String: String] = [:]
        for name in RecordedRequest.headerNames {
            if let value = request.headers.first(name: name) { headers[name] = value }
        }
        state.record(
            RecordedRequest(jwt: jwt, path: request.path, version: route.version, body: body ?? .null, headers: headers)
        )
        state.requestStarted(.chat, jwt: jwt, path: route.rawValue)
        defer { state.requestFinished() }
        let settings = state.protocolSettings
        let profiles = state.profiles

        var dropAfter: Int?
        var errorFault: Fault?
        if let fault = state.takeFault(for: .chat, jwt: jwt) {
            logger.debug("chat fault", metadata: ["fault": "\(fault.id)", "kind": "\(fault.kind.rawValue)"])
            let outcome = try await FaultPlayer.play(
                fault, writer: writer, streaming: true, served: Self.served(by: route, among: profiles)
            )
            switch outcome {
            case .handled: return
            case .proceed(let after): dropAfter = after
            case .errorEvent(let injected): errorFault = injected
            }
        }

        if case .failure(let refused) = state.admit(jwt, checkQuota: true, spend: false) {
            return try await writer.sendRefusal(refused.refusal)
        }
        let chat: ChatRequest
        do throws(ChatRequestError) {
            guard let body else { throw ChatRequestError(message: "body is not JSON") }
            chat = try ChatRequest(body: body, version: route.version)
        } catch {
            return try await writer.sendError(.badRequest, code: "bad_request", message: error.message)
        }
        if let rejection = Self.rejection(of: chat, route: route, settings: settings, profiles: profiles) {
            logger.debug("chat refused", metadata: ["reason": "\(rejection)"])
            return try await writer.sendText(.badRequest, rejection)
        }
        let quota: QuotaSnapshot
        switch state.admit(jwt, checkQuota: true, spend: true) {
        case .failure(let refused): return try await writer.sendRefusal(refused.refusal)
        case .success(let snapshot): quota = snapshot
        }

        let plan = AnswerPlanner.plan(
            chat, defaults: state.defaults, omitSingleIndex: settings.omitParallelIndexWhenSingle,
            nextCallID: state.nextCallID
        )
        var events = plan.events
        events.append(PlannedEvent(delayMs: 0, payload: Self.quotaMetadata(quota, settings: settings)))
        events = Self.decorate(events, settings: settings)

        var sse = SSEWriter(writer: writer, dropAfter: dropAfter)
        try await sse.start()
        for (index, event) in events.enumerated() {
            if let errorFault, index == errorFault.afterEvents {
                return try await sse.finish(withError: Self.errorEvent(errorFault), end: !errorFault.noEnd)
            }
            if event.delayMs > 0 { try await Task.sleep(for: .milliseconds(event.delayMs)) }
            try await sse.send(event.payload)
        }
        if let errorFault {
            return try await sse.finish(withError: Self.errorEvent(errorFault), end: !errorFault.noEnd)
        }
        try await sse.finish()
    }

    /// The profiles an endpoint serves, as named in its `Unsupported model [...]` answer.
    static func served(by route: ChatRoute, among profiles: [String]) -> [String] {
        profiles.filter { ProfileCatalog.isCodex($0) == (route == .responses) }
    }

    /// Why the endpoint refuses this request (the plain-text 400 body), nil when it does not.
    ///
    /// Codex profiles are served by the responses endpoint only, and that endpoint serves
    /// nothing else and takes no tools or parameters (always). A profile missing from the
    /// profile list is refused with `reject_unknown_profiles`; a parameter the profile's
    /// family does not take with `reject_unsupported_parameters` (`ParameterFamily`).
    static func rejection(of chat: ChatRequest, route: ChatRoute, settings: ProtocolSettings, profiles: [String]) -> String? {
        let profile = chat.profile ?? ""
        let unsupported = ProfileCatalog.unsupportedModel(served(by: route, among: profiles))
        if ProfileCatalog.isCodex(profile) != (route == .responses) { return unsupported }
        if settings.rejectUnknownProfiles, !profiles.contains(profile) { return unsupported }
        if route == .responses {
            if chat.hasParameters || !chat.toolNames.isEmpty {
                let named = chat.parameterKeys.first.map { " (\($0))" } ?? ""
                return "Tools and parameters are not supported for profile \(profile)\(named)"
            }
            return nil
        }
        if settings.rejectUnsupportedParameters,
            let parameter = ParameterFamily.of(profile: profile).firstRejected(chat.parameterKeys)
        {
            return "Unsupported parameter \(parameter) for profile \(profile)"
        }
        return nil
    }

    static func quotaMetadata(_ quota: QuotaSnapshot, settings: ProtocolSettings) -> SimJSON {
        var updated: [String: SimJSON] = [
            "current": ["amount": settings.amount(quota.current)],
            "maximum": ["amount": settings.amount(quota.maximum)],
            "until": settings.until(quota.until),
        ]
        if settings.extraNoise {
            updated["license"] = "SIMULATOR-LICENSE"
            updated["quotaID"] = ["quotaId": "sim-quota-ai-assistant"]
        }
        return [
            "type": "QuotaMetadata",
            "spent": ["amount": settings.amountFormat == .string ? SimJSON.string("1") : SimJSON.int(1)],
            "updated": .object(updated),
        ]
    }

    static func errorEvent(_ fault: Fault) -> SimJSON {
        var event: [String: SimJSON] = ["event_type": "error", "error_message": .string(fault.message)]
        if fault.withType { event["type"] = "error" }
        return .object(event)
    }

    /// Unknown fields every event carries when `extra_noise` is on.
    static let noiseFields: [String: SimJSON] = [
        "spentTokens": 3,
        "traceInfo": ["span": "sim-span", "nested": ["depth": 2, "flags": [true, .null], "ratio": 0.5]],
    ]

    /// Adds `event_type` and, with `extra_noise`, the metadata events the worker must skip
    /// (`ExecutionMetadata` first, `UnknownMetadata` after the first answer event,
    /// `FunctionCallMetadata` before `FinishMetadata`) and unknown fields on every event.
    static func decorate(_ events: [PlannedEvent], settings: ProtocolSettings) -> [PlannedEvent] {
        var out = events
        if settings.extraNoise {
            let finish = out.firstIndex { $0.payload["type"]?.stringValue == "FinishMetadata" } ?? out.count
            out.insert(
                PlannedEvent(
                    delayMs: 0,
                    payload: ["type": "FunctionCallMetadata", "functionName": .null, "metadata": ["source": "simulator", "calls": []]]
                ),
                at: finish
            )
            out.insert(
                PlannedEvent(delayMs: 0, payload: ["type": "UnknownMetadata", "payload": ["kind": "sim", "values": [1, 2, 3]]]),
                at: min(1, out.count)
            )
            out.insert(
                PlannedEvent(
                    delayMs: 0,
                    payload: ["type": "ExecutionMetadata", "executionId": "sim-execution", "timings": ["queueMs": 0, "model": "sim"]]
                ),
                at: 0
            )
        }
        return out.map { event in
            guard case .object(var members) = event.payload else { return event }
            if settings.eventType { members["event_type"] = "data" }
            if settings.extraNoise {
                for (key, value) in noiseFields where members[key] == nil { members[key] = value }
            }
            return PlannedEvent(delayMs: event.delayMs, payload: .object(members))
        }
    }
}
