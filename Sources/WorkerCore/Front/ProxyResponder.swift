import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Shared

/// The tenant's public HTTP API: OpenAI endpoints plus the seed's management endpoints.
/// `/health` is open; everything else needs one of the tenant's keys.
struct ProxyResponder: HTTPResponder {
    var errorShape: ErrorShape { .openAI }

    /// Anthropic's clients get their own shape on the Messages routes and on a `/v1/models`
    /// that carries `anthropic-version`.
    func errorShape(for head: HTTPRequestHead) -> ErrorShape {
        APIErrorBody.isAnthropicPath(head.uri) || head.headers.contains(name: "anthropic-version") ? .anthropic : .openAI
    }
    let runtime: WorkerRuntime
    private let router: Router

    /// `isDraining`: whether the server has begun its graceful shutdown (for `/ready`).
    init(runtime: WorkerRuntime, isDraining: @escaping @Sendable () -> Bool = { false }) {
        self.runtime = runtime
        let endpoints = ProxyEndpoints(runtime: runtime)
        var router = Router(errorShape: .openAI)
        router.on(.GET, "/health") { _, writer in try await endpoints.health(writer) }
        // Probes (Kubernetes): open like /health, and cheap (no report is built).
        router.on(.GET, "/live") { _, writer in try await writer.respond(status: .ok, json: #"{"status":"live"}"#) }
        router.on(.GET, "/ready") { _, writer in
            try await endpoints.ready(usableTokens: runtime.pool.usableCount, draining: isDraining(), writer)
        }
        router.on(.POST, "/v1/chat/completions") { routed, writer in
            try endpoints.authorize(routed.request)
            try await endpoints.chat(routed.request, writer: writer)
        }
        router.on(.POST, "/v1/responses") { routed, writer in
            try endpoints.authorize(routed.request)
            try await endpoints.responses(routed.request, writer: writer)
        }
        router.on(.GET, "/v1/models") { routed, writer in
            // Anthropic's SDKs and Claude Code send `anthropic-version`: answer in their format.
            if routed.request.headers.contains(name: "anthropic-version") {
                try await endpoints.anthropic(writer) {
                    try endpoints.authorize(routed.request)
                    try await writer.respond(status: .ok, json: endpoints.anthropicModelList())
                }
                return
            }
            try endpoints.authorize(routed.request)
            try await writer.respond(status: .ok, json: endpoints.encode(endpoints.modelList()))
        }
        router.on(.POST, "/v1/messages") { routed, writer in
            try await endpoints.anthropic(writer) {
                try endpoints.authorize(routed.request)
                try await endpoints.messages(routed.request, writer: writer)
            }
        }
        router.on(.POST, "/v1/messages/count_tokens") { routed, writer in
            try await endpoints.anthropic(writer) {
                try endpoints.authorize(routed.request)
                try await endpoints.countTokens(routed.request, writer: writer)
            }
        }
        router.on(.GET, "/stats") { routed, writer in
            try endpoints.authorize(routed.request)
            try await writer.respond(status: .ok, json: endpoints.encode(runtime.stats()))
        }
        router.on(.GET, "/metrics") { routed, writer in
            try endpoints.authorize(routed.request)
            try await writer.respond(status: .ok, headers: WorkerMetrics.contentType, body: ByteBuffer(string: runtime.metricsText()))
        }
        router.on(.GET, "/config") { routed, writer in
            try endpoints.authorize(routed.request)
            try await writer.respond(status: .ok, json: runtime.configSummary().jsonText)
        }
        router.on(.POST, "/reload") { routed, writer in
            try endpoints.authorize(routed.request)
            try await endpoints.reload(writer)
        }
        self.router = router
    }

    func respond(to request: ServerRequest, writer: ResponseWriter) async throws {
        let path = request.path
        let isChat = path == "/v1/chat/completions" || path == "/v1/messages" || path == "/v1/responses"
        defer { runtime.count(status: writer.status, chat: isChat) }
        guard let api = APIKind(method: request.method, path: path) else { return try await route(request, writer: writer) }
        // An API request: counted, timed and access-logged once it ends, however it ends.
        let observation = RequestObservation(api: api, started: .now)
        runtime.metrics.requestStarted()
        defer { runtime.observed(observation, status: writer.status) }
        try await RequestObservation.$current.withValue(observation) {
            try await route(request, writer: writer)
        }
    }

    private func route(_ request: ServerRequest, writer: ResponseWriter) async throws {
        do {
            try await router.respond(to: request, writer: writer)
        } catch let error as APIError {
            if !writer.headWritten { try await writer.respond(error) }
        }
    }

    func modelList() -> OpenAIWire.ModelList { ProxyEndpoints(runtime: runtime).modelList() }
}

/// What each route of `ProxyResponder` does.
struct ProxyEndpoints: Sendable {
    let runtime: WorkerRuntime

    func health(_ writer: ResponseWriter) async throws {
        let health = runtime.health()
        try await writer.respond(status: health.status == "down" ? .serviceUnavailable : .ok, json: encode(health))
    }

    /// 200 when the worker can answer a chat now (a usable JWT, not draining), else 503.
    func ready(usableTokens: Int, draining: Bool, _ writer: ResponseWriter) async throws {
        let ready = usableTokens > 0 && !draining
        try await writer.respond(
            status: ready ? .ok : .serviceUnavailable,
            json: #"{"ready":\#(ready),"usable_tokens":\#(usableTokens),"draining":\#(draining)}"#)
    }

    /// The tenant's keys, compared in constant time; a rejected key is logged as its fingerprint.
    func authorize(_ request: ServerRequest) throws(APIError) {
        let authenticator = runtime.authenticator
        if authenticator.isOpen { return }
        if let name = authenticator.matchedName(request.headers) {
            RequestObservation.current?.client(key: name)
            return
        }
        let presented = ClientAuthenticator.presentedKey(request.headers)
        runtime.logger.warning("rejected request with a wrong or missing API key", metadata: [
            "path": "\(request.path)", "key": "\(presented.map(fingerprint) ?? "none")",
        ])
        throw APIError.unauthorized
    }

    func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONEncoder.reports().encode(value), as: UTF8.self)
    }

    func reload(_ writer: ResponseWriter) async throws {
        do {
            let summary = try await runtime.reload()
            try await writer.respond(status: .ok, json: encode(summary))
        } catch {
            runtime.logger.error("reload failed, keeping the running configuration: \(error)")
            throw APIError(status: .badRequest, message: "reload failed, nothing changed: \(error)", type: "invalid_request_error", code: "reload_failed")
        }
    }

    func modelList() -> OpenAIWire.ModelList {
        OpenAIWire.ModelList(data: runtime.models.entries().map {
            .init(id: $0.id, created: 1_700_000_000, ownedBy: "jetbrains-ai", profile: $0.profile)
        })
    }

    func chat(_ request: ServerRequest, writer: ResponseWriter) async throws {
        let body = try decodeBody(ChatCompletionRequest.self, of: request)
        guard !body.messages.isEmpty else {
            throw APIError.invalidRequest("'messages' must contain at least one message", code: "invalid_messages", param: "messages")
        }
        if let n = body.n, n != 1 {
            throw APIError.invalidRequest("n=\(n) is not supported: JetBrains AI returns one choice per request", code: "unsupported_parameter", param: "n")
        }
        try await send(
            body, stream: body.stream ?? false,
            encoder: OpenAIChatEncoder(
                model: body.model, includeUsage: body.streamOptions?.includeUsage ?? false,
                promptTokens: TokenEstimator.inputTokens(of: body)
            ),
            writer: writer
        )
    }

    /// A request body as `T`, or the 400 that says what is wrong with it (shared by the fronts
    /// whose decoding errors are plain `DecodingError`s).
    func decodeBody<T: Decodable>(_ type: T.Type, of request: ServerRequest) throws(APIError) -> T {
        do {
            return try request.withBodyData { try JSONDecoder.shared.decode(T.self, from: $0) }
        } catch let error as DecodingError {
            throw APIError.invalidRequest("Invalid request body: \(SeedSettings.describe(error))", code: "invalid_request_body")
        } catch {
            throw APIError.invalidRequest("Invalid request body: not JSON", code: "invalid_json")
        }
    }

    /// The path every front shares once it has the internal chat request: resolve the model,
    /// translate, and run the one lease/failover/stream loop with the front's encoder.
    func send(
        _ body: ChatCompletionRequest, stream: Bool, encoder: any AnswerEncoder, session: String? = nil,
        modelNotFound: HTTPResponseStatus = .badRequest,
        translationError: (TranslationError) -> APIError = { APIError.invalidRequest($0.message, code: "invalid_messages", param: $0.param) },
        writer: ResponseWriter
    ) async throws {
        let settings = runtime.settings
        try runtime.usage.admit(model: body.model, settings: settings)
        var body = body
        if settings.fetchImageURLs { body = try await ImageFetcher(http: runtime.upstream.http).resolve(body) }
        let plan = try plan(
            body, stream: stream, encoder: encoder, session: session, modelNotFound: modelNotFound, translationError: translationError
        )
        try await runtime.chatProxy.run(plan, writer: writer)
    }

    /// Resolves, translates and encodes: the translated request and its encoding are gone
    /// when this returns, so a streaming answer holds one copy of a big body (the plan's), not four.
    private func plan(
        _ body: ChatCompletionRequest, stream: Bool, encoder: any AnswerEncoder, session: String?,
        modelNotFound: HTTPResponseStatus, translationError: (TranslationError) -> APIError
    ) throws -> ChatProxy.Plan {
        let profile = try resolve(body.model, status: modelNotFound)
        RequestObservation.current?.model(body.model)
        RequestObservation.current?.planned(profile: profile, tokensIn: TokenEstimator.inputTokens(of: body))
        let settings = runtime.settings
        let translation: Translation
        do {
            translation = try ChatTranslator(apiVersion: settings.apiVersion, parameterOverrides: settings.profileParameters)
                .translate(body, profile: profile)
        } catch {
            throw translationError(error)
        }
        return ChatProxy.Plan(
            body: translation.request.jsonBuffer, stream: stream, encoder: encoder,
            codex: translation.codex, restoredToolIDs: translation.restoredToolIDs, session: session
        )
    }

    /// A known alias or listed profile; else 400 `model_not_found` naming close matches.
    func resolve(_ model: String, status: HTTPResponseStatus = .badRequest) throws(APIError) -> String {
        switch runtime.models.resolve(model) {
        case .profile(let profile):
            return profile
        case .unknown(let suggestions):
            let hint = suggestions.isEmpty ? "" : " Did you mean " + suggestions.map { "'\($0)'" }.joined(separator: ", ") + "?"
            throw APIError(
                status: status,
                message: "The model '\(model)' does not exist.\(hint) GET /v1/models lists the available ones.",
                type: "invalid_request_error", code: "model_not_found", param: "model"
            )
        }
    }
}

extension JSONEncoder {
    /// For reports (health, stats): snake_case keys come from CodingKeys, dates as ISO 8601.
    static func reports() -> JSONEncoder {
        let encoder = JSONEncoder.compact()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting.insert(.sortedKeys)
        return encoder
    }
}
