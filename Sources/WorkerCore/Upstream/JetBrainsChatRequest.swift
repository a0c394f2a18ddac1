import Foundation
import Shared

/// The body of `POST /user/v5/llm/chat/stream/v8` (or v7).
struct JetBrainsChatRequest: Encodable, Sendable, Equatable {
    var prompt: String
    var profile: String
    var chat: Chat
    var parameters: Parameters?

    struct Chat: Encodable, Sendable, Equatable {
        var messages: [JetBrainsMessage]
    }

    struct Parameters: Encodable, Sendable, Equatable {
        var data: [Entry]
    }

    /// One item of `parameters.data`: a key `{type, fqdn}` or the value after it `{type, value}`.
    struct Entry: Encodable, Sendable, Equatable {
        var type: String
        var fqdn: String?
        var value: Value?

        static func key(_ fqdn: String, _ type: String) -> Entry { Entry(type: type, fqdn: fqdn) }
        static func value(_ value: Value) -> Entry { Entry(type: value.type, value: value) }

        enum CodingKeys: String, CodingKey { case type, fqdn, value }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(type, forKey: .type)
            try c.encodeIfPresent(fqdn, forKey: .fqdn)
            try c.encodeIfPresent(value, forKey: .value)
        }
    }

    /// A typed parameter value; `json` carries JSON *text* (a string on the wire).
    enum Value: Encodable, Sendable, Equatable {
        case double(Double)
        case int(Int)
        case bool(Bool)
        case text(String)
        case json(String)

        var type: String {
            switch self {
            case .double: return "double"
            case .int: return "int"
            case .bool: return "bool"
            case .text: return "text"
            case .json: return "json"
            }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .double(let d): try c.encode(d)
            case .int(let i): try c.encode(i)
            case .bool(let b): try c.encode(b)
            case .text(let s), .json(let s): try c.encode(s)
            }
        }
    }
}

extension JetBrainsChatRequest.Parameters {
    /// Appends a key entry and its value entry.
    mutating func append(_ fqdn: String, _ value: JetBrainsChatRequest.Value) {
        data.append(.key(fqdn, value.type))
        data.append(.value(value))
    }
}

/// One upstream chat message, v8 or v7 flavour.
enum JetBrainsMessage: Encodable, Sendable, Equatable {
    case system(String)
    case user(String)
    case media(mediaType: String, data: String)
    // v8
    case assistantText(String)
    case assistantTool(id: String, toolName: String, arguments: String)
    case toolResult(id: String, toolName: String, result: String)
    // v7
    case assistantV7(content: String, functionName: String?, arguments: String?)
    case functionResultV7(functionName: String, content: String)

    private enum Keys: String, CodingKey {
        case type, content, id, toolName, result, mediaType, data, functionCall, functionName
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        switch self {
        case .system(let text):
            try c.encode("system_message", forKey: .type)
            try c.encode(text, forKey: .content)
        case .user(let text):
            try c.encode("user_message", forKey: .type)
            try c.encode(text, forKey: .content)
        case .media(let mediaType, let data):
            try c.encode("media_message", forKey: .type)
            try c.encode(mediaType, forKey: .mediaType)
            try c.encode(data, forKey: .data)
        case .assistantText(let text):
            try c.encode("assistant_message_text", forKey: .type)
            try c.encode(text, forKey: .content)
        case .assistantTool(let id, let toolName, let arguments):
            try c.encode("assistant_message_tool", forKey: .type)
            try c.encode(id, forKey: .id)
            try c.encode(toolName, forKey: .toolName)
            try c.encode(arguments, forKey: .content)
        case .toolResult(let id, let toolName, let result):
            try c.encode("tool_message", forKey: .type)
            try c.encode(id, forKey: .id)
            try c.encode(toolName, forKey: .toolName)
            try c.encode(result, forKey: .result)
        case .assistantV7(let content, let functionName, let arguments):
            try c.encode("assistant_message", forKey: .type)
            try c.encode(content, forKey: .content)
            if let functionName {
                struct Call: Encodable { var functionName: String; var content: String }
                try c.encode(Call(functionName: functionName, content: arguments ?? "{}"), forKey: .functionCall)
            }
        case .functionResultV7(let functionName, let content):
            try c.encode("function_message", forKey: .type)
            try c.encode(functionName, forKey: .functionName)
            try c.encode(content, forKey: .content)
        }
    }
}
