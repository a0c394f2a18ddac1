import Foundation
import Shared

/// What one upstream event adds to the OpenAI answer.
enum AnswerDelta: Sendable, Equatable {
    case text(String)
    case toolCallStart(index: Int, id: String, name: String)
    case toolCallArguments(index: Int, String)
}

/// Folds upstream events into an OpenAI answer, both as deltas (for streaming) and as the
/// whole (for a single `chat.completion`).
struct AnswerBuilder: Sendable {
    struct ToolCall: Sendable, Equatable {
        var id: String
        var name: String
        var arguments: String
    }

    private(set) var text = ""
    private(set) var toolCalls: [ToolCall] = []
    private(set) var upstreamFinishReason: String?
    private(set) var quota: UpstreamEvent.QuotaReport?
    private(set) var ended = false
    /// Whether any event carried part of the answer.
    private(set) var hasAnswer = false
    private let makeID: @Sendable () -> String

    init(makeID: @escaping @Sendable () -> String = { "call_" + RandomID.hex(24) }) {
        self.makeID = makeID
    }

    mutating func apply(_ event: UpstreamEvent) -> [AnswerDelta] {
        switch event {
        case .content(let piece):
            guard !piece.isEmpty else { return [] }
            text += piece
            hasAnswer = true
            return [.text(piece)]
        case .toolCall(let id, let name, let arguments):
            hasAnswer = true
            var deltas: [AnswerDelta] = []
            let startsNewCall: Bool
            if let id, !id.isEmpty {
                startsNewCall = toolCalls.last?.id != id
            } else {
                startsNewCall = toolCalls.isEmpty || (name.map { !$0.isEmpty } ?? false)
            }
            if startsNewCall {
                let call = ToolCall(id: id.flatMap { $0.isEmpty ? nil : $0 } ?? makeID(), name: name ?? "", arguments: "")
                toolCalls.append(call)
                deltas.append(.toolCallStart(index: toolCalls.count - 1, id: call.id, name: call.name))
            } else if let name, !name.isEmpty, toolCalls[toolCalls.count - 1].name.isEmpty {
                toolCalls[toolCalls.count - 1].name = name
            }
            if !arguments.isEmpty {
                toolCalls[toolCalls.count - 1].arguments += arguments
                deltas.append(.toolCallArguments(index: toolCalls.count - 1, arguments))
            }
            return deltas
        case .finish(let reason):
            upstreamFinishReason = reason
            return []
        case .quota(let report):
            quota = report
            return []
        case .end:
            ended = true
            return []
        case .ignored:
            return []
        }
    }

    /// The OpenAI `finish_reason`.
    var finishReason: String {
        switch upstreamFinishReason {
        case "tool_call"?, "tool_calls"?, "function_call"?: return "tool_calls"
        case "length"?: return "length"
        case nil: return toolCalls.isEmpty ? "stop" : "tool_calls"
        default: return toolCalls.isEmpty ? "stop" : "tool_calls"
        }
    }
}
