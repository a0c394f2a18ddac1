import Foundation
import NIOCore
import Shared

extension ProxyEndpoints {
    /// `POST /v1/responses`: the OpenAI Responses API. The request becomes the one internal
    /// chat request (`ResponsesRequest.chatRequest()`), which takes the same way as a chat
    /// completion: model resolution, translation (Codex profiles to the upstream's responses
    /// endpoint), the shared lease → attempt → failover → stream loop; only the wire format
    /// (`ResponsesEncoder`) is this API's own.
    func responses(_ request: ServerRequest, writer: ResponseWriter) async throws {
        let body = try Self.decodeResponsesRequest(Data(request.body.readableBytesView))
        let profile: String
        switch runtime.models.resolve(body.model) {
        case .profile(let p):
            profile = p
        case .unknown(let suggestions):
            let hint = suggestions.isEmpty ? "" : " Did you mean " + suggestions.map { "'\($0)'" }.joined(separator: ", ") + "?"
            throw APIError(
                status: .notFound,
                message: "The model '\(body.model)' does not exist.\(hint) GET /v1/models lists the available ones.",
                type: "invalid_request_error", code: "model_not_found", param: "model"
            )
        }
        let chat = body.chatRequest()
        let settings = runtime.settings
        let translation: Translation
        do {
            translation = try ChatTranslator(apiVersion: settings.apiVersion, parameterOverrides: settings.profileParameters)
                .translate(chat, profile: profile)
        } catch {
            throw APIError.invalidRequest(error.message, code: "invalid_input", param: Self.responsesParam(error.param))
        }
        let plan = ChatProxy.Plan(
            body: ByteBuffer(bytes: try JSONEncoder.shared.encode(translation.request)), stream: body.stream,
            encoder: ResponsesEncoder(
                model: body.model, echo: body.echo, inputTokens: TokenEstimator.inputTokens(of: chat),
                namespaces: Dictionary(body.tools.compactMap { tool in tool.namespace.map { (tool.name, $0) } }, uniquingKeysWith: { a, _ in a })
            ),
            codex: translation.codex, restoredToolIDs: translation.restoredToolIDs
        )
        try await runtime.chatProxy.run(plan, writer: writer)
    }

    /// The request, or the 400 that says what is wrong with it.
    static func decodeResponsesRequest(_ data: Data) throws(APIError) -> ResponsesRequest {
        do {
            return try JSONDecoder.shared.decode(ResponsesRequest.self, from: data)
        } catch let error as APIError {
            throw error
        } catch let error as DecodingError {
            throw ResponsesRequest.describe(error)
        } catch {
            throw APIError.invalidRequest("Invalid request body: not JSON", code: "invalid_json")
        }
    }

    /// The translator names chat fields (`messages[3]…`): the Responses API has none of them,
    /// so only the fields both share are kept.
    static func responsesParam(_ param: String?) -> String? {
        guard let param else { return nil }
        if param.hasPrefix("messages") { return "input" }
        return param
    }
}
