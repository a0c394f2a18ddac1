import Foundation
import NIOCore
import Shared

/// Anthropic's Messages API on a tenant's port: `/v1/messages`, `/v1/messages/count_tokens`,
/// and `/v1/models` in Anthropic's format. Every error on these routes — authentication
/// included — is in Anthropic's shape.
extension ProxyEndpoints {
    /// Runs `body`, answering any `APIError` it throws in Anthropic's error shape.
    func anthropic(_ writer: ResponseWriter, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as APIError {
            guard !writer.headWritten else { return }
            let (status, type) = AnthropicEncoder.anthropicError(error)
            try await writer.respond(status: status, json: AnthropicEncoder.errorJSON(type: type, message: error.message), headers: error.headers)
        }
    }

    /// The Messages request and the internal chat request made from it, or the 400.
    private func decodeMessages(_ request: ServerRequest, requireMaxTokens: Bool) throws(APIError) -> (MessagesRequest, ChatCompletionRequest) {
        let decoded = try decodeBody(MessagesRequest.self, of: request)
        do {
            return (decoded, try decoded.chatRequest(requireMaxTokens: requireMaxTokens, allowImageURLs: runtime.settings.fetchImageURLs))
        } catch {
            throw APIError.invalidRequest(error.message, code: "invalid_request")
        }
    }

    func messages(_ request: ServerRequest, writer: ResponseWriter) async throws {
        let (decoded, chat) = try decodeMessages(request, requireMaxTokens: true)
        let session = request.headers.first(name: "x-claude-code-session-id").flatMap { $0.isEmpty ? nil : String($0.prefix(200)) }
        try await send(
            chat, stream: decoded.stream ?? false,
            encoder: AnthropicEncoder(model: decoded.model, inputTokens: TokenEstimator.inputTokens(of: chat)),
            session: session, writer: writer
        )
    }

    /// `{"input_tokens": N}` from the same estimator as `usage`.
    func countTokens(_ request: ServerRequest, writer: ResponseWriter) async throws {
        let (decoded, chat) = try decodeMessages(request, requireMaxTokens: false)
        _ = try resolve(decoded.model)
        try await writer.respond(status: .ok, json: #"{"input_tokens":\#(TokenEstimator.inputTokens(of: chat))}"#)
    }

    /// Anthropic's list format: `data` of `{type: "model", id, display_name, created_at}`,
    /// `has_more`, `first_id`, `last_id`. Claude profiles appear under their `claude-…` aliases
    /// (and every other listed id as itself), so Claude Code finds the names it knows.
    func anthropicModelList() -> String {
        let entries = runtime.models.entries()
        let ids = entries.map(\.id).filter { !$0.hasPrefix("anthropic-") }
        let data: [JSONValue] = ids.map { id in
            .object([
                "type": .string("model"), "id": .string(id), "display_name": .string(id),
                "created_at": .string("2025-01-01T00:00:00Z"),
            ])
        }
        return JSONValue.object([
            "data": .array(data), "has_more": .bool(false),
            "first_id": ids.first.map(JSONValue.string) ?? .null, "last_id": ids.last.map(JSONValue.string) ?? .null,
        ]).jsonText
    }
}
