import Foundation
import NIOHTTP1
import Shared

/// OpenAI chat completions on the wire: a `chat.completion` object, or `chat.completion.chunk`
/// events (the first delta carries the role), a finish chunk, the usage chunk when asked for,
/// and `data: [DONE]`.
struct OpenAIChatEncoder: AnswerEncoder {
    var model: String
    var includeUsage: Bool
    /// The request's estimated tokens, for `usage.prompt_tokens`.
    var promptTokens = 0
    var id = "chatcmpl-" + RandomID.hex(24)
    var created = Int(Date().timeIntervalSince1970)

    let keepAlive = ": keep-alive\n\n"

    func whole(_ answer: AnswerBuilder) throws -> String {
        answer.completion(id: id, created: created, model: model, promptTokens: promptTokens).jsonText
    }

    func response(for error: APIError) -> (status: HTTPResponseStatus, json: String, headers: HTTPHeaders) {
        (error.status, error.json, error.headers)
    }

    mutating func opening() throws -> String {
        frame(chunk(.init(role: "assistant", content: "")))
    }

    mutating func frames(for deltas: [AnswerDelta]) throws -> String {
        var out = ""
        for delta in deltas { out += frame(chunk(delta.chunkDelta)) }
        return out
    }

    mutating func closing(_ answer: AnswerBuilder) throws -> String {
        var out = frame(chunk(.init(), finish: answer.finishReason))
        if includeUsage {
            out += frame(OpenAIWire.Chunk(
                id: id, created: created, model: model, choices: [],
                usage: OpenAIWire.Usage(promptTokens: promptTokens, answer: answer), includeUsageField: true
            ))
        }
        return out + "data: [DONE]\n\n"
    }

    func failure(_ error: APIError, started: Bool) -> String {
        "data: \(error.json)\n\ndata: [DONE]\n\n"
    }

    private func chunk(_ delta: OpenAIWire.Chunk.Delta, finish: String? = nil) -> OpenAIWire.Chunk {
        OpenAIWire.Chunk(
            id: id, created: created, model: model,
            choices: [.init(delta: delta, finishReason: finish)],
            includeUsageField: includeUsage
        )
    }

    private func frame(_ chunk: OpenAIWire.Chunk) -> String {
        "data: " + chunk.jsonText + "\n\n"
    }
}
