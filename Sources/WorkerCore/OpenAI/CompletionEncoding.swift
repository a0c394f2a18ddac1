import Foundation
import Shared

/// The response objects of the OpenAI chat API that we produce.
enum OpenAIWire {
    struct ToolCallOut: Encodable, Sendable {
        var index: Int?
        var id: String?
        var type: String?
        var function: FunctionOut
        struct FunctionOut: Encodable, Sendable {
            var name: String?
            var arguments: String?
        }
    }

    /// JetBrains AI reports the quota spent (`QuotaMetadata`), not token counts: the token
    /// fields are estimates (`TokenEstimator`, the same as the Anthropic front's), and what the
    /// upstream reported rides along under `jetbrains_quota`.
    struct Usage: Encodable, Sendable {
        var promptTokens: Int
        var completionTokens: Int
        var totalTokens: Int { promptTokens + completionTokens }
        var jetbrainsQuota: QuotaReport?
        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case totalTokens = "total_tokens"
            case jetbrainsQuota = "jetbrains_quota"
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(promptTokens, forKey: .promptTokens)
            try c.encode(completionTokens, forKey: .completionTokens)
            try c.encode(totalTokens, forKey: .totalTokens)
            try c.encodeIfPresent(jetbrainsQuota, forKey: .jetbrainsQuota)
        }

        init(promptTokens: Int, answer: AnswerBuilder) {
            self.promptTokens = promptTokens
            self.completionTokens = TokenEstimator.outputTokens(of: answer)
            self.jetbrainsQuota = answer.quota
        }
    }

    struct Completion: Encodable, Sendable {
        var id: String
        var object = "chat.completion"
        var created: Int
        var model: String
        var choices: [Choice]
        var usage: Usage?
        struct Choice: Encodable, Sendable {
            var index = 0
            var message: Message
            var finishReason: String
            var logprobs: String? = nil
            enum CodingKeys: String, CodingKey { case index, message, logprobs; case finishReason = "finish_reason" }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(index, forKey: .index)
                try c.encode(message, forKey: .message)
                try c.encodeNil(forKey: .logprobs)
                try c.encode(finishReason, forKey: .finishReason)
            }
        }
        struct Message: Encodable, Sendable {
            var role = "assistant"
            var content: String?
            var toolCalls: [ToolCallOut]?
            enum CodingKeys: String, CodingKey { case role, content; case toolCalls = "tool_calls" }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(role, forKey: .role)
                if let content { try c.encode(content, forKey: .content) } else { try c.encodeNil(forKey: .content) }
                try c.encodeIfPresent(toolCalls, forKey: .toolCalls)
            }
        }
    }

    struct Chunk: Encodable, Sendable {
        var id: String
        var object = "chat.completion.chunk"
        var created: Int
        var model: String
        var choices: [Choice]
        var usage: Usage?
        var includeUsageField = false
        struct Choice: Encodable, Sendable {
            var index = 0
            var delta: Delta
            var finishReason: String?
            enum CodingKeys: String, CodingKey { case index, delta; case finishReason = "finish_reason" }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(index, forKey: .index)
                try c.encode(delta, forKey: .delta)
                if let finishReason { try c.encode(finishReason, forKey: .finishReason) } else { try c.encodeNil(forKey: .finishReason) }
            }
        }
        struct Delta: Encodable, Sendable {
            var role: String?
            var content: String?
            var toolCalls: [ToolCallOut]?
            enum CodingKeys: String, CodingKey { case role, content; case toolCalls = "tool_calls" }
        }
        enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(object, forKey: .object)
            try c.encode(created, forKey: .created)
            try c.encode(model, forKey: .model)
            try c.encode(choices, forKey: .choices)
            if let usage { try c.encode(usage, forKey: .usage) } else if includeUsageField { try c.encodeNil(forKey: .usage) }
        }
    }

    struct ModelList: Encodable, Sendable {
        var object = "list"
        var data: [Model]
        struct Model: Encodable, Sendable {
            var id: String
            var object = "model"
            var created: Int
            var ownedBy: String
            var profile: String
            enum CodingKeys: String, CodingKey { case id, object, created, profile; case ownedBy = "owned_by" }
        }
    }
}

extension AnswerBuilder {
    func completion(id: String, created: Int, model: String, promptTokens: Int = 0) -> OpenAIWire.Completion {
        let calls = orderedToolCalls.map {
            OpenAIWire.ToolCallOut(index: nil, id: $0.id, type: "function", function: .init(name: $0.name, arguments: $0.arguments))
        }
        return OpenAIWire.Completion(
            id: id, created: created, model: model,
            choices: [.init(
                message: .init(content: calls.isEmpty || !text.isEmpty ? text : nil, toolCalls: calls.isEmpty ? nil : calls),
                finishReason: finishReason
            )],
            usage: OpenAIWire.Usage(promptTokens: promptTokens, answer: self)
        )
    }
}

extension AnswerDelta {
    var chunkDelta: OpenAIWire.Chunk.Delta {
        switch self {
        case .text(let piece):
            return .init(content: piece)
        case .toolCallStart(let index, let id, let name):
            return .init(toolCalls: [.init(index: index, id: id, type: "function", function: .init(name: name, arguments: ""))])
        case .toolCallArguments(let index, let piece):
            return .init(toolCalls: [.init(index: index, function: .init(arguments: piece))])
        }
    }
}

