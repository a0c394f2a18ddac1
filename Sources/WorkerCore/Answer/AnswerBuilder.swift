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
    private(set) var quota: QuotaReport?
    private(set) var ended = false
    /// Whether any event carried part of the answer.
    private(set) var hasAnswer = false
    private let makeID: @Sendable () -> String
    /// Which call each `parallelToolIndex` group opened (position in `toolCalls`).
    private var callForGroup: [Int: Int] = [:]
    /// The `parallelToolIndex` of each call (nil for calls whose pieces carried none).
    private var groupOfCall: [Int?] = []

    /// Upstream tool-call id → the client's own id, for ids shortened on the way up.
    private let restoredIDs: [String: String]

    init(restoredIDs: [String: String] = [:], makeID: @escaping @Sendable () -> String = { "call_" + RandomID.hex(24) }) {
        self.restoredIDs = restoredIDs
        self.makeID = makeID
    }

    mutating func apply(_ event: UpstreamEvent) -> [AnswerDelta] {
        switch event {
        case .content(let piece):
            guard !piece.isEmpty else { return [] }
            text += piece
            hasAnswer = true
            return [.text(piece)]
        case .toolCall(let piece):
            hasAnswer = true
            return applyToolPiece(piece)
        case .finish(let reason):
            upstreamFinishReason = reason
            return []
        case .quota(let report):
            quota = report
            return []
        case .end:
            ended = true
            return []
        case .ignored, .undecodable, .error:
            // An error event never reaches the builder: the proxy turns it into a failure first.
            return []
        }
    }

    /// Pieces are grouped by `parallelToolIndex` — not by arrival order, since pieces of
    /// parallel calls may interleave. A piece without an index belongs to group 0, except that
    /// a new id there opens a new call (older streams sent calls one after another, unindexed).
    /// Id and name come from the first piece of a call; a later piece only fills a missing name.
    private mutating func applyToolPiece(_ piece: UpstreamEvent.ToolCallPiece) -> [AnswerDelta] {
        let id = piece.id.flatMap { $0.isEmpty ? nil : (restoredIDs[$0] ?? $0) }
        let name = piece.name.flatMap { $0.isEmpty ? nil : $0 }
        var deltas: [AnswerDelta] = []
        let group = piece.index ?? 0
        var position = callForGroup[group]
        if let existing = position, piece.index == nil {
            // Unindexed: a different id, or (v7 `FunctionCall`) a name, starts the next call.
            let call = toolCalls[existing]
            if let id, id != call.id { position = nil }
            if id == nil, name != nil, !call.name.isEmpty { position = nil }
        }
        if position == nil {
            toolCalls.append(ToolCall(id: id ?? makeID(), name: name ?? "", arguments: ""))
            groupOfCall.append(piece.index)
            position = toolCalls.count - 1
            callForGroup[group] = position
            deltas.append(.toolCallStart(index: position!, id: toolCalls[position!].id, name: toolCalls[position!].name))
        } else if let name, toolCalls[position!].name.isEmpty {
            toolCalls[position!].name = name
        }
        if !piece.arguments.isEmpty {
            toolCalls[position!].arguments += piece.arguments
            deltas.append(.toolCallArguments(index: position!, piece.arguments))
        }
        return deltas
    }

    /// The calls in `parallelToolIndex` order (arrival order among calls without one), as the
    /// final message lists them. The streamed `index` of a call is its position in `toolCalls`.
    var orderedToolCalls: [ToolCall] {
        toolCalls.indices
            .sorted { a, b in
                let ga = groupOfCall[a] ?? Int.min, gb = groupOfCall[b] ?? Int.min
                return ga != gb ? ga < gb : a < b
            }
            .map { toolCalls[$0] }
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
