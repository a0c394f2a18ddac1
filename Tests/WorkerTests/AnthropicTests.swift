import Foundation
import Shared
import Testing
@testable import WorkerCore

@Suite struct AnthropicRequestTests {
    func chat(_ json: String) throws -> ChatCompletionRequest {
        try JSONDecoder().decode(MessagesRequest.self, from: Data(json.utf8)).chatRequest()
    }

    @Test func blocksBecomeTheInternalChatRequest() throws {
        let request = try chat(#"""
        {"model":"claude-sonnet-4-6","max_tokens":100,"system":[{"type":"text","text":"be"},{"type":"text","text":"brief"}],
         "stop_sequences":["END"],"top_k":5,"thinking":{"type":"enabled","budget_tokens":2048},
         "tool_choice":{"type":"any","disable_parallel_tool_use":true},
         "tools":[{"name":"f","description":"d","input_schema":{"type":"object"}}],
         "metadata":{"user_id":"u"},"service_tier":"auto",
         "messages":[
           {"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}},
                                      {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]},
           {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"calling"},
                                           {"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}]},
           {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"bad"}],"is_error":true},
                                      {"type":"text","text":"again"}]}]}
        """#)
        #expect(request.messages.map(\.role) == ["system", "user", "assistant", "tool", "user"])
        #expect(request.messages[0].content == .text("be\nbrief"))
        #expect(request.messages[1].content == .parts([.text("hi"), .imageURL("data:image/png;base64,AAAA")]))
        #expect(request.messages[2].content == .text("calling"))
        #expect(request.messages[2].toolCalls?.first?.function.arguments == #"{"a":1}"#)
        #expect(request.messages[3].toolCallID == "toolu_1")
        #expect(request.messages[3].content == .text("Error: bad"))
        #expect(request.maxTokens == 100)
        #expect(request.stop == StopSequences(["END"]))
        #expect(request.topK == 5)
        #expect(request.thinkingBudget == 2048)
        #expect(request.toolChoice == .required)
        #expect(request.parallelToolCalls == false)
        #expect(request.tools?.first?.function.name == "f")
    }

    @Test(arguments: [
        (#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#, "max_tokens: Field required"),
        (#"{"model":"m","max_tokens":1,"messages":[]}"#, "messages: at least one message is required"),
        (#"{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]}"#, "messages.0.role"),
        (#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}"#, "base64"),
        (#"{"model":"m","max_tokens":1,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"x"}]}"#, "server tool"),
        (#"{"model":"m","max_tokens":1,"tool_choice":{"type":"tool"},"messages":[{"role":"user","content":"x"}]}"#, "tool_choice.name"),
    ])
    func invalidRequestsSayWhy(json: String, fragment: String) throws {
        let decoded = try JSONDecoder().decode(MessagesRequest.self, from: Data(json.utf8))
        let error = try #require(throws: MessagesRequest.Invalid.self) { _ = try decoded.chatRequest() }
        #expect(error.message.contains(fragment), "\(error.message)")
    }
}

@Suite struct AnthropicEncoderTests {
    func events(_ frames: String) -> [String] {
        frames.split(separator: "\n").filter { $0.hasPrefix("event: ") }.map { String($0.dropFirst(7)) }
    }

    @Test func aStreamedAnswerHasTheDocumentedEventOrder() throws {
        var encoder = AnthropicEncoder(model: "claude-sonnet-4-6", inputTokens: 12)
        var builder = AnswerBuilder(makeID: { "toolu_x" })
        var out = try encoder.opening()
        out += try encoder.frames(for: builder.apply(.content("Hel")))
        out += try encoder.frames(for: builder.apply(.content("lo")))
        out += try encoder.frames(for: builder.apply(.toolCall(.init(id: "t0", name: "a", arguments: "{\"x\":", index: 0))))
        out += try encoder.frames(for: builder.apply(.toolCall(.init(id: "t1", name: "b", arguments: "{\"y\":", index: 1))))
        out += try encoder.frames(for: builder.apply(.toolCall(.init(arguments: "1}", index: 0))))
        out += try encoder.frames(for: builder.apply(.toolCall(.init(arguments: "2}", index: 1))))
        _ = builder.apply(.finish(reason: "tool_call"))
        out += try encoder.closing(builder)
        #expect(events(out) == [
            "message_start", "ping",
            "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
            "content_block_start", "content_block_delta", "content_block_start", "content_block_delta",
            "content_block_delta", "content_block_delta",
            "content_block_stop", "content_block_stop", "message_delta", "message_stop",
        ])
        #expect(out.contains(#""partial_json":"1}""#))
        #expect(out.contains(#""stop_reason":"tool_use""#))
    }

    @Test func wholeMessageAndErrors() throws {
        let encoder = AnthropicEncoder(model: "m", inputTokens: 3)
        var builder = AnswerBuilder()
        _ = builder.apply(.content("hi"))
        _ = builder.apply(.finish(reason: "length"))
        let json = try #require(JSONValue(parsing: try encoder.whole(builder)))
        #expect(json["stop_reason"] == .string("max_tokens"))
        #expect(json["usage"]?["input_tokens"] == .number(3))
        #expect(json["content"]?.arrayValue?.first?["text"] == .string("hi"))
        let overloaded = encoder.response(for: .noUsableJWT)
        #expect(overloaded.status.code == 529)
        #expect(JSONValue(parsing: overloaded.json)?["error"]?["type"] == .string("overloaded_error"))
        #expect(AnthropicEncoder.input("not json") == .object(["_arguments": .string("not json")]))
    }
}
