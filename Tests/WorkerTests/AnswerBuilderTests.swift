import Foundation
import Shared
import Synchronization
import Testing
@testable import WorkerCore

/// Hands out `call_gen1`, `call_gen2`, … for v7 calls.
final class IDCounter: Sendable {
    private let n = Mutex(0)
    var make: @Sendable () -> String {
        { "call_gen\(self.n.withLock { $0 += 1; return $0 })" }
    }
}

@Suite struct AnswerBuilderTests {
    func apply(_ events: [UpstreamEvent], to builder: inout AnswerBuilder) -> [AnswerDelta] {
        events.flatMap { builder.apply($0) }
    }

    // MARK: folding

    @Test func textAccumulates() {
        var b = AnswerBuilder()
        #expect(!b.hasAnswer)
        #expect(b.apply(.content("Hel")) == [.text("Hel")])
        #expect(b.apply(.content("")) == [])
        #expect(b.apply(.content("lo")) == [.text("lo")])
        #expect(b.text == "Hello")
        #expect(b.hasAnswer)
        #expect(b.toolCalls.isEmpty)
    }

    @Test func emptyContentIsNotAnAnswer() {
        var b = AnswerBuilder()
        _ = b.apply(.content(""))
        _ = b.apply(.ignored(type: "Ping"))
        _ = b.apply(.finish(reason: "stop"))
        #expect(!b.hasAnswer)
        #expect(b.text == "")
    }

