import Foundation
import Shared

/// The objects of the OpenAI Responses API that the worker produces: the `response` object,
/// its output items and the streamed events (field names as the official SDK's types have them).
enum ResponsesWire {
    /// `response`: the whole answer (or, in `response.created`/`response.in_progress`, its
    /// start). Fields the SDK's `Response` requires are always present; the request's settings
    /// are repeated back as OpenAI does.
    struct Response: Encodable, Sendable {
        var id: String
        var createdAt: Int
        var status: String
        var completedAt: Int?
        var error: ErrorObject?
        /// `incomplete_details.reason` (`max_output_tokens`).
        var incompleteReason: String?
        var model: String
        var output: [OutputItem]
        var usage: Usage?
        var echo: ResponsesRequest.Echo

        enum CodingKeys: String, CodingKey {
            case id, object, status, background, error, instructions, model, output, store, temperature, text, tools
            case truncation, usage, user, metadata, reasoning
            case createdAt = "created_at"
            case completedAt = "completed_at"
            case incompleteDetails = "incomplete_details"
            case maxOutputTokens = "max_output_tokens"
            case maxToolCalls = "max_tool_calls"
            case parallelToolCalls = "parallel_tool_calls"
            case previousResponseID = "previous_response_id"
            case toolChoice = "tool_choice"
            case topP = "top_p"
        }

