import Foundation
import NIOCore
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

// MARK: - Hand-written JSON (every chat sends one; `UpstreamRequestJSONTests` compares it with
// JSONEncoder's, which the `Encodable` conformances above still define)

extension JetBrainsChatRequest {
    /// The request body, as `JSONEncoder.shared` would write it.
    var jsonBuffer: ByteBuffer {
        var out = ""
        out.reserveCapacity(256 + chat.messages.reduce(0) { $0 + $1.textSize })
        out += #"{"prompt":"#
        JSONText.appendString(prompt, to: &out)
        out += #","profile":"#
        JSONText.appendString(profile, to: &out)
        out += #","chat":{"messages":["#
        for (i, message) in chat.messages.enumerated() {
            if i > 0 { out += "," }
            message.appendJSON(to: &out)
        }
        out += "]}"
        if let parameters {
            out += #","parameters":{"data":["#
            for (i, entry) in parameters.data.enumerated() {
                if i > 0 { out += "," }
                out += #"{"type":"#
                JSONText.appendString(entry.type, to: &out)
                JSONText.appendMember(#","fqdn":"#, entry.fqdn, to: &out)
                if let value = entry.value {
                    out += #","value":"#
                    value.appendJSON(to: &out)
                }
                out += "}"
            }
            out += "]}"
        }
        out += "}"
        return ByteBuffer(string: out)
    }
}

extension JetBrainsChatRequest.Value {
    func appendJSON(to out: inout String) {
        switch self {
        case .int(let i): out += String(i)
        case .bool(let b): out += b ? "true" : "false"
        case .text(let s), .json(let s): JSONText.appendString(s, to: &out)
        case .double(let d):
            // Rare (temperature, top_p) and JSONEncoder's number format is the one to keep.
            if let data = try? JSONEncoder.shared.encode(d) { out += String(decoding: data, as: UTF8.self) } else { out += "null" }
        }
    }
}

extension JetBrainsMessage {
    /// The bytes of text it carries, to size the output once.
    var textSize: Int {
        switch self {
        case .system(let t), .user(let t), .assistantText(let t): return t.utf8.count + 48
        case .media(_, let data): return data.utf8.count + 64
        case .assistantTool(_, _, let a), .toolResult(_, _, let a): return a.utf8.count + 96
        case .assistantV7(let c, _, let a): return c.utf8.count + (a?.utf8.count ?? 0) + 96
        case .functionResultV7(_, let c): return c.utf8.count + 64
        }
    }

    func appendJSON(to out: inout String) {
        /// `{"type":TYPE,"key":"value",…}`, the members in the order given (the `Encodable`
        /// conformance's keys); `close: false` leaves the object open for a nested member.
        func message(_ type: String, _ members: KeyValuePairs<String, String>, close: Bool = true) {
            out += #"{"type":""#
            out += type
            out += "\""
            for (key, value) in members {
                out += #",""#
                out += key
                out += #"":"#
                JSONText.appendString(value, to: &out)
            }
            if close { out += "}" }
        }
        switch self {
        case .system(let t): message("system_message", ["content": t])
        case .user(let t): message("user_message", ["content": t])
        case .assistantText(let t): message("assistant_message_text", ["content": t])
        case .media(let mediaType, let data): message("media_message", ["mediaType": mediaType, "data": data])
        case .assistantTool(let id, let toolName, let arguments):
            message("assistant_message_tool", ["id": id, "toolName": toolName, "content": arguments])
        case .toolResult(let id, let toolName, let result):
            message("tool_message", ["id": id, "toolName": toolName, "result": result])
        case .assistantV7(let content, let functionName, let arguments):
            message("assistant_message", ["content": content], close: false)
            if let functionName {
                out += #","functionCall":{"functionName":"#
                JSONText.appendString(functionName, to: &out)
                out += #","content":"#
                JSONText.appendString(arguments ?? "{}", to: &out)
                out += "}"
            }
            out += "}"
        case .functionResultV7(let functionName, let content):
            message("function_message", ["functionName": functionName, "content": content])
        }
    }
}