    @Test func v8ToolCallsNewIdStartsNewCall() {
        var b = AnswerBuilder(makeID: { Issue.record("v8 ids must be used as given"); return "unused" })
        let deltas = apply([
            .toolCall(.init(id: "tc_a", name: "get_weather", arguments: "")),
            .toolCall(.init(id: nil, name: nil, arguments: #"{"city":"#)),
            .toolCall(.init(id: nil, name: nil, arguments: #""Paris"}"#)),
            .toolCall(.init(id: "tc_b", name: "get_time", arguments: "{")),
            .toolCall(.init(id: "tc_b", name: nil, arguments: "}")),
        ], to: &b)
        #expect(deltas == [
            .toolCallStart(index: 0, id: "tc_a", name: "get_weather"),
            .toolCallArguments(index: 0, #"{"city":"#),
            .toolCallArguments(index: 0, #""Paris"}"#),
            .toolCallStart(index: 1, id: "tc_b", name: "get_time"),
            .toolCallArguments(index: 1, "{"),
            .toolCallArguments(index: 1, "}"),
        ])
        #expect(b.toolCalls == [
            .init(id: "tc_a", name: "get_weather", arguments: #"{"city":"Paris"}"#),
            .init(id: "tc_b", name: "get_time", arguments: "{}"),
        ])
        #expect(b.hasAnswer)
    }

    @Test func v7FunctionCallNewNameStartsNewCallWithGeneratedId() {
        let ids = IDCounter()
        var b = AnswerBuilder(makeID: ids.make)
        let deltas = apply([
            .toolCall(.init(id: nil, name: "lookup", arguments: #"{"q":"#)),
            .toolCall(.init(id: nil, name: nil, arguments: "1}")),
            .toolCall(.init(id: nil, name: "fetch", arguments: "")),
            .toolCall(.init(id: nil, name: nil, arguments: "{}")),
        ], to: &b)
        #expect(deltas == [
            .toolCallStart(index: 0, id: "call_gen1", name: "lookup"),
            .toolCallArguments(index: 0, #"{"q":"#),
            .toolCallArguments(index: 0, "1}"),
            .toolCallStart(index: 1, id: "call_gen2", name: "fetch"),
            .toolCallArguments(index: 1, "{}"),
        ])
        #expect(b.toolCalls == [
            .init(id: "call_gen1", name: "lookup", arguments: #"{"q":1}"#),
            .init(id: "call_gen2", name: "fetch", arguments: "{}"),
        ])
    }

    @Test func defaultGeneratedIdsStartWithCallAndDiffer() {
        var b = AnswerBuilder()
        _ = b.apply(.toolCall(.init(id: nil, name: "a", arguments: "{}")))
        _ = b.apply(.toolCall(.init(id: nil, name: "b", arguments: "{}")))
        #expect(b.toolCalls.count == 2)
        for call in b.toolCalls {
            #expect(call.id.hasPrefix("call_"))
            #expect(call.id.count > "call_".count)
        }
        #expect(b.toolCalls[0].id != b.toolCalls[1].id)
    }

    @Test func emptyIdIsTreatedAsMissing() {
        let ids = IDCounter()
        var b = AnswerBuilder(makeID: ids.make)
        _ = b.apply(.toolCall(.init(id: "", name: "f", arguments: "{")))
        _ = b.apply(.toolCall(.init(id: "", name: nil, arguments: "}")))
        #expect(b.toolCalls == [.init(id: "call_gen1", name: "f", arguments: "{}")])
    }

    @Test func finishQuotaAndEndAreRecorded() {
        var b = AnswerBuilder()
        let quota = QuotaReport(spent: "1", current: "2", maximum: "3", until: nil)
        #expect(b.apply(.finish(reason: "length")) == [])
        #expect(b.apply(.quota(quota)) == [])
        #expect(!b.ended)
        #expect(b.apply(.end) == [])
        #expect(b.upstreamFinishReason == "length")
        #expect(b.quota == quota)
        #expect(b.ended)
    }

    // MARK: finish reason

    @Test(arguments: [
        (String?.none, false, "stop"),
        (nil, true, "tool_calls"),
        ("stop", false, "stop"),
        ("tool_call", true, "tool_calls"),
        ("tool_call", false, "tool_calls"),
        ("tool_calls", true, "tool_calls"),
        ("function_call", true, "tool_calls"),
        ("length", false, "length"),
        ("length", true, "length"),
        ("something_new", false, "stop"),
    ])
    func finishReasonMapping(upstream: String?, withToolCall: Bool, expected: String) {
        var b = AnswerBuilder()
        if withToolCall { _ = b.apply(.toolCall(.init(id: "x", name: "f", arguments: "{}"))) }
        _ = b.apply(.content("t"))
        if let upstream { _ = b.apply(.finish(reason: upstream)) }
        #expect(b.finishReason == expected)
    }

    // MARK: chat.completion

    func completionJSON(_ events: [UpstreamEvent]) throws -> JSONValue {
        var b = AnswerBuilder(makeID: IDCounter().make)
        _ = apply(events, to: &b)
        return try TestSupport.wire(b.completion(id: "chatcmpl-1", created: 1_700_000_000, model: "gpt-4o"))
    }

    @Test func completionWithText() throws {
        let c = try completionJSON([.content("Hello"), .content(" world"), .finish(reason: "stop"), .end])
        #expect(c == json(#"""
        {"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o",
         "choices":[{"index":0,"message":{"role":"assistant","content":"Hello world"},"logprobs":null,"finish_reason":"stop"}],
         "usage":{"prompt_tokens":0,"completion_tokens":2,"total_tokens":2}}
        """#))
    }

    @Test func completionWithOnlyToolCallsHasNullContent() throws {
        let c = try completionJSON([
            .toolCall(.init(id: "tc1", name: "get_weather", arguments: #"{"city":"#)),
            .toolCall(.init(id: nil, name: nil, arguments: #""Paris"}"#)),
            .toolCall(.init(id: "tc2", name: "get_time", arguments: "{}")),
            .finish(reason: "tool_call"), .end,
        ])
        let message = try #require(c["choices"]?.at(0)?["message"])
        #expect(message.objectValue?.keys.contains("content") == true)
        #expect(message["content"] == .null)
        #expect(message == json(#"""
        {"role":"assistant","content":null,"tool_calls":[
          {"id":"tc1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
          {"id":"tc2","type":"function","function":{"name":"get_time","arguments":"{}"}}]}
        """#))
        #expect(c["choices"]?.at(0)?["finish_reason"] == .string("tool_calls"))
    }

    @Test func completionWithTextAndToolCallsKeepsText() throws {
        let c = try completionJSON([.content("Checking."), .toolCall(.init(id: nil, name: "f", arguments: "{}"))])
        let message = try #require(c["choices"]?.at(0)?["message"])
        #expect(message["content"] == .string("Checking."))
        #expect(message["tool_calls"]?.at(0) == json(#"{"id":"call_gen1","type":"function","function":{"name":"f","arguments":"{}"}}"#))
        #expect(c["choices"]?.at(0)?["finish_reason"] == .string("tool_calls"))
    }

    @Test func completionWithNothingHasEmptyContent() throws {
        let c = try completionJSON([.end])
        #expect(c["choices"]?.at(0)?["message"] == json(#"{"role":"assistant","content":""}"#))
    }

    @Test func completionLengthFinish() throws {
        let c = try completionJSON([.content("cut"), .finish(reason: "length")])
        #expect(c["choices"]?.at(0)?["finish_reason"] == .string("length"))
    }

    @Test func usageHasEstimatedTokensAndTheQuotaWhenSeen() throws {
        let c = try completionJSON([
            .content("x"), .finish(reason: "stop"),
            .quota(.init(spent: "1.5", current: "10", maximum: "100", until: "2025-08-01T00:00:00Z")), .end,
        ])
        #expect(c["usage"]?["jetbrains_quota"] == json(#"""
        {"spent":"1.5","current":"10","maximum":"100","until":"2025-08-01T00:00:00Z"}
        """#))
        #expect(c["usage"]?["completion_tokens"]?.asNumber == 1)
        #expect(c["usage"]?["total_tokens"]?.asNumber == c["usage"]?["completion_tokens"]?.asNumber)
        let withoutQuota = try completionJSON([.content("x"), .finish(reason: "stop"), .end])
        #expect(withoutQuota["usage"]?["jetbrains_quota"] == nil)
        #expect(withoutQuota["usage"]?["prompt_tokens"] != nil)
    }

    // MARK: streaming chunks

    @Test func chunkDeltas() throws {
        #expect(try TestSupport.wire(AnswerDelta.text("Hi").chunkDelta) == json(#"{"content":"Hi"}"#))
        #expect(try TestSupport.wire(AnswerDelta.toolCallStart(index: 0, id: "tc1", name: "f").chunkDelta) == json(#"""
        {"tool_calls":[{"index":0,"id":"tc1","type":"function","function":{"name":"f","arguments":""}}]}
        """#))
        #expect(try TestSupport.wire(AnswerDelta.toolCallArguments(index: 2, #"{"a":"#).chunkDelta) == json(#"""
        {"tool_calls":[{"index":2,"function":{"arguments":"{\"a\":"}}]}
        """#))
    }

    @Test func everyToolCallChunkCarriesItsIndex() throws {
        var b = AnswerBuilder(makeID: IDCounter().make)
        let deltas = apply([
            .toolCall(.init(id: "a", name: "f", arguments: "{")),
            .toolCall(.init(id: nil, name: nil, arguments: "}")),
            .toolCall(.init(id: "b", name: "g", arguments: "{}")),
        ], to: &b)
        let indices = try deltas.map { delta -> Double? in
            try TestSupport.wire(delta.chunkDelta)["tool_calls"]?.at(0)?["index"]?.asNumber
        }
        #expect(indices == [0, 0, 0, 1, 1])
    }

    @Test func chunkEnvelope() throws {
        let chunk = OpenAIWire.Chunk(
            id: "chatcmpl-1", created: 1, model: "gpt-4o",
            choices: [.init(delta: AnswerDelta.text("x").chunkDelta, finishReason: nil)])
        #expect(try TestSupport.wire(chunk) == json(#"""
        {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o",
         "choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}
        """#))

        var last = OpenAIWire.Chunk(
            id: "chatcmpl-1", created: 1, model: "gpt-4o",
            choices: [.init(delta: .init(), finishReason: "stop")])
        last.includeUsageField = true
        let encoded = try TestSupport.wire(last)
        #expect(encoded["usage"] == .null)
        #expect(encoded["choices"]?.at(0) == json(#"{"index":0,"delta":{},"finish_reason":"stop"}"#))
    }
}
