/// Defaults for answers, overridable per request by `Markers`.
struct AnswerDefaults: Sendable, Equatable {
    var chunks = 4
    var chunkDelayMs = 0
}

/// One event of an answer and the pause before it.
struct PlannedEvent: Sendable, Equatable {
    var delayMs: Int
    var payload: SimJSON
}

/// What a chat request is answered with, up to and including `FinishMetadata`
/// (the `QuotaMetadata` event and `data: end` are added by the handler).
struct AnswerPlan: Sendable, Equatable {
    var events: [PlannedEvent]
    var finishReason: String
}

/// Turns a chat request into its answer events. Pure apart from `nextCallID`.
///
/// - last message a `tool_message`/`function_message` → text `tool result: <result>`;
/// - tools offered and the last user message has `[[parallel_tools=N]]` → N calls of the
///   offered tools (cycling), arguments `{"index": i, "query": "<message text>"}`, whose
///   pieces interleave (v8), finish reason `tool_call`;
/// - a tool forced by `tool-choice-named` / `-required` → a call of it; `tool-choice-none` →
///   no tools offered;
/// - tools offered and the last message is a user message mentioning `tool` or a tool's
///   name → a call of each mentioned tool (or of the first tool), one after the other,
///   arguments `{"query": "<message text>"}`, finish reason `tool_call`;
/// - otherwise the last user message (markers stripped) reversed, or `[[text=…]]`.
enum AnswerPlanner {
    static let maxChunks = 10_000

    /// Most calls `[[parallel_tools=N]]` may ask for.
    static let maxParallelTools = 64

    /// `omitSingleIndex`: a lone tool call carries no `parallelToolIndex`.
    static func plan(
        _ request: ChatRequest, defaults: AnswerDefaults, omitSingleIndex: Bool = false, nextCallID: () -> String
    ) -> AnswerPlan {
        let markers = Markers(parsing: request.lastUserText)
        let chunks = min(max(markers.chunks ?? defaults.chunks, 1), maxChunks)
        let delay = max(markers.delayMs ?? defaults.chunkDelayMs, 0)

        var events: [SimJSON]
        let reason: String
        let lastType = request.lastMessageType
        if lastType == "tool_message" || lastType == "function_message" {
            let message = request.lastMessage
            let result = ChatRequest.text(of: message?["result"] ?? message?["content"])
            events = contentEvents("tool result: \(result)", chunks: chunks)
            reason = markers.finishLength ? "length" : "stop"
        } else if lastType == "user_message", !request.toolNames.isEmpty, let n = markers.parallelTools, n >= 1 {
            let count = min(n, maxParallelTools)
            let calls = (0..<count).map { index in
                PlannedCall(
                    tool: request.toolNames[index % request.toolNames.count],
                    arguments: SimJSON.object(["query": .string(markers.stripped), "index": .int(index)]).text
                )
            }
            events = toolCallEvents(
                calls, pieces: max(chunks, 2), interleaved: true, version: request.version,
                omitSingleIndex: omitSingleIndex, nextCallID: nextCallID
            )
            reason = "tool_call"
        } else if lastType == "user_message", !request.toolNames.isEmpty,
            let tools = request.forcedTool.map({ [$0] }) ?? calledTools(in: markers.stripped, offered: request.toolNames)
        {
            let arguments = SimJSON.object(["query": .string(markers.stripped)]).text
            events = toolCallEvents(
                tools.map { PlannedCall(tool: $0, arguments: arguments) }, pieces: max(chunks, 2), interleaved: false,
                version: request.version, omitSingleIndex: omitSingleIndex, nextCallID: nextCallID
            )
            reason = "tool_call"
        } else {
            let text = markers.text ?? String(markers.stripped.reversed())
            events = contentEvents(text, chunks: chunks)
            reason = markers.finishLength ? "length" : "stop"
        }

        var planned = events.map { PlannedEvent(delayMs: delay, payload: $0) }
        planned.append(PlannedEvent(delayMs: 0, payload: ["type": "FinishMetadata", "reason": .string(reason)]))
        return AnswerPlan(events: planned, finishReason: reason)
    }

