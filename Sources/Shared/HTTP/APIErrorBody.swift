import Foundation
import NIOHTTP1

/// The error bodies of the two APIs a tenant's port speaks, shared by the worker and by the
/// supervisor (which answers the port itself while no worker serves it).
public enum APIErrorBody {
    /// OpenAI's `{"error": {"message", "type", "param", "code"}}`.
    public static func openAI(message: String, type: String, code: String? = nil, param: String? = nil) -> String {
        let envelope = OpenAIEnvelope(error: .init(message: message, type: type, param: param, code: code))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(envelope)) ?? Data("{\"error\":{\"message\":\"error\"}}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    private struct OpenAIEnvelope: Encodable {
        struct Payload: Encodable {
            var message: String
            var type: String
            var param: String?
            var code: String?
        }
        var error: Payload
    }

    /// Anthropic's `{"type": "error", "error": {"type", "message"}}`.
    public static func anthropic(type: String, message: String) -> String {
        JSONValue.object([
            "type": .string("error"),
            "error": .object(["type": .string(type), "message": .string(message)]),
        ]).jsonText
    }

    /// Anthropic's error type for a status (`overloaded_error` for 503 and 529, `api_error` for
    /// other 5xx).
    public static func anthropicType(for status: HTTPResponseStatus) -> String {
        switch status.code {
        case 400, 405, 422: return "invalid_request_error"
        case 401: return "authentication_error"
        case 403, 451: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 503, 529: return "overloaded_error"
        default: return "api_error"
        }
    }

    /// Anthropic's routes (`/v1/messages`, `/v1/messages/count_tokens`): errors there are
    /// Anthropic-shaped, everywhere else OpenAI-shaped.
    public static func isAnthropicPath(_ path: String) -> Bool {
        let segments = path.split(separator: "?", maxSplits: 1).first.map { $0.split(separator: "/") } ?? []
        return segments.count >= 2 && segments[0] == "v1" && segments[1] == "messages"
    }
}

extension ErrorShape {
    /// OpenAI's error object, typed `server_error` for 5xx and `invalid_request_error` otherwise.
    public static let openAI = ErrorShape { error in
        APIErrorBody.openAI(
            message: error.message,
            type: error.status.code >= 500 ? "server_error" : "invalid_request_error",
            code: error.code
        )
    }

    /// Anthropic's error object, its type from the status.
    public static let anthropic = ErrorShape { error in
        APIErrorBody.anthropic(type: APIErrorBody.anthropicType(for: error.status), message: error.message)
    }
}