        struct Incomplete: Encodable { var reason: String }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            func nullable<T: Encodable>(_ value: T?, _ key: CodingKeys) throws {
                if let value { try c.encode(value, forKey: key) } else { try c.encodeNil(forKey: key) }
            }
            try c.encode(id, forKey: .id)
            try c.encode("response", forKey: .object)
            try c.encode(createdAt, forKey: .createdAt)
            try c.encode(status, forKey: .status)
            try c.encode(false, forKey: .background)
            try nullable(completedAt, .completedAt)
            try nullable(error, .error)
            try nullable(incompleteReason.map(Incomplete.init), .incompleteDetails)
            try nullable(echo.instructions, .instructions)
            try nullable(echo.maxOutputTokens, .maxOutputTokens)
            try c.encodeNil(forKey: .maxToolCalls)
            try c.encode(model, forKey: .model)
            try c.encode(output, forKey: .output)
            try c.encode(echo.parallelToolCalls, forKey: .parallelToolCalls)
            try c.encodeNil(forKey: .previousResponseID)
            try c.encode(echo.reasoning, forKey: .reasoning)
            // Nothing is ever stored, whatever the request said.
            try c.encode(false, forKey: .store)
            try nullable(echo.temperature, .temperature)
            try c.encode(echo.text, forKey: .text)
            try c.encode(echo.toolChoice, forKey: .toolChoice)
            try c.encode(echo.tools, forKey: .tools)
            try nullable(echo.topP, .topP)
            try c.encode("disabled", forKey: .truncation)
            try nullable(usage, .usage)
            try nullable(echo.user, .user)
            try c.encode(echo.metadata, forKey: .metadata)
        }
    }

    /// `response.error` of a failed response.
    struct ErrorObject: Encodable, Sendable {
        var code: String
        var message: String
        var type: String?
        var param: String?
    }

    /// Token counts are the worker's estimate (`TokenEstimator`): JetBrains AI reports quota,
    /// not tokens; the quota report rides along under `jetbrains_quota`.
    struct Usage: Encodable, Sendable {
        var inputTokens: Int
        var outputTokens: Int
        var quota: QuotaReport?

        enum CodingKeys: String, CodingKey {
            case inputTokens = "input_tokens"
            case inputTokensDetails = "input_tokens_details"
            case outputTokens = "output_tokens"
            case outputTokensDetails = "output_tokens_details"
            case totalTokens = "total_tokens"
            case quota = "jetbrains_quota"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(inputTokens, forKey: .inputTokens)
            try c.encode(["cached_tokens": 0, "cache_write_tokens": 0], forKey: .inputTokensDetails)
            try c.encode(outputTokens, forKey: .outputTokens)
            try c.encode(["reasoning_tokens": 0], forKey: .outputTokensDetails)
            try c.encode(inputTokens + outputTokens, forKey: .totalTokens)
            try c.encodeIfPresent(quota, forKey: .quota)
        }
    }

    /// An item of `output`.
    enum OutputItem: Encodable, Sendable, Equatable {
        /// An assistant message; `text` nil: no content part yet (as `output_item.added` shows it).
        case message(id: String, status: String, text: String?)
        /// `namespace`: the `namespace` tool the function came in, if it did.
        case functionCall(id: String, status: String, callID: String, name: String, arguments: String, namespace: String? = nil)

        enum CodingKeys: String, CodingKey {
            case id, type, status, content, role, arguments, name, namespace
            case callID = "call_id"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .message(let id, let status, let text):
                try c.encode(id, forKey: .id)
                try c.encode("message", forKey: .type)
                try c.encode(status, forKey: .status)
                try c.encode(text.map { [OutputText(text: $0)] } ?? [], forKey: .content)
                try c.encode("assistant", forKey: .role)
            case .functionCall(let id, let status, let callID, let name, let arguments, let namespace):
                try c.encode(id, forKey: .id)
                try c.encode("function_call", forKey: .type)
                try c.encode(status, forKey: .status)
                try c.encode(arguments, forKey: .arguments)
                try c.encode(callID, forKey: .callID)
                try c.encode(name, forKey: .name)
                try c.encodeIfPresent(namespace, forKey: .namespace)
            }
        }
    }

    /// An `output_text` content part.
    struct OutputText: Encodable, Sendable {
        var type = "output_text"
        var annotations: [String] = []
        var logprobs: [String] = []
        var text: String
    }

    // MARK: - Streamed events

    /// One event of a stream, sent as `event: <type>` and `data: <json>`.
    protocol StreamEvent: Encodable, Sendable {
        var type: String { get }
    }

    /// `response.created`, `response.in_progress`, `response.completed`, `response.incomplete`, `response.failed`.
    struct LifecycleEvent: StreamEvent {
        var type: String
        var sequenceNumber: Int
        var response: Response
        enum CodingKeys: String, CodingKey { case type, response; case sequenceNumber = "sequence_number" }
    }

    /// `response.output_item.added`, `response.output_item.done`.
    struct ItemEvent: StreamEvent {
        var type: String
        var sequenceNumber: Int
        var outputIndex: Int
        var item: OutputItem
        enum CodingKeys: String, CodingKey {
            case type, item
            case sequenceNumber = "sequence_number"
            case outputIndex = "output_index"
        }
    }

    /// `response.content_part.added`, `response.content_part.done`.
    struct PartEvent: StreamEvent {
        var type: String
        var sequenceNumber: Int
        var itemID: String
        var outputIndex: Int
        var contentIndex = 0
        var part: OutputText
        enum CodingKeys: String, CodingKey {
            case type, part
            case sequenceNumber = "sequence_number"
            case itemID = "item_id"
            case outputIndex = "output_index"
            case contentIndex = "content_index"
        }
    }

    /// `response.output_text.delta` (`delta`) and `response.output_text.done` (`text`).
    struct TextEvent: StreamEvent {
        var type: String
        var sequenceNumber: Int
        var itemID: String
        var outputIndex: Int
        var contentIndex = 0
        var delta: String?
        var text: String?
        var logprobs: [String] = []
        enum CodingKeys: String, CodingKey {
            case type, delta, text, logprobs
            case sequenceNumber = "sequence_number"
            case itemID = "item_id"
            case outputIndex = "output_index"
            case contentIndex = "content_index"
        }
    }

    /// `response.function_call_arguments.delta` (`delta`) and `.done` (`name`, `arguments`).
    struct ArgumentsEvent: StreamEvent {
        var type: String
        var sequenceNumber: Int
        var itemID: String
        var outputIndex: Int
        var delta: String?
        var name: String?
        var arguments: String?
        enum CodingKeys: String, CodingKey {
            case type, delta, name, arguments
            case sequenceNumber = "sequence_number"
            case itemID = "item_id"
            case outputIndex = "output_index"
        }
    }
}