// MARK: - Hand-written JSON (the hot path; `CompletionJSONTests` compares it with JSONEncoder's)

extension OpenAIWire.ToolCallOut {
    func appendJSON(to out: inout String) {
        var members = ""
        if let index { members += #","index":"# + String(index) }
        JSONText.appendMember(#","id":"#, id, to: &members)
        JSONText.appendMember(#","type":"#, type, to: &members)
        var call = ""
        JSONText.appendMember(#","name":"#, function.name, to: &call)
        JSONText.appendMember(#","arguments":"#, function.arguments, to: &call)
        members += #","function":"#
        JSONText.appendObject(call, to: &members)
        JSONText.appendObject(members, to: &out)
    }

    static func appendJSON(_ calls: [Self], to out: inout String) {
        out += "["
        for (i, call) in calls.enumerated() {
            if i > 0 { out += "," }
            call.appendJSON(to: &out)
        }
        out += "]"
    }
}

extension QuotaReport {
    /// As its synthesized `Encodable` conformance writes it (absent fields left out).
    func appendJSON(to out: inout String) {
        var members = ""
        JSONText.appendMember(#","spent":"#, spent, to: &members)
        JSONText.appendMember(#","current":"#, current, to: &members)
        JSONText.appendMember(#","maximum":"#, maximum, to: &members)
        JSONText.appendMember(#","until":"#, until, to: &members)
        JSONText.appendMember(#","available":"#, available, to: &members)
        JSONText.appendMember(#","top_up_available":"#, topUpAvailable, to: &members)
        JSONText.appendObject(members, to: &out)
    }
}

extension OpenAIWire.Usage {
    func appendJSON(to out: inout String) {
        out += #"{"prompt_tokens":"#
        out += String(promptTokens)
        out += #","completion_tokens":"#
        out += String(completionTokens)
        out += #","total_tokens":"#
        out += String(totalTokens)
        if let jetbrainsQuota {
            out += #","jetbrains_quota":"#
            jetbrainsQuota.appendJSON(to: &out)
        }
        out += "}"
    }
}

extension OpenAIWire {
    /// `{"id":…,"object":…,"created":…,"model":…,"choices":[` — how a completion and a chunk begin.
    static func appendPrologue(id: String, object: String, created: Int, model: String, to out: inout String) {
        out += #"{"id":"#
        JSONText.appendString(id, to: &out)
        out += #","object":"#
        JSONText.appendString(object, to: &out)
        out += #","created":"#
        out += String(created)
        out += #","model":"#
        JSONText.appendString(model, to: &out)
        out += #","choices":["#
    }

    /// `]`, the usage (`null` when absent and `nullUsage`, nothing otherwise) and `}`: how a
    /// completion and a chunk end.
    static func appendEpilogue(usage: Usage?, nullUsage: Bool, to out: inout String) {
        out += "]"
        if let usage {
            out += #","usage":"#
            usage.appendJSON(to: &out)
        } else if nullUsage {
            out += #","usage":null"#
        }
        out += "}"
    }
}

extension OpenAIWire.Completion {
    var jsonText: String {
        var out = ""
        out.reserveCapacity(256 + (choices.first?.message.content?.utf8.count ?? 0))
        OpenAIWire.appendPrologue(id: id, object: object, created: created, model: model, to: &out)
        for (i, choice) in choices.enumerated() {
            if i > 0 { out += "," }
            out += #"{"index":"#
            out += String(choice.index)
            out += #","message":{"role":"#
            JSONText.appendString(choice.message.role, to: &out)
            out += #","content":"#
            JSONText.appendString(choice.message.content, to: &out)
            if let calls = choice.message.toolCalls {
                out += #","tool_calls":"#
                OpenAIWire.ToolCallOut.appendJSON(calls, to: &out)
            }
            out += #"},"logprobs":null,"finish_reason":"#
            JSONText.appendString(choice.finishReason, to: &out)
            out += "}"
        }
        OpenAIWire.appendEpilogue(usage: usage, nullUsage: false, to: &out)
        return out
    }
}

extension OpenAIWire.Chunk {
    var jsonText: String {
        var out = ""
        out.reserveCapacity(192)
        OpenAIWire.appendPrologue(id: id, object: object, created: created, model: model, to: &out)
        for (i, choice) in choices.enumerated() {
            if i > 0 { out += "," }
            out += #"{"index":"#
            out += String(choice.index)
            out += #","delta":"#
            var members = ""
            JSONText.appendMember(#","role":"#, choice.delta.role, to: &members)
            JSONText.appendMember(#","content":"#, choice.delta.content, to: &members)
            if let calls = choice.delta.toolCalls {
                members += #","tool_calls":"#
                OpenAIWire.ToolCallOut.appendJSON(calls, to: &members)
            }
            JSONText.appendObject(members, to: &out)
            out += #","finish_reason":"#
            JSONText.appendString(choice.finishReason, to: &out)
            out += "}"
        }
        OpenAIWire.appendEpilogue(usage: usage, nullUsage: includeUsageField, to: &out)
        return out
    }
}
