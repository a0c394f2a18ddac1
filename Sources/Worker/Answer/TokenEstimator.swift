import Foundation

/// Estimated token counts. JetBrains AI reports quota, not tokens, but strict clients need the
/// integer fields (typed SDKs; Claude Code manages its context window by `input_tokens`), so
/// every front fills them from this one estimator: documented as an estimate, and consistent
/// between the endpoints.
enum TokenEstimator {
    /// Estimated tokens of a text.
    static func count(_ text: String) -> Int {
        guard !text.isEmpty else { return 0 }
        return max(1, (text.utf8.count + 3) / 4)
    }

    /// Every message's text and tool calls, the tool definitions, and a small overhead per message.
    static func inputTokens(of request: ChatCompletionRequest) -> Int {
        var total = 0
        for message in request.messages {
            total += 4 + count(message.content?.plainText ?? "")
            for call in message.toolCalls ?? [] { total += count(call.function.name) + count(call.function.arguments) }
        }
        for tool in request.tools ?? [] {
            total += count(tool.function.name) + count(tool.function.description ?? "") + count(tool.function.parameters?.jsonText ?? "")
        }
        return total
    }

    /// The answer's text and tool calls (names and arguments).
    static func outputTokens(of answer: AnswerBuilder) -> Int {
        count(answer.text) + answer.toolCalls.reduce(0) { $0 + count($1.name) + count($1.arguments) }
    }
}
