import NIOHTTP1
import Shared

/// An error answered to the client as an OpenAI error object.
struct APIError: Error, Sendable {
    var status: HTTPResponseStatus
    var message: String
    var type: String
    var code: String?
    var param: String?
    var headers: HTTPHeaders = [:]

    var json: String { APIErrorBody.openAI(message: message, type: type, code: code, param: param) }

    static func invalidRequest(_ message: String, code: String? = nil, param: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", code: code, param: param)
    }

    static let unauthorized = APIError(
        status: .unauthorized,
        message: "Incorrect API key provided. Send one of the tenant's keys as 'Authorization: Bearer KEY' or 'x-api-key: KEY'.",
        type: "invalid_request_error", code: "invalid_api_key",
        headers: ["www-authenticate": "Bearer"]
    )

    static let noUsableJWT = APIError(
        status: .serviceUnavailable,
        message: "no available JWT tokens: no healthy JWT tokens available",
        type: "server_error", code: "no_available_tokens"
    )
}

extension ResponseWriter {
    func respond(_ error: APIError) async throws {
        try await respond(status: error.status, json: error.json, headers: error.headers)
    }
}
