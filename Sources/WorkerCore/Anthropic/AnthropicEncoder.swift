import Foundation
import NIOHTTP1
import Shared

/// Anthropic Messages on the wire: a `message` object, or named SSE events in the documented
/// order — `message_start`, `ping`, per block `content_block_start` / `content_block_delta`
/// (`text_delta`, `input_json_delta` piece by piece as the upstream sends it) /
/// `content_block_stop`, then `message_delta` (stop reason, usage) and `message_stop`.
///
/// Tool-call pieces of parallel calls may interleave upstream; each call's block stays open
/// until the answer ends, so every piece goes out the moment it arrives (the SDKs accumulate
/// deltas by block index). A text block closes when the first tool call starts.
struct AnthropicEncoder: AnswerEncoder {
    var model: String
    var inputTokens: Int
    var id = "msg_" + RandomID.hex(24)

    /// Open blocks: the text block's index, and each tool call's (by `AnswerDelta` index).
    private var nextBlock = 0
    private var textBlock: Int?
    private var toolBlocks: [Int: Int] = [:]
    private var openOrder: [Int] = []

    init(model: String, inputTokens: Int) {
        self.model = model
        self.inputTokens = inputTokens
    }

    let keepAlive = AnthropicEncoder.event("ping", #"{"type":"ping"}"#)

    static func event(_ name: String, _ json: String) -> String { "event: \(name)\ndata: \(json)\n\n" }

    static func stopReason(_ finish: String) -> String {
        switch finish {
        case "tool_calls": return "tool_use"
        case "length": return "max_tokens"
        default: return "end_turn"
        }
    }

    func whole(_ answer: AnswerBuilder) throws -> String {
        var content: [JSONValue] = []
        if !answer.text.isEmpty { content.append(.object(["type": .string("text"), "text": .string(answer.text)])) }
        for call in answer.orderedToolCalls {
            content.append(.object([
                "type": .string("tool_use"), "id": .string(call.id), "name": .string(call.name),
                "input": Self.input(call.arguments),
            ]))
        }
        return JSONValue.object([
            "id": .string(id), "type": .string("message"), "role": .string("assistant"), "model": .string(model),
            "content": .array(content),
            "stop_reason": .string(Self.stopReason(answer.finishReason)), "stop_sequence": .null,
            "usage": usage(output: TokenEstimator.outputTokens(of: answer), quota: answer.quota),
        ]).jsonText
    }

    /// Arguments as the JSON object Anthropic's `input` is; text that is not an object is
    /// wrapped rather than lost.
    static func input(_ arguments: String) -> JSONValue {
        if arguments.isEmpty { return .object([:]) }
        if let value = JSONValue(parsing: arguments), case .object = value { return value }
        return .object(["_arguments": .string(arguments)])
    }

    private func usage(output: Int, quota: QuotaReport?) -> JSONValue {
        var usage: [String: JSONValue] = [
            "input_tokens": .number(Double(inputTokens)), "output_tokens": .number(Double(output)),
            "cache_creation_input_tokens": .number(0), "cache_read_input_tokens": .number(0),
        ]
        if let quota, let data = try? JSONEncoder.shared.encode(quota),
           let value = JSONValue(parsing: String(decoding: data, as: UTF8.self))
        {
            usage["jetbrains_quota"] = value
        }
        return .object(usage)
    }

    func response(for error: APIError) -> (status: HTTPResponseStatus, json: String, headers: HTTPHeaders) {
        let (status, type) = Self.anthropicError(error)
        return (status, Self.errorJSON(type: type, message: error.message), error.headers)
    }

    /// The Anthropic error type (and status) for one of ours. No usable JWT is
    /// `overloaded_error` 529, which Claude Code and the SDKs retry with back-off.
    static func anthropicError(_ error: APIError) -> (HTTPResponseStatus, String) {
        if error.status.code == 503 { return (HTTPResponseStatus(statusCode: 529, reasonPhrase: "Overloaded"), "overloaded_error") }
        return (error.status, APIErrorBody.anthropicType(for: error.status))
    }

    static func errorJSON(type: String, message: String) -> String {
        APIErrorBody.anthropic(type: type, message: message)
    }

    mutating func opening() throws -> String {
        let message = JSONValue.object([
            "id": .string(id), "type": .string("message"), "role": .string("assistant"), "model": .string(model),
            "content": .array([]), "stop_reason": .null, "stop_sequence": .null,
            "usage": .object(["input_tokens": .number(Double(inputTokens)), "output_tokens": .number(1)]),
        ])
        return Self.event("message_start", JSONValue.object(["type": .string("message_start"), "message": message]).jsonText)
            + keepAlive
    }

    mutating func frames(for deltas: [AnswerDelta]) throws -> String {
        var out = ""
        for delta in deltas {
            switch delta {
            case .text(let piece):
                if textBlock == nil {
                    textBlock = start(&out, block: ["type": .string("text"), "text": .string("")])
                }
                out += Self.blockDelta(textBlock!, ["type": .string("text_delta"), "text": .string(piece)])
            case .toolCallStart(let index, let id, let name):
                if let text = textBlock {
                    stop(&out, text)
                    textBlock = nil
                }
                toolBlocks[index] = start(&out, block: [
                    "type": .string("tool_use"), "id": .string(id), "name": .string(name), "input": .object([:]),
                ])
            case .toolCallArguments(let index, let piece):
                guard let block = toolBlocks[index] else { continue }
                out += Self.blockDelta(block, ["type": .string("input_json_delta"), "partial_json": .string(piece)])
            }
        }
        return out
    }

    mutating func closing(_ answer: AnswerBuilder) throws -> String {
        var out = ""
        for block in openOrder { out += Self.event("content_block_stop", #"{"type":"content_block_stop","index":\#(block)}"#) }
        openOrder = []
        let delta = JSONValue.object([
            "type": .string("message_delta"),
            "delta": .object(["stop_reason": .string(Self.stopReason(answer.finishReason)), "stop_sequence": .null]),
            "usage": usage(output: TokenEstimator.outputTokens(of: answer), quota: answer.quota),
        ])
        out += Self.event("message_delta", delta.jsonText)
        out += Self.event("message_stop", #"{"type":"message_stop"}"#)
        return out
    }

    func failure(_ error: APIError, started: Bool) -> String {
        let (_, type) = Self.anthropicError(error)
        return Self.event("error", Self.errorJSON(type: type == "invalid_request_error" ? type : "api_error", message: error.message))
    }

    private mutating func start(_ out: inout String, block: [String: JSONValue]) -> Int {
        let index = nextBlock
        nextBlock += 1
        openOrder.append(index)
        out += Self.event("content_block_start", JSONValue.object([
            "type": .string("content_block_start"), "index": .number(Double(index)), "content_block": .object(block),
        ]).jsonText)
        return index
    }

    private mutating func stop(_ out: inout String, _ index: Int) {
        openOrder.removeAll { $0 == index }
        out += Self.event("content_block_stop", #"{"type":"content_block_stop","index":\#(index)}"#)
    }

    private static func blockDelta(_ index: Int, _ delta: [String: JSONValue]) -> String {
        event("content_block_delta", JSONValue.object([
            "type": .string("content_block_delta"), "index": .number(Double(index)), "delta": .object(delta),
        ]).jsonText)
    }
}
