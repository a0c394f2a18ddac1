import Foundation

/// OpenAI-shaped error objects: `{"error": {"message", "type", "param", "code"}}`.
public enum ErrorBody {
    public struct Payload: Codable, Sendable, Equatable {
        public var message: String
        public var type: String
        public var param: String?
        public var code: String?
    }

    private struct Envelope: Codable { var error: Payload }

    public static func json(message: String, type: String, code: String? = nil, param: String? = nil) -> String {
        let envelope = Envelope(error: Payload(message: message, type: type, param: param, code: code))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(envelope)) ?? Data("{\"error\":{\"message\":\"error\"}}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
