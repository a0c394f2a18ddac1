import Foundation
import Shared
import Testing
@testable import WorkerCore

/// The Responses API's wire format: the whole `response` object and the streamed event sequence.
@Suite struct ResponsesEncoderTests {
    struct Event {
        var name: String
        var data: JSONValue
        var type: String? { data["type"]?.stringValue }
        var sequence: Int? { data["sequence_number"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } } }
        var outputIndex: Int? { data["output_index"].flatMap { if case .number(let n) = $0 { Int(n) } else { nil } } }
    }

    /// `event: X\ndata: Y\n\n` frames → events (every frame must have both lines).
    static func events(_ text: String) throws -> [Event] {
        try text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { frame in
            let lines = frame.components(separatedBy: "\n")
            try #require(lines.count == 2, "frame: \(frame)")
            try #require(lines[0].hasPrefix("event: ") && lines[1].hasPrefix("data: "), "frame: \(frame)")
            let data = try #require(JSONValue(parsing: String(lines[1].dropFirst(6))))
            return Event(name: String(lines[0].dropFirst(7)), data: data)
        }
    }

    static let echo = ResponsesRequest.Echo()

    func encoder() -> ResponsesEncoder {
        var e = ResponsesEncoder(model: "gpt-4o", echo: Self.echo, inputTokens: 12)
        e.now = { 1_700_000_100 }
        e.createdAt = 1_700_000_000
        return e
    }

    /// Plays the upstream events through a builder and the encoder as ChatProxy does.
    func stream(_ upstream: [UpstreamEvent], encoder start: ResponsesEncoder? = nil) throws -> (events: [Event], builder: AnswerBuilder) {
        var encoder = start ?? self.encoder()
        var builder = AnswerBuilder()
        var text = try encoder.opening()
        for event in upstream {
            text += try encoder.frames(for: builder.apply(event))
        }
        text += try encoder.closing(builder)
        return (try Self.events(text), builder)
    }

    func whole(_ upstream: [UpstreamEvent]) throws -> JSONValue {
        var builder = AnswerBuilder()
        for event in upstream { _ = builder.apply(event) }
        return try #require(JSONValue(parsing: try encoder().whole(builder)))
    }

    static func checkSequence(_ events: [Event]) {
        #expect(events.map(\.sequence) == events.indices.map { $0 })
        for event in events { #expect(event.name == event.type) }
    }

    // MARK: whole

    @Test func wholeTextResponse() throws {
        let quota = QuotaReport(spent: "1", current: "2", maximum: "3")
        let r = try whole([.content("Hel"), .content("lo"), .finish(reason: "stop"), .quota(quota), .end])
        #expect(r["id"]?.stringValue?.hasPrefix("resp_") == true)
        #expect(r["object"] == .string("response"))
        #expect(r["created_at"] == .number(1_700_000_000))
        #expect(r["completed_at"] == .number(1_700_000_100))
        #expect(r["status"] == .string("completed"))
        #expect(r["model"] == .string("gpt-4o"))
        #expect(r["error"] == .null)
        #expect(r["incomplete_details"] == .null)
        #expect(r["previous_response_id"] == .null)
        #expect(r["store"] == .bool(false))
        #expect(r["parallel_tool_calls"] == .bool(true))
        #expect(r["tool_choice"] == .string("auto"))
        #expect(r["tools"] == .array([]))
        #expect(r["text"] == .object(["format": .object(["type": .string("text")])]))
        let output = try #require(r["output"]?.arrayValue)
        #expect(output.count == 1)
        let message = output[0]
        #expect(message["type"] == .string("message"))
        #expect(message["id"]?.stringValue?.hasPrefix("msg_") == true)
        #expect(message["role"] == .string("assistant"))
        #expect(message["status"] == .string("completed"))
        #expect(message["content"] == .array([.object([
            "type": .string("output_text"), "text": .string("Hello"), "annotations": .array([]), "logprobs": .array([]),
        ])]))
        let usage = try #require(r["usage"])
        #expect(usage["input_tokens"] == .number(12))
        #expect(usage["output_tokens"] == .number(Double(TokenEstimator.count("Hello"))))
        #expect(usage["total_tokens"] == .number(Double(12 + TokenEstimator.count("Hello"))))
        #expect(usage["input_tokens_details"] == .object(["cached_tokens": .number(0), "cache_write_tokens": .number(0)]))
        #expect(usage["output_tokens_details"] == .object(["reasoning_tokens": .number(0)]))
        #expect(usage["jetbrains_quota"] == .object(["spent": .string("1"), "current": .string("2"), "maximum": .string("3")]))
    }

    @Test func wholeToolCalls() throws {
        let r = try whole([
            .toolCall(.init(id: "call_1", name: "get_weather", arguments: #"{"ci"#, index: 0)),
            .toolCall(.init(id: "call_2", name: "get_time", arguments: #"{"tz""#, index: 1)),
            .toolCall(.init(arguments: #"ty":"Oslo"}"#, index: 0)),
            .toolCall(.init(arguments: #":"UTC"}"#, index: 1)),
            .finish(reason: "tool_call"), .end,
        ])
        #expect(r["status"] == .string("completed"))
        let output = try #require(r["output"]?.arrayValue)
        #expect(output.count == 2, "no empty message beside the calls")
        #expect(output.map { $0["type"] } == [.string("function_call"), .string("function_call")])
        #expect(output.map { $0["call_id"] } == [.string("call_1"), .string("call_2")])
        #expect(output.map { $0["name"] } == [.string("get_weather"), .string("get_time")])
        #expect(output.map { $0["arguments"] } == [.string(#"{"city":"Oslo"}"#), .string(#"{"tz":"UTC"}"#)])
        #expect(output.allSatisfy { $0["id"]?.stringValue?.hasPrefix("fc_") == true && $0["status"] == .string("completed") })
    }

    @Test func namespacedCallsSayTheirNamespace() throws {
        let upstream: [UpstreamEvent] = [
            .toolCall(.init(id: "call_1", name: "spawn_agent", arguments: "{}", index: 0)),
            .toolCall(.init(id: "call_2", name: "exec_command", arguments: "{}", index: 1)),
            .finish(reason: "tool_call"), .end,
        ]
        let encoder = ResponsesEncoder(model: "m", echo: Self.echo, inputTokens: 1, namespaces: ["spawn_agent": "multi_agent_v1"])
        var builder = AnswerBuilder()
        for event in upstream { _ = builder.apply(event) }
        let whole = try #require(JSONValue(parsing: try encoder.whole(builder)))
        #expect(whole["output"]?.arrayValue?.map { $0["namespace"] } == [.string("multi_agent_v1"), nil])
        let (events, _) = try stream(upstream, encoder: encoder)
        let added = events.filter { $0.name == "response.output_item.added" }
        #expect(added.map { $0.data["item"]?["namespace"] } == [.string("multi_agent_v1"), nil])
    }

    @Test func wholeLengthIsIncomplete() throws {
        let r = try whole([.content("trunc"), .finish(reason: "length"), .end])
        #expect(r["status"] == .string("incomplete"))
        #expect(r["incomplete_details"] == .object(["reason": .string("max_output_tokens")]))
        #expect(r["completed_at"] == .null)
        #expect(r["output"]?.arrayValue?.first?["status"] == .string("incomplete"))
    }

    @Test func echoedSettings() throws {
        var echo = ResponsesRequest.Echo()
        echo.instructions = "be brief"
        echo.tools = [.object(["type": .string("function"), "name": .string("f")])]
        echo.toolChoice = .string("required")
        echo.parallelToolCalls = false
        echo.maxOutputTokens = 99
        echo.temperature = 0.5
        echo.topP = 0.8
        echo.reasoning = .object(["effort": .string("low"), "summary": .null])
        var encoder = ResponsesEncoder(model: "claude-4-sonnet", echo: echo, inputTokens: 1)
        encoder.now = { 1 }
        var builder = AnswerBuilder()
        _ = builder.apply(.content("x"))
        let r = try #require(JSONValue(parsing: try encoder.whole(builder)))
        #expect(r["instructions"] == .string("be brief"))
        #expect(r["tools"] == .array(echo.tools))
        #expect(r["tool_choice"] == .string("required"))
        #expect(r["parallel_tool_calls"] == .bool(false))
        #expect(r["max_output_tokens"] == .number(99))
        #expect(r["temperature"] == .number(0.5))
        #expect(r["top_p"] == .number(0.8))
        #expect(r["reasoning"] == echo.reasoning)
        #expect(r["model"] == .string("claude-4-sonnet"))
    }

    // MARK: streamed

    @Test func streamedText() throws {
        let (events, _) = try stream([.content("Hel"), .content("lo"), .finish(reason: "stop"), .end])
        Self.checkSequence(events)
        #expect(events.map(\.name) == [
            "response.created", "response.in_progress",
            "response.output_item.added", "response.content_part.added",
            "response.output_text.delta", "response.output_text.delta",
            "response.output_text.done", "response.content_part.done", "response.output_item.done",
            "response.completed",
        ])
        let created = events[0].data["response"]
        #expect(created?["status"] == .string("in_progress"))
        #expect(created?["output"] == .array([]))
        #expect(created?["usage"] == .null)
        let added = events[2].data
        #expect(added["output_index"] == .number(0))
        let itemID = try #require(added["item"]?["id"]?.stringValue)
        #expect(added["item"]?["status"] == .string("in_progress"))
        #expect(added["item"]?["content"] == .array([]))
        #expect(events[3].data["part"] == .object([
            "type": .string("output_text"), "text": .string(""), "annotations": .array([]), "logprobs": .array([]),
        ]))
        for event in events[3...7] {
            #expect(event.data["item_id"] == .string(itemID))
            #expect(event.outputIndex == 0)
        }
        #expect(events[8].data["item"]?["id"] == .string(itemID))
        #expect(events[4...5].map { $0.data["delta"] } == [.string("Hel"), .string("lo")])
        #expect(events[4].data["content_index"] == .number(0))
        #expect(events[4].data["logprobs"] == .array([]))
        #expect(events[6].data["text"] == .string("Hello"))
        #expect(events[7].data["part"]?["text"] == .string("Hello"))
        #expect(events[8].data["item"]?["status"] == .string("completed"))
        let completed = try #require(events[9].data["response"])
        #expect(completed["id"] == created?["id"])
        #expect(completed["status"] == .string("completed"))
        #expect(completed["output"] == .array([events[8].data["item"]!]))
        #expect(completed["usage"]?["input_tokens"] == .number(12))
    }

    @Test func streamedParallelToolCallsKeepTheirOutputIndex() throws {
        let (events, _) = try stream([
            .toolCall(.init(id: "call_1", name: "get_weather", arguments: #"{"ci"#, index: 0)),
            .toolCall(.init(id: "call_2", name: "get_time", arguments: #"{"tz""#, index: 1)),
            .toolCall(.init(arguments: #"ty":"Oslo"}"#, index: 0)),
            .toolCall(.init(arguments: #":"UTC"}"#, index: 1)),
            .finish(reason: "tool_call"), .end,
        ])
        Self.checkSequence(events)
        #expect(events.map(\.name) == [
            "response.created", "response.in_progress",
            "response.output_item.added", "response.function_call_arguments.delta",
            "response.output_item.added", "response.function_call_arguments.delta",
            "response.function_call_arguments.delta", "response.function_call_arguments.delta",
            "response.function_call_arguments.done", "response.output_item.done",
            "response.function_call_arguments.done", "response.output_item.done",
            "response.completed",
        ])
        #expect(events[2].data["item"]?["call_id"] == .string("call_1"))
        #expect(events[2].data["item"]?["name"] == .string("get_weather"))
        #expect(events[2].data["item"]?["arguments"] == .string(""))
        #expect(events[4].data["item"]?["call_id"] == .string("call_2"))
        let ids = [events[2].data["item"]?["id"], events[4].data["item"]?["id"]]
        #expect(ids[0] != ids[1])
        // each piece goes out as it came, under its own call's output_index and item_id
        let deltas = events.filter { $0.name == "response.function_call_arguments.delta" }
        #expect(deltas.map(\.outputIndex) == [0, 1, 0, 1])
        #expect(deltas.map { $0.data["item_id"] } == [ids[0], ids[1], ids[0], ids[1]])
        #expect(deltas.map { $0.data["delta"] } == [.string(#"{"ci"#), .string(#"{"tz""#), .string(#"ty":"Oslo"}"#), .string(#":"UTC"}"#)])
        let dones = events.filter { $0.name == "response.function_call_arguments.done" }
        #expect(dones.map(\.outputIndex) == [0, 1])
        #expect(dones.map { $0.data["arguments"] } == [.string(#"{"city":"Oslo"}"#), .string(#"{"tz":"UTC"}"#)])
        #expect(dones.map { $0.data["name"] } == [.string("get_weather"), .string("get_time")])
        let final = try #require(events.last?.data["response"]?["output"]?.arrayValue)
        #expect(final.map { $0["id"] } == ids)
        #expect(final.map { $0["status"] } == [.string("completed"), .string("completed")])
        #expect(final.map { $0["arguments"] } == [.string(#"{"city":"Oslo"}"#), .string(#"{"tz":"UTC"}"#)])
    }

    @Test func textThenAToolCall() throws {
        let (events, _) = try stream([
            .content("Checking."),
            .toolCall(.init(id: "call_1", name: "f", arguments: "{}", index: 0)),
            .finish(reason: "tool_call"), .end,
        ])
        Self.checkSequence(events)
        #expect(events.map(\.name) == [
            "response.created", "response.in_progress",
            "response.output_item.added", "response.content_part.added", "response.output_text.delta",
            // the message closes before the call opens
            "response.output_text.done", "response.content_part.done", "response.output_item.done",
            "response.output_item.added", "response.function_call_arguments.delta",
            "response.function_call_arguments.done", "response.output_item.done",
            "response.completed",
        ])
        #expect(events[2].outputIndex == 0)
        #expect(events[8].outputIndex == 1)
        let final = try #require(events.last?.data["response"]?["output"]?.arrayValue)
        #expect(final.map { $0["type"] } == [.string("message"), .string("function_call")])
    }

    @Test func streamedLengthIsIncomplete() throws {
        let (events, _) = try stream([.content("trunc"), .finish(reason: "length"), .end])
        Self.checkSequence(events)
        #expect(events.last?.name == "response.incomplete")
        let response = try #require(events.last?.data["response"])
        #expect(response["status"] == .string("incomplete"))
        #expect(response["incomplete_details"] == .object(["reason": .string("max_output_tokens")]))
        let done = try #require(events.first { $0.name == "response.output_item.done" })
        #expect(done.data["item"]?["status"] == .string("incomplete"))
        #expect(response["output"]?.arrayValue?.first?["status"] == .string("incomplete"))
    }

    @Test func anEmptyAnswerStillHasItsMessage() throws {
        let (events, _) = try stream([.finish(reason: "stop"), .end])
        Self.checkSequence(events)
        #expect(events.map(\.name) == [
            "response.created", "response.in_progress",
            "response.output_item.added", "response.content_part.added",
            "response.output_text.done", "response.content_part.done", "response.output_item.done",
            "response.completed",
        ])
    }

    @Test func failureAfterTheFirstEventContinuesTheSequence() throws {
        var encoder = self.encoder()
        var builder = AnswerBuilder()
        var text = try encoder.opening()
        text += try encoder.frames(for: builder.apply(.content("partial")))
        let error = APIError(status: .badGateway, message: "Upstream failed mid-stream: boom", type: "upstream_error", code: "upstream_error")
        text += encoder.failure(error, started: true)
        let events = try Self.events(text)
        Self.checkSequence(events)
        #expect(events.last?.name == "response.failed")
        let response = try #require(events.last?.data["response"])
        #expect(response["id"] == events[0].data["response"]?["id"])
        #expect(response["status"] == .string("failed"))
        #expect(response["error"]?["code"] == .string("server_error"))
        #expect(response["error"]?["message"] == .string("Upstream failed mid-stream: boom"))
        let output = try #require(response["output"]?.arrayValue)
        #expect(output.count == 1)
        #expect(output[0]["status"] == .string("incomplete"))
        #expect(output[0]["content"]?.arrayValue?.first?["text"] == .string("partial"))
    }

    @Test func failureBeforeAnyEventStillOpensTheStream() throws {
        let events = try Self.events(encoder().failure(.noUsableJWT, started: false))
        Self.checkSequence(events)
        #expect(events.map(\.name) == ["response.created", "response.failed"])
        #expect(events[1].data["response"]?["error"]?["message"] == .string(APIError.noUsableJWT.message))
        let limited = APIError(status: .tooManyRequests, message: "slow down", type: "rate_limit_error")
        let rateEvents = try Self.events(encoder().failure(limited, started: false))
        #expect(rateEvents[1].data["response"]?["error"]?["code"] == .string("rate_limit_exceeded"))
    }

    @Test func keepAliveIsAComment() {
        #expect(encoder().keepAlive.hasPrefix(":"))
        #expect(encoder().keepAlive.hasSuffix("\n\n"))
    }

    @Test func errorsBeforeAnyByteAreOpenAIShaped() throws {
        let answer = encoder().response(for: .unauthorized)
        #expect(answer.status == .unauthorized)
        let body = try #require(JSONValue(parsing: answer.json))
        #expect(body["error"]?["code"] == .string("invalid_api_key"))
    }
}
