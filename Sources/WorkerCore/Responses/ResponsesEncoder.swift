import Foundation
import NIOHTTP1
import Shared

/// The OpenAI Responses API on the wire: a `response` object, or the documented event
/// sequence, every event with its `sequence_number`:
///
///     response.created, response.in_progress,
///     per output item: response.output_item.added,
///       a message: response.content_part.added, response.output_text.delta…,
///                  response.output_text.done, response.content_part.done,
///       a function call: response.function_call_arguments.delta…, response.function_call_arguments.done,
///     response.output_item.done, …,
///     response.completed (or response.incomplete when the answer hit max_output_tokens)
///
/// Output items open as their first piece arrives. A message closes when a tool call starts
/// (text after it opens a new message); function calls stay open until the answer ends, since
/// the pieces of parallel calls interleave: each argument piece goes out as it came, under its
/// own call's `output_index`. A failure after the first event ends the stream with
/// `response.failed` (status `failed`, `error`), the items so far marked `incomplete`.
struct ResponsesEncoder: AnswerEncoder {
    var model: String
    var echo: ResponsesRequest.Echo
    /// The request's estimated tokens (`TokenEstimator`).
    var inputTokens: Int
    /// Function name → the `namespace` tool it came in (function names are unique).
    var namespaces: [String: String] = [:]
    var id = "resp_" + RandomID.hex(48)
    var createdAt = Int(Date().timeIntervalSince1970)
    var now: @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }

    let keepAlive = ": keep-alive\n\n"

    // The state of a streamed answer.
    private var sequence = 0
    private var items: [Item] = []
    /// The output index of the message being written, if one is open.
    private var openMessage: Int?
    /// `AnswerDelta` call index → its output index.
    private var outputIndexOfCall: [Int: Int] = [:]

    private struct Item: Sendable {
        var id: String
        /// nil for a message.
        var call: (callID: String, name: String, index: Int)?
        /// The message's text, or the call's arguments so far.
        var text = ""
        var status = "in_progress"

        func wire(_ namespace: (String) -> String?) -> ResponsesWire.OutputItem {
            if let call {
                return .functionCall(id: id, status: status, callID: call.callID, name: call.name, arguments: text, namespace: namespace(call.name))
            }
            return .message(id: id, status: status, text: text)
        }
    }

    init(model: String, echo: ResponsesRequest.Echo, inputTokens: Int, namespaces: [String: String] = [:]) {
        self.model = model
        self.echo = echo
        self.inputTokens = inputTokens
        self.namespaces = namespaces
    }

    private func wire(_ item: Item) -> ResponsesWire.OutputItem {
        item.wire { namespaces[$0] }
    }

    static func messageID() -> String { "msg_" + RandomID.hex(48) }
    static func callItemID() -> String { "fc_" + RandomID.hex(48) }

    // MARK: - Whole

    func whole(_ answer: AnswerBuilder) throws -> String {
        try Self.json(response(for: answer))
    }

    /// The `response` object of a complete answer: the message (when there is text, or nothing
    /// else), then the function calls.
    func response(for answer: AnswerBuilder) -> ResponsesWire.Response {
        let calls = answer.orderedToolCalls
        var output: [ResponsesWire.OutputItem] = []
        let incomplete = answer.finishReason == "length"
        if !answer.text.isEmpty || calls.isEmpty {
            output.append(.message(id: Self.messageID(), status: "completed", text: answer.text))
        }
        for call in calls {
            output.append(.functionCall(
                id: Self.callItemID(), status: "completed", callID: call.id, name: call.name, arguments: call.arguments,
                namespace: namespaces[call.name]
            ))
        }
        if incomplete, let last = output.indices.last { output[last] = output[last].with(status: "incomplete") }
        return finalResponse(answer, output: output)
    }

    private func finalResponse(_ answer: AnswerBuilder, output: [ResponsesWire.OutputItem]) -> ResponsesWire.Response {
        let incomplete = answer.finishReason == "length"
        return ResponsesWire.Response(
            id: id, createdAt: createdAt, status: incomplete ? "incomplete" : "completed",
            completedAt: incomplete ? nil : now(),
            incompleteReason: incomplete ? "max_output_tokens" : nil,
            model: model, output: output,
            usage: .init(inputTokens: inputTokens, outputTokens: TokenEstimator.outputTokens(of: answer), quota: answer.quota),
            echo: echo
        )
    }

    private func startedResponse(status: String = "in_progress") -> ResponsesWire.Response {
        ResponsesWire.Response(id: id, createdAt: createdAt, status: status, model: model, output: [], echo: echo)
    }

    func response(for error: APIError) -> (status: HTTPResponseStatus, json: String, headers: HTTPHeaders) {
        (error.status, error.json, error.headers)
    }

    // MARK: - Streamed

    mutating func opening() throws -> String {
        try lifecycle("response.created", startedResponse()) + lifecycle("response.in_progress", startedResponse())
    }

    mutating func frames(for deltas: [AnswerDelta]) throws -> String {
        var out = ""
        for delta in deltas {
            switch delta {
            case .text(let piece):
                if openMessage == nil { out += try openMessageItem() }
                let index = openMessage!
                items[index].text += piece
                out += try frame(ResponsesWire.TextEvent(
                    type: "response.output_text.delta", sequenceNumber: next(), itemID: items[index].id, outputIndex: index, delta: piece
                ))
            case .toolCallStart(let callIndex, let callID, let name):
                out += try closeMessage(status: "completed")
                items.append(Item(id: Self.callItemID(), call: (callID, name, callIndex)))
                let index = items.count - 1
                outputIndexOfCall[callIndex] = index
                out += try frame(ResponsesWire.ItemEvent(
                    type: "response.output_item.added", sequenceNumber: next(), outputIndex: index, item: wire(items[index])
                ))
            case .toolCallArguments(let callIndex, let piece):
                // The builder announces every call before its first piece.
                guard let index = outputIndexOfCall[callIndex] else { continue }
                items[index].text += piece
                out += try frame(ResponsesWire.ArgumentsEvent(
                    type: "response.function_call_arguments.delta", sequenceNumber: next(), itemID: items[index].id,
                    outputIndex: index, delta: piece
                ))
            }
        }
        return out
    }

    mutating func closing(_ answer: AnswerBuilder) throws -> String {
        var out = ""
        // An answer without any piece still has its (empty) message, as the whole one does.
        if items.isEmpty { out += try openMessageItem() }
        let incomplete = answer.finishReason == "length"
        let last = items.count - 1
        for index in items.indices where items[index].status == "in_progress" {
            let status = incomplete && index == last ? "incomplete" : "completed"
            if items[index].call == nil {
                out += try closeMessage(status: status)
                continue
            }
            // A name that came only with a later piece is in the builder's call.
            if let call = items[index].call, call.name.isEmpty, answer.toolCalls.indices.contains(call.index) {
                items[index].call?.name = answer.toolCalls[call.index].name
            }
            items[index].status = status
            out += try frame(ResponsesWire.ArgumentsEvent(
                type: "response.function_call_arguments.done", sequenceNumber: next(), itemID: items[index].id,
                outputIndex: index, name: items[index].call?.name, arguments: items[index].text
            ))
            out += try frame(ResponsesWire.ItemEvent(
                type: "response.output_item.done", sequenceNumber: next(), outputIndex: index, item: wire(items[index])
            ))
        }
        let response = finalResponse(answer, output: items.map(wire))
        return out + (try lifecycle(incomplete ? "response.incomplete" : "response.completed", response))
    }

    func failure(_ error: APIError, started: Bool) -> String {
        var copy = self
        var out = ""
        if !started {
            // Only keep-alives went out: the stream still opens as every stream does.
            out += (try? copy.lifecycle("response.created", copy.startedResponse())) ?? ""
        }
        var response = copy.startedResponse(status: "failed")
        response.output = copy.items.map { item in
            var item = item
            if item.status == "in_progress" { item.status = "incomplete" }
            return wire(item)
        }
        response.error = .init(
            code: error.status == .tooManyRequests ? "rate_limit_exceeded" : "server_error",
            message: error.message, type: error.type, param: error.param
        )
        out += (try? copy.lifecycle("response.failed", response)) ?? ""
        return out
    }

    // MARK: - Pieces

    private mutating func next() -> Int {
        defer { sequence += 1 }
        return sequence
    }

    private mutating func lifecycle(_ type: String, _ response: ResponsesWire.Response) throws -> String {
        try frame(ResponsesWire.LifecycleEvent(type: type, sequenceNumber: next(), response: response))
    }

    private mutating func openMessageItem() throws -> String {
        items.append(Item(id: Self.messageID()))
        let index = items.count - 1
        openMessage = index
        return try frame(ResponsesWire.ItemEvent(
            type: "response.output_item.added", sequenceNumber: next(), outputIndex: index,
            item: .message(id: items[index].id, status: "in_progress", text: nil)
        )) + frame(ResponsesWire.PartEvent(
            type: "response.content_part.added", sequenceNumber: next(), itemID: items[index].id, outputIndex: index,
            part: .init(text: "")
        ))
    }

    /// The done events of the open message, if there is one.
    private mutating func closeMessage(status: String) throws -> String {
        guard let index = openMessage else { return "" }
        openMessage = nil
        items[index].status = status
        let item = items[index]
        return try frame(ResponsesWire.TextEvent(
            type: "response.output_text.done", sequenceNumber: next(), itemID: item.id, outputIndex: index, text: item.text
        )) + frame(ResponsesWire.PartEvent(
            type: "response.content_part.done", sequenceNumber: next(), itemID: item.id, outputIndex: index,
            part: .init(text: item.text)
        )) + frame(ResponsesWire.ItemEvent(
            type: "response.output_item.done", sequenceNumber: next(), outputIndex: index, item: wire(item)
        ))
    }

    private func frame(_ event: some ResponsesWire.StreamEvent) throws -> String {
        "event: \(event.type)\ndata: \(try Self.json(event))\n\n"
    }

    private static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONEncoder.shared.encode(value), as: UTF8.self)
    }
}

extension ResponsesWire.OutputItem {
    func with(status: String) -> Self {
        switch self {
        case .message(let id, _, let text): return .message(id: id, status: status, text: text)
        case .functionCall(let id, _, let callID, let name, let arguments, let namespace):
            return .functionCall(id: id, status: status, callID: callID, name: name, arguments: arguments, namespace: namespace)
        }
    }
}
