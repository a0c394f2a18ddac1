import Foundation
import Shared

/// The part of an OpenAI chat completion request that the upstream can honour. Sampling
/// parameters go upstream only to profile families that take them (`ProfileParameters`);
/// fields the upstream has no way to take (`presence_penalty`, `logit_bias`, `user`, …) are
/// accepted and ignored.
struct ChatCompletionRequest: Decodable, Sendable {
    var model: String
    var messages: [ChatMessage]
    var stream: Bool?
    var streamOptions: StreamOptions?
    var tools: [Tool]?
    var toolChoice: ToolChoice?
    var functions: [FunctionDefinition]?
    var n: Int?
    var temperature: Double?
    var topP: Double?
    /// Not an OpenAI field, but some clients send it for Gemini.
    var topK: Int?
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var stop: StopSequences?
    var seed: Int?
    var responseFormat: JSONValue?
    var reasoningEffort: String?
    var verbosity: String?
    var parallelToolCalls: Bool?
    /// Not an OpenAI field: Anthropic's `thinking.budget_tokens`, set by that front.
    var thinkingBudget: Int? = nil

    struct StreamOptions: Decodable, Sendable {
        var includeUsage: Bool?
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    enum CodingKeys: String, CodingKey {
        case model, messages, stream, tools, functions, n, temperature, stop, seed, verbosity
        case streamOptions = "stream_options"
        case toolChoice = "tool_choice"
        case topP = "top_p"
        case topK = "top_k"
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
        case responseFormat = "response_format"
        case reasoningEffort = "reasoning_effort"
        case parallelToolCalls = "parallel_tool_calls"
    }
}

/// `stop`: one string or a list of them.
struct StopSequences: Decodable, Sendable, Equatable {
    var values: [String]

    init(_ values: [String]) { self.values = values }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(String.self) {
            values = [one]
        } else {
            values = try c.decode([String].self)
        }
    }
}

struct FunctionDefinition: Codable, Sendable, Equatable {
    var name: String
    var description: String?
    var parameters: JSONValue?
}

struct Tool: Decodable, Sendable, Equatable {
    var type: String?
    var function: FunctionDefinition
}

enum ToolChoice: Decodable, Sendable, Equatable {
    case none
    case auto
    case required
    case function(String)

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let s = try? container.decode(String.self) {
            switch s {
            case "none": self = .none
            case "required", "any": self = .required
            default: self = .auto
            }
            return
        }
        // {"type":"function","function":{"name":…}}, or the legacy `function_call` {"name":…}.
        struct Named: Decodable {
            struct F: Decodable { var name: String }
            var function: F?
            var name: String?
        }
        let named = try container.decode(Named.self)
        guard let name = named.function?.name ?? named.name else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "tool_choice names no function")
        }
        self = .function(name)
    }
}

struct ChatMessage: Decodable, Sendable, Equatable {
    var role: String
    var content: MessageContent?
    var name: String?
    var toolCalls: [ToolCall]?
    var toolCallID: String?
    var functionCall: FunctionCall?

    enum CodingKeys: String, CodingKey {
        case role, content, name
        case toolCalls = "tool_calls"
        case toolCallID = "tool_call_id"
        case functionCall = "function_call"
    }

    struct ToolCall: Decodable, Sendable, Equatable {
        var id: String
        var type: String?
        var function: FunctionCall
    }

    struct FunctionCall: Decodable, Sendable, Equatable {
        var name: String
        var arguments: String
    }
}

/// A message's content: a string, or an array of typed parts.
enum MessageContent: Decodable, Sendable, Equatable {
    case text(String)
    case parts([Part])

    enum Part: Sendable, Equatable {
        case text(String)
        case imageURL(String)
        case unsupported(String)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let s = try? container.decode(String.self) {
            self = .text(s)
            return
        }
        struct RawPart: Decodable {
            struct Image: Decodable { var url: String }
            var type: String
            var text: String?
            var imageURL: Image?
            enum CodingKeys: String, CodingKey { case type, text; case imageURL = "image_url" }
        }
        let raw = try container.decode([RawPart].self)
        self = .parts(raw.map { part in
            switch part.type {
            case "text": return .text(part.text ?? "")
            case "image_url": return part.imageURL.map { .imageURL($0.url) } ?? .unsupported(part.type)
            default: return .unsupported(part.type)
            }
        })
    }

    /// All text of the content, parts joined by newlines.
    var plainText: String {
        switch self {
        case .text(let s): return s
        case .parts(let parts):
            return parts.compactMap { if case .text(let t) = $0 { return t } else { return nil } }.joined(separator: "\n")
        }
    }
}
