import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Shared

/// The tenant's public HTTP API: OpenAI endpoints plus the seed's management endpoints.
struct ProxyResponder: HTTPResponder {
    let runtime: WorkerRuntime

    private static let routes: [String: [HTTPMethod]] = [
        "/v1/chat/completions": [.POST],
        "/v1/models": [.GET],
        "/health": [.GET],
        "/stats": [.GET],
        "/config": [.GET],
        "/reload": [.POST],
    ]

    func respond(to request: ServerRequest, writer: ResponseWriter) async throws {
        let path = request.path.count > 1 && request.path.hasSuffix("/") ? String(request.path.dropLast()) : request.path
        let isChat = path == "/v1/chat/completions"
        defer { runtime.count(status: writer.status, chat: isChat) }
        do {
            guard let allowed = Self.routes[path] else { throw APIError.notFound(path) }
            guard allowed.contains(request.method) else {
                throw APIError.methodNotAllowed(request.method, path, allowed: allowed)
            }
            if path == "/health" {
                let health = runtime.health()
                try await writer.respond(status: health.status == "down" ? .serviceUnavailable : .ok, json: encode(health))
                return
            }
            guard runtime.authenticator.isAuthorized(request.headers) else {
                let presented = ClientAuthenticator.presentedKey(request.headers)
                runtime.logger.warning("rejected request with a wrong or missing API key", metadata: [
                    "path": "\(path)", "key": "\(presented.map(fingerprint) ?? "none")",
                ])
                throw APIError.unauthorized
            }
            switch path {
            case "/v1/chat/completions": try await chat(request, writer: writer)
            case "/v1/models": try await writer.respond(status: .ok, json: encode(modelList()))
            case "/stats": try await writer.respond(status: .ok, json: encode(runtime.stats()))
            case "/config": try await writer.respond(status: .ok, json: runtime.configSummary().jsonText)
            case "/reload": try await reload(writer)
            default: throw APIError.notFound(path)
            }
        } catch let error as APIError {
            if !writer.headWritten { try await writer.respond(error) }
        }
    }

    private func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONEncoder.reports().encode(value), as: UTF8.self)
    }

    private func reload(_ writer: ResponseWriter) async throws {
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

    private func chat(_ request: ServerRequest, writer: ResponseWriter) async throws {
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
            model: body.model, body: ByteBuffer(bytes: encoded), stream: body.stream ?? false,
            includeUsage: body.streamOptions?.includeUsage ?? false,
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
