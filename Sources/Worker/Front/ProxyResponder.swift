import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Shared

/// The tenant's public HTTP API: OpenAI endpoints plus the seed's management endpoints.
/// `/health` is open; everything else needs one of the tenant's keys.
struct ProxyResponder: HTTPResponder {
    let runtime: WorkerRuntime
    private let router: Router

    init(runtime: WorkerRuntime) {
        self.runtime = runtime
        let endpoints = ProxyEndpoints(runtime: runtime)
        var router = Router(errorShape: .openAI)
        router.on(.GET, "/health") { _, writer in try await endpoints.health(writer) }
        router.on(.POST, "/v1/chat/completions") { routed, writer in
            try endpoints.authorize(routed.request)
            try await endpoints.chat(routed.request, writer: writer)
        }
        router.on(.POST, "/v1/responses") { routed, writer in
            try endpoints.authorize(routed.request)
            try await endpoints.responses(routed.request, writer: writer)
        }
        router.on(.GET, "/v1/models") { routed, writer in
            try endpoints.authorize(routed.request)
            try await writer.respond(status: .ok, json: endpoints.encode(endpoints.modelList()))
        }
        router.on(.GET, "/stats") { routed, writer in
            try endpoints.authorize(routed.request)
            try await writer.respond(status: .ok, json: endpoints.encode(runtime.stats()))
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
        let isChat = request.path.split(separator: "/") == ["v1", "chat", "completions"]
        defer { runtime.count(status: writer.status, chat: isChat) }
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

    /// The tenant's keys, compared in constant time; a rejected key is logged as its fingerprint.
    func authorize(_ request: ServerRequest) throws(APIError) {
        guard runtime.authenticator.isAuthorized(request.headers) else {
            let presented = ClientAuthenticator.presentedKey(request.headers)
            runtime.logger.warning("rejected request with a wrong or missing API key", metadata: [
                "path": "\(request.path)", "key": "\(presented.map(fingerprint) ?? "none")",
            ])
            throw APIError.unauthorized
        }
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
        let body: ChatCompletionRequest
        do {
            body = try JSONDecoder.shared.decode(ChatCompletionRequest.self, from: Data(request.body.readableBytesView))
        } catch let error as DecodingError {
            throw APIError.invalidRequest("Invalid request body: \(SeedSettings.describe(error))", code: "invalid_request_body")
        } catch {
            throw APIError.invalidRequest("Invalid request body: not JSON", code: "invalid_json")
        }
        guard !body.messages.isEmpty else {
            throw APIError.invalidRequest("'messages' must contain at least one message", code: "invalid_messages", param: "messages")
        }
        if let n = body.n, n != 1 {
            throw APIError.invalidRequest("n=\(n) is not supported: JetBrains AI returns one choice per request", code: "unsupported_parameter", param: "n")
        }
        let profile: String
        switch runtime.models.resolve(body.model) {
        case .profile(let p):
            profile = p
        case .unknown(let suggestions):
            let hint = suggestions.isEmpty ? "" : " Did you mean " + suggestions.map { "'\($0)'" }.joined(separator: ", ") + "?"
            throw APIError.invalidRequest(
                "The model '\(body.model)' does not exist.\(hint) GET /v1/models lists the available ones.",
                code: "model_not_found", param: "model"
            )
        }
        let settings = runtime.settings
        let translation: Translation
        do {
            translation = try ChatTranslator(apiVersion: settings.apiVersion, parameterOverrides: settings.profileParameters)
                .translate(body, profile: profile)
        } catch {
            throw APIError.invalidRequest(error.message, code: "invalid_messages", param: error.param)
        }
        let encoded = try JSONEncoder.shared.encode(translation.request)
        let plan = ChatProxy.Plan(
            body: ByteBuffer(bytes: encoded), stream: body.stream ?? false,
            encoder: OpenAIChatEncoder(model: body.model, includeUsage: body.streamOptions?.includeUsage ?? false),
            codex: translation.codex, restoredToolIDs: translation.restoredToolIDs
        )
        try await runtime.chatProxy.run(plan, writer: writer)
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
