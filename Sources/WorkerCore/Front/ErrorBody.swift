import Foundation
import Shared

/// OpenAI-shaped error objects: `{"error": {"message", "type", "param", "code"}}`.
enum ErrorBody {
    struct Payload: Codable, Sendable, Equatable {
        var message: String
        var type: String
        var param: String?
        var code: String?
    }

    private struct Envelope: Codable { var error: Payload }

    static func json(message: String, type: String, code: String? = nil, param: String? = nil) -> String {
        let envelope = Envelope(error: Payload(message: message, type: type, param: param, code: code))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(envelope)) ?? Data("{\"error\":{\"message\":\"error\"}}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

extension ErrorShape {
    /// OpenAI's `{"error": {"message", "type", "code"}}`, typed `server_error` for 5xx and
    /// `invalid_request_error` otherwise: the worker's public and control routes.
    static let openAI = ErrorShape { error in
        ErrorBody.json(
            message: error.message,
            type: error.status.code >= 500 ? "server_error" : "invalid_request_error",
            code: error.code
        )
    }
}

extension ErrorShape {
    /// Anthropic's `{"type": "error", "error": {"type", "message"}}`, for errors the server
    /// answers on the Messages routes before they reach them (413, 408, 503 overloaded).
    static let anthropic = ErrorShape { error in
        let (_, type) = AnthropicEncoder.anthropicError(APIError(status: error.status, message: error.message, type: "", code: error.code))
        return AnthropicEncoder.errorJSON(type: type, message: error.message)
    }
}
