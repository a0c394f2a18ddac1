import Foundation
import Shared

/// Anthropic's `POST /v1/messages` request, decoded, and turned into the one internal chat
/// request every front shares (`ChatCompletionRequest`), so translation, failover and streaming
/// exist once. `metadata`, `service_tier`, `cache_control` and unknown fields are accepted and
/// ignored.
struct MessagesRequest: Decodable, Sendable {
    var model: String
    var maxTokens: Int?
    var system: SystemPrompt?
    var messages: [Message]
    var tools: [Tool]?
    var toolChoice: ToolChoice?
    var stopSequences: [String]?
    var temperature: Double?
    var topP: Double?
    var topK: Int?
    var thinking: Thinking?
    var stream: Bool?

    enum CodingKeys: String, CodingKey {
        case model, system, messages, tools, temperature, thinking, stream
        case maxTokens = "max_tokens"
        case toolChoice = "tool_choice"
        case stopSequences = "stop_sequences"
        case topP = "top_p"
        case topK = "top_k"
    }

    /// `system`: a string or text blocks.
    struct SystemPrompt: Decodable, Sendable {
        var text: String
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) {
                text = s
            } else {
                text = try c.decode([Block].self).compactMap(\.text).joined(separator: "\n")
            }
        }
    }

    struct Message: Decodable, Sendable {
        var role: String
        var content: [Block]

        enum CodingKeys: String, CodingKey { case role, content }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            role = try c.decode(String.self, forKey: .role)
            if let s = try? c.decode(String.self, forKey: .content) {
                content = [Block(type: "text", text: s)]
            } else {
                content = try c.decode([Block].self, forKey: .content)
            }
        }
    }

    /// A content block; the fields of every kind, each optional.
    struct Block: Decodable, Sendable {
        var type: String
        var text: String?
        var source: Source?
        var id: String?
        var name: String?
        var input: JSONValue?
        var toolUseID: String?
        var content: ToolResultContent?
        var isError: Bool?
        var title: String?

        init(type: String, text: String? = nil) {
            self.type = type
            self.text = text
        }

        enum CodingKeys: String, CodingKey {
            case type, text, source, id, name, input, content, title
            case toolUseID = "tool_use_id"
            case isError = "is_error"
        }
    }

    struct Source: Decodable, Sendable {
        var type: String
        var mediaType: String?
        var data: String?
        var url: String?
        enum CodingKeys: String, CodingKey {
            case type, data, url
            case mediaType = "media_type"
        }
    }

    /// `tool_result.content`: a string or blocks.
    struct ToolResultContent: Decodable, Sendable {
        var blocks: [Block]
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) {
                blocks = [Block(type: "text", text: s)]
            } else {
                blocks = try c.decode([Block].self)
            }
        }
    }

    struct Tool: Decodable, Sendable {
        var name: String
        var description: String?
        var inputSchema: JSONValue?
        /// Server tools (`web_search_…`, `bash_…`) carry a type; custom tools may.
        var type: String?
        enum CodingKeys: String, CodingKey {
            case name, description, type
            case inputSchema = "input_schema"
        }
    }

    struct ToolChoice: Decodable, Sendable {
        var type: String
        var name: String?
        var disableParallelToolUse: Bool?
        enum CodingKeys: String, CodingKey {
            case type, name
            case disableParallelToolUse = "disable_parallel_tool_use"
        }
    }

    struct Thinking: Decodable, Sendable {
        var type: String
        var budgetTokens: Int?
        enum CodingKeys: String, CodingKey {
            case type
            case budgetTokens = "budget_tokens"
        }
    }

    struct Invalid: Error, Equatable {
        var message: String
    }

    /// The internal chat request. `requireMaxTokens`: `/v1/messages` requires it,
    /// `count_tokens` does not.
    func chatRequest(requireMaxTokens: Bool = true, allowImageURLs: Bool = false) throws(Invalid) -> ChatCompletionRequest {
        if requireMaxTokens {
            guard let maxTokens else { throw Invalid(message: "max_tokens: Field required") }
            guard maxTokens >= 1 else { throw Invalid(message: "max_tokens: must be at least 1") }
        }
        guard !messages.isEmpty else { throw Invalid(message: "messages: at least one message is required") }
        var out: [ChatMessage] = []
        if let system, !system.text.isEmpty { out.append(ChatMessage(role: "system", content: .text(system.text))) }
        for (index, message) in messages.enumerated() {
            switch message.role {
            case "user": out += try userMessages(message.content, at: index, allowImageURLs: allowImageURLs)
            case "assistant": out += try assistantMessages(message.content, at: index)
            default: throw Invalid(message: "messages.\(index).role: expected 'user' or 'assistant', got '\(message.role)'")
            }
        }
        var functions: [OpenAITool] = []
        for (index, tool) in (tools ?? []).enumerated() {
            if let type = tool.type, type != "custom" {
                throw Invalid(message: "tools.\(index): server tool '\(type)' is not available through JetBrains AI; only custom tools with input_schema are")
            }
            functions.append(OpenAITool(type: "function", function: .init(name: tool.name, description: tool.description, parameters: tool.inputSchema)))
        }
        var choice: ToolChoiceOpenAI?
        switch toolChoice?.type {
        case "auto"?: choice = .auto
        case "any"?: choice = .required
        case "none"?: choice = ToolChoiceOpenAI.none
        case "tool"?:
            guard let name = toolChoice?.name else { throw Invalid(message: "tool_choice.name: Field required for type 'tool'") }
            choice = .function(name)
        case nil: choice = nil
        case let other?: throw Invalid(message: "tool_choice.type: expected auto, any, tool or none, got '\(other)'")
        }
        return ChatCompletionRequest(
            model: model, messages: out, stream: stream,
            tools: functions.isEmpty ? nil : functions, toolChoice: choice,
            temperature: temperature, topP: topP, topK: topK, maxTokens: maxTokens,
            stop: stopSequences.map(StopSequences.init),
            parallelToolCalls: toolChoice?.disableParallelToolUse.map { !$0 },
            thinkingBudget: thinking?.type == "enabled" ? thinking?.budgetTokens : nil
        )
    }

    /// Text, images and documents become one user message (parts); each `tool_result`
    /// becomes a tool message, in order.
    private func userMessages(_ blocks: [Block], at index: Int, allowImageURLs: Bool) throws(Invalid) -> [ChatMessage] {
        var out: [ChatMessage] = []
        var parts: [MessageContent.Part] = []
        func flush() {
            if !parts.isEmpty { out.append(ChatMessage(role: "user", content: .parts(parts))) }
            parts = []
        }
        for (b, block) in blocks.enumerated() {
            switch block.type {
            case "text":
                parts.append(.text(block.text ?? ""))
            case "image":
                parts.append(.imageURL(try Self.imageURL(block.source, at: "messages.\(index).content.\(b)", allowURLs: allowImageURLs)))
            case "document":
                guard block.source?.type == "text", let data = block.source?.data else {
                    throw Invalid(message: "messages.\(index).content.\(b): only text documents (source.type 'text') can be sent to JetBrains AI")
                }
                parts.append(.text(block.title.map { "\($0)\n\n\(data)" } ?? data))
            case "tool_result":
                flush()
                guard let id = block.toolUseID else { throw Invalid(message: "messages.\(index).content.\(b).tool_use_id: Field required") }
                let text = (block.content?.blocks ?? []).compactMap { $0.type == "text" ? $0.text : nil }.joined(separator: "\n")
                out.append(ChatMessage(role: "tool", content: .text(block.isError == true ? "Error: " + text : text), toolCallID: id))
            case "thinking", "redacted_thinking":
                continue
            default:
                throw Invalid(message: "messages.\(index).content.\(b).type: '\(block.type)' is not supported in a user message")
            }
        }
        flush()
        return out
    }

    private func assistantMessages(_ blocks: [Block], at index: Int) throws(Invalid) -> [ChatMessage] {
        var text: [String] = []
        var calls: [ChatMessage.ToolCall] = []
        for (b, block) in blocks.enumerated() {
            switch block.type {
            case "text": text.append(block.text ?? "")
            case "tool_use":
                guard let id = block.id, let name = block.name else {
                    throw Invalid(message: "messages.\(index).content.\(b): tool_use needs id and name")
                }
                calls.append(.init(id: id, type: "function", function: .init(name: name, arguments: (block.input ?? .object([:])).jsonText)))
            case "thinking", "redacted_thinking": continue
            default: throw Invalid(message: "messages.\(index).content.\(b).type: '\(block.type)' is not supported in an assistant message")
            }
        }
        let joined = text.joined()
        return [ChatMessage(role: "assistant", content: joined.isEmpty ? nil : .text(joined), toolCalls: calls.isEmpty ? nil : calls)]
    }

    /// A base64 image as the `data:` URL the chat translator reads; a URL source as itself when
    /// the tenant lets the worker fetch images (`fetch_image_urls`), else a 400.
    static func imageURL(_ source: Source?, at path: String, allowURLs: Bool) throws(Invalid) -> String {
        switch source?.type {
        case "base64"?:
            guard let media = source?.mediaType, let data = source?.data, !data.isEmpty else {
                throw Invalid(message: "\(path).source: base64 images need media_type and data")
            }
            return "data:\(media);base64,\(data)"
        case "url"?:
            if allowURLs, let url = source?.url, ImageFetcher.isRemote(url) { return url }
            throw Invalid(message: "\(path).source: image URLs are not fetched for this tenant (fetch_image_urls is off); send the image as base64")
        default:
            throw Invalid(message: "\(path).source.type: expected 'base64'")
        }
    }
}

typealias ToolChoiceOpenAI = ToolChoice
typealias OpenAITool = Tool
