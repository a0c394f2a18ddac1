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
        let body = try request.withBodyData { try Self.decodeResponsesRequest($0) }
        let chat = body.chatRequest()
        try await send(
            chat, stream: body.stream,
            encoder: ResponsesEncoder(
                model: body.model, echo: body.echo, inputTokens: TokenEstimator.inputTokens(of: chat),
                namespaces: Dictionary(body.tools.compactMap { tool in tool.namespace.map { (tool.name, $0) } }, uniquingKeysWith: { a, _ in a })
            ),
            modelNotFound: .notFound,
            translationError: { APIError.invalidRequest($0.message, code: "invalid_input", param: Self.responsesParam($0.param)) },
            writer: writer
        )
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