    /// `Content` events: the text in `chunks` roughly equal pieces (fewer when the text is
    /// shorter; one empty piece for an empty text).
    static func contentEvents(_ text: String, chunks: Int) -> [SimJSON] {
        split(text, into: chunks).map { ["type": "Content", "content": .string($0)] }
    }

    /// Splits by Characters into `parts` pieces whose sizes differ by at most one.
    static func split(_ text: String, into parts: Int) -> [String] {
        let characters = Array(text)
        let count = min(max(parts, 1), max(characters.count, 1))
        let base = characters.count / count
        let extra = characters.count % count
        var pieces: [String] = []
        var start = 0
        for index in 0..<count {
            let size = base + (index < extra ? 1 : 0)
            pieces.append(String(characters[start..<start + size]))
            start += size
        }
        return pieces
    }

    /// The tools a message calls: every offered tool named in it (case-insensitive, in the
    /// order they appear; a name inside a longer matched name does not count), else the first
    /// tool when the message says `tool`; nil when it is not a tool request.
    static func calledTools(in message: String, offered: [String]) -> [String]? {
        let lower = message.lowercased()
        var claimed: [Range<String.Index>] = []
        var hits: [(position: String.Index, name: String)] = []
        var seen = Set<String>()
        for name in offered.sorted(by: { $0.count > $1.count }) where !name.isEmpty && !seen.contains(name) {
            let needle = name.lowercased()
            for range in lower.ranges(of: needle) where !claimed.contains(where: { $0.overlaps(range) }) {
                claimed.append(range)
                if seen.insert(name).inserted { hits.append((range.lowerBound, name)) }
            }
        }
        if !hits.isEmpty { return hits.sorted { $0.position < $1.position }.map(\.name) }
        if lower.contains("tool"), let first = offered.first { return [first] }
        return nil
    }

    /// One tool call of an answer.
    struct PlannedCall: Sendable, Equatable {
        var tool: String
        var arguments: String
    }

    /// v8: per call a `ToolCall` with `id`, `name` and `parallelToolIndex`, then pieces with
    /// only `content` and `parallelToolIndex`; `interleaved`: piece 1 of every call, then piece
    /// 2 of every call, … (else call after call). v7: `FunctionCall` with `name`, then pieces
    /// with `name: null`, call after call (v7 has no index to interleave by).
    static func toolCallEvents(
        _ calls: [PlannedCall], pieces: Int, interleaved: Bool, version: APIVersion, omitSingleIndex: Bool = false,
        nextCallID: () -> String
    ) -> [SimJSON] {
        let argumentPieces = calls.map { split($0.arguments, into: pieces) }
        switch version {
        case .v7:
            return zip(calls, argumentPieces).flatMap { call, parts in
                parts.enumerated().map { index, part -> SimJSON in
                    ["type": "FunctionCall", "name": index == 0 ? .string(call.tool) : .null, "content": .string(part)]
                }
            }
        case .v8:
            let withIndex = !(omitSingleIndex && calls.count == 1)
            let perCall: [[SimJSON]] = zip(calls, argumentPieces).enumerated().map { callIndex, pair in
                let (call, parts) = pair
                let id = nextCallID()
                return parts.enumerated().map { index, part in
                    var event: [String: SimJSON] = ["type": "ToolCall", "content": .string(part)]
                    if index == 0 {
                        event["id"] = .string(id)
                        event["name"] = .string(call.tool)
                    }
                    if withIndex { event["parallelToolIndex"] = .int(callIndex) }
                    return .object(event)
                }
            }
            guard interleaved else { return perCall.flatMap { $0 } }
            var out: [SimJSON] = []
            for round in 0..<(perCall.map(\.count).max() ?? 0) {
                for pieces in perCall where round < pieces.count { out.append(pieces[round]) }
            }
            return out
        }
    }
}
