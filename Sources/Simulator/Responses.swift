import Foundation
import NIOCore
import NIOHTTP1
import Shared

extension HTTPResponseStatus {
    /// The service's non-standard "quota exhausted".
    static let quotaExhausted = HTTPResponseStatus(statusCode: 477, reasonPhrase: "Quota Exhausted")

    static func code(_ code: Int) -> HTTPResponseStatus {
        code == 477 ? .quotaExhausted : HTTPResponseStatus(statusCode: code)
    }
}

extension ResponseWriter {
    /// A complete JSON response.
    func send(_ status: HTTPResponseStatus, _ json: SimJSON, headers: HTTPHeaders = [:]) async throws {
        try await respond(status: status, json: json.text, headers: headers)
    }

    /// A complete plain-text response.
    func sendText(_ status: HTTPResponseStatus, _ text: String, headers: HTTPHeaders = [:]) async throws {
        var headers = headers
        headers.replaceOrAdd(name: "content-type", value: "text/plain; charset=utf-8")
        try await respond(status: status, headers: headers, body: ByteBuffer(string: text))
    }

    /// A given body: as JSON when it parses as JSON, else as plain text.
    func sendBody(_ status: HTTPResponseStatus, _ body: String, headers: HTTPHeaders = [:]) async throws {
        if SimJSON.parse(body) != nil {
            try await respond(status: status, json: body, headers: headers)
        } else {
            try await sendText(status, body, headers: headers)
        }
    }

    /// A small JSON error: `{"error": "<code>", "message": "<message>"}`.
    func sendError(_ status: HTTPResponseStatus, code: String, message: String, headers: HTTPHeaders = [:]) async throws {
        try await send(status, ["error": .string(code), "message": .string(message)], headers: headers)
    }

    /// 401 or 477 for a refused JWT.
    func sendRefusal(_ refusal: Refusal) async throws {
        switch refusal {
        case .missingJWT:
            try await sendError(.unauthorized, code: "unauthorized", message: "missing grazie-authenticate-jwt header")
        case .unknownJWT:
            try await sendError(.unauthorized, code: "unauthorized", message: "unknown JWT")
        case .invalidJWT:
            try await sendError(.unauthorized, code: "unauthorized", message: "invalid JWT")
        case .expiredJWT:
            try await sendError(.unauthorized, code: "unauthorized", message: "JWT expired")
        case .quotaExhausted(let quota):
            try await send(
                .quotaExhausted,
                [
                    "error": "quota_exhausted", "message": "no quota left",
                    "current": .double(quota.current), "maximum": .double(quota.maximum),
                    "until": .string(ISODate.format(quota.until)),
                ]
            )
        }
    }
}

/// Thrown to end a response by closing the connection without finishing it.
struct DropConnection: Error {}
