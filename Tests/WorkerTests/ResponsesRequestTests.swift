import Foundation
import Shared
import Testing
@testable import WorkerCore

/// `POST /v1/responses` bodies → the internal chat request, and the 400s for what the worker
/// cannot honour.
@Suite struct ResponsesRequestTests {
    func decode(_ json: String) throws -> ResponsesRequest {
        try ProxyEndpoints.decodeResponsesRequest(Data(json.utf8))
    }

    /// The 400 a body gets.
    func rejection(_ json: String) -> APIError? {
        do {
            _ = try ProxyEndpoints.decodeResponsesRequest(Data(json.utf8))
            return nil
        } catch {
            return error
        }
    }

    static let png = "data:image/png;base64,iVBORw0KGgo="

    // MARK: input

    @Test func stringInputIsOneUserMessage() throws {
        let request = try decode(#"{"model":"gpt-4o","input":"Hello"}"#)
        #expect(request.input == [.message(role: "user", content: [.text("Hello")])])
        #expect(request.stream == false)
        let chat = request.chatRequest()
        #expect(chat.model == "gpt-4o")
        #expect(chat.messages == [ChatMessage(role: "user", content: .text("Hello"))])
        #expect(chat.tools == nil)
        #expect(chat.toolChoice == nil)
    }

    @Test func instructionsBecomeTheFirstSystemMessage() throws {
        let chat = try decode(#"{"model":"m","instructions":"be brief","input":"hi"}"#).chatRequest()
        #expect(chat.messages.map(\.role) == ["system", "user"])
        #expect(chat.messages[0].content == .text("be brief"))
    }

    @Test func everyInputItemKind() throws {
        let request = try decode("""
            {"model":"m","input":[
              {"role":"developer","content":"rules"},
              {"type":"message","role":"system","content":[{"type":"input_text","text":"more rules"}]},
              {"role":"user","content":[{"type":"input_text","text":"look"},{"type":"input_image","image_url":"\(Self.png)","detail":"auto"}]},
              {"type":"message","role":"assistant","id":"msg_1","status":"completed",
               "content":[{"type":"output_text","text":"let me check","annotations":[]}]},
              {"type":"function_call","id":"fc_1","call_id":"call_a","name":"get_weather","arguments":"{\\"city\\":\\"Oslo\\"}","status":"completed"},
              {"type":"function_call","call_id":"call_b","name":"get_time","arguments":"{}"},
              {"type":"function_call_output","call_id":"call_a","output":"sunny"},
              {"type":"function_call_output","call_id":"call_b","output":[{"type":"input_text","text":"12:00"}]},
              {"type":"reasoning","id":"rs_1","summary":[]},
              {"role":"user","content":"thanks"}
            ]}
            """)
        let chat = request.chatRequest()
        #expect(chat.messages.map(\.role) == ["developer", "system", "user", "assistant", "tool", "tool", "user"])
        #expect(chat.messages[0].content == .text("rules"))
        #expect(chat.messages[1].content == .text("more rules"))
        #expect(chat.messages[2].content == .parts([.text("look"), .imageURL(Self.png)]))
        // the assistant's text and both (parallel) calls are one assistant message
        #expect(chat.messages[3].content == .text("let me check"))
        #expect(chat.messages[3].toolCalls == [
            .init(id: "call_a", type: "function", function: .init(name: "get_weather", arguments: #"{"city":"Oslo"}"#)),
            .init(id: "call_b", type: "function", function: .init(name: "get_time", arguments: "{}")),
        ])
        #expect(chat.messages[4] == ChatMessage(role: "tool", content: .text("sunny"), toolCallID: "call_a"))
        #expect(chat.messages[5] == ChatMessage(role: "tool", content: .text("12:00"), toolCallID: "call_b"))
        #expect(chat.messages[6].content == .text("thanks"))
    }

    @Test func aFunctionCallWithoutAssistantTextOpensAnAssistantMessage() throws {
        let chat = try decode("""
            {"model":"m","input":[{"role":"user","content":"q"},
              {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
              {"type":"function_call_output","call_id":"c1","output":"r"}]}
            """).chatRequest()
        #expect(chat.messages.map(\.role) == ["user", "assistant", "tool"])
        #expect(chat.messages[1].content == nil)
        #expect(chat.messages[1].toolCalls?.map(\.id) == ["c1"])
    }

    @Test func theTranslatorTakesTheChatRequest() throws {
        let chat = try decode("""
            {"model":"m","instructions":"sys","input":[{"role":"user","content":"q"},
              {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
              {"type":"function_call_output","call_id":"c1","output":"r"}],
             "tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":{}}}]}
            """).chatRequest()
        let translation = try ChatTranslator(apiVersion: .v8).translate(chat, profile: "openai-gpt-4o")
        let types = try TestSupport.wire(translation.request)["chat"]?["messages"]?.arrayValue?.compactMap { $0["type"]?.stringValue }
        #expect(types == ["system_message", "user_message", "assistant_message_tool", "tool_message"])
    }

    // MARK: tools, tool_choice and the other parameters

    @Test func flatFunctionToolsAndToolChoice() throws {
        let request = try decode("""
            {"model":"m","input":"q","tools":[
              {"type":"function","name":"get_weather","description":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true},
              {"type":"function","name":"noop"}],
             "tool_choice":{"type":"function","name":"get_weather"},"parallel_tool_calls":false}
            """)
        let chat = request.chatRequest()
        #expect(chat.tools?.map(\.function.name) == ["get_weather", "noop"])
        #expect(chat.tools?[0].function.description == "weather")
        #expect(chat.tools?[0].function.parameters?["properties"]?["city"]?["type"] == .string("string"))
        #expect(chat.tools?[1].function.parameters == nil)
        #expect(chat.toolChoice == .function("get_weather"))
        #expect(chat.parallelToolCalls == false)
        // echoed as sent
        #expect(request.echo.tools.count == 2)
        #expect(request.echo.tools[0]["strict"] == .bool(true))
        #expect(request.echo.toolChoice == .object(["type": .string("function"), "name": .string("get_weather")]))
        #expect(request.echo.parallelToolCalls == false)
    }

    @Test func namespaceToolsArePlainFunctionsUpstream() throws {
        // Codex sends its sub-agent tools in a namespace; the client runs them like any function.
        let request = try decode("""
            {"model":"m","input":"q","tools":[
              {"type":"function","name":"exec_command","parameters":{"type":"object"}},
              {"type":"namespace","name":"multi_agent_v1","description":"sub-agents","tools":[
                {"type":"function","name":"spawn_agent","description":"spawn","parameters":{"type":"object"}},
                {"type":"function","name":"wait_agent"}]}]}
            """)
        #expect(request.tools.map(\.name) == ["exec_command", "spawn_agent", "wait_agent"])
        #expect(request.tools.map(\.namespace) == [nil, "multi_agent_v1", "multi_agent_v1"])
        #expect(request.chatRequest().tools?.map(\.function.name) == ["exec_command", "spawn_agent", "wait_agent"])
        #expect(request.echo.tools.count == 2, "echoed as sent")
        let duplicate = try #require(rejection("""
            {"model":"m","input":"q","tools":[{"type":"function","name":"f"},
              {"type":"namespace","name":"ns","tools":[{"type":"function","name":"f"}]}]}
            """))
        #expect(duplicate.param == "tools[1].tools[0].name")
        let builtIn = try #require(rejection("""
            {"model":"m","input":"q","tools":[{"type":"namespace","name":"ns","tools":[{"type":"web_search"}]}]}
            """))
        #expect(builtIn.param == "tools[0].tools[0].type")
    }

    @Test(arguments: [("auto", ToolChoice.auto), ("none", .none), ("required", .required)])
    func toolChoiceModes(mode: String, expected: ToolChoice) throws {
        let chat = try decode(#"{"model":"m","input":"q","tools":[{"type":"function","name":"f"}],"tool_choice":"\#(mode)"}"#).chatRequest()
        #expect(chat.toolChoice == expected)
    }

    @Test func samplingLengthReasoningAndFormat() throws {
        let request = try decode("""
            {"model":"m","input":"q","max_output_tokens":256,"temperature":0.2,"top_p":0.9,
             "reasoning":{"effort":"high","summary":"auto"},
             "text":{"format":{"type":"json_schema","name":"answer","schema":{"type":"object"},"strict":true},"verbosity":"low"},
             "store":true,"stream":true,"metadata":{"k":"v"},"user":"u1",
             "include":["reasoning.encrypted_content"],"service_tier":"auto","prompt_cache_key":"x","truncation":"auto"}
            """)
        let chat = request.chatRequest()
        #expect(chat.maxCompletionTokens == 256)
        #expect(chat.temperature == 0.2)
        #expect(chat.topP == 0.9)
        #expect(chat.reasoningEffort == "high")
        #expect(chat.verbosity == "low")
        #expect(chat.stream == true)
        #expect(chat.responseFormat == .object([
            "type": .string("json_schema"),
            "json_schema": .object(["name": .string("answer"), "schema": .object(["type": .string("object")]), "strict": .bool(true)]),
        ]))
        #expect(request.store == true)
        #expect(request.echo.reasoning == .object(["effort": .string("high"), "summary": .string("auto")]))
        #expect(request.echo.metadata == .object(["k": .string("v")]))
        #expect(request.echo.user == "u1")
        #expect(request.echo.maxOutputTokens == 256)
    }

    @Test func jsonObjectAndTextFormats() throws {
        let json = try decode(#"{"model":"m","input":"q","text":{"format":{"type":"json_object"}}}"#).chatRequest()
        #expect(json.responseFormat == .object(["type": .string("json_object")]))
        let text = try decode(#"{"model":"m","input":"q","text":{"format":{"type":"text"}}}"#).chatRequest()
        #expect(text.responseFormat == nil)
    }

    @Test func defaultsEchoedWhenAbsent() throws {
        let request = try decode(#"{"model":"m","input":"q"}"#)
        #expect(request.echo == ResponsesRequest.Echo())
        #expect(request.echo.toolChoice == .string("auto"))
        #expect(request.echo.parallelToolCalls)
        #expect(request.echo.text == .object(["format": .object(["type": .string("text")])]))
    }

    // MARK: rejections

    @Test func previousResponseIDIsRefused() throws {
        let error = try #require(rejection(#"{"model":"m","input":"q","previous_response_id":"resp_123"}"#))
        #expect(error.status == .badRequest)
        #expect(error.param == "previous_response_id")
        #expect(error.type == "invalid_request_error")
        #expect(error.message.contains("stateless"))
        // null is as good as absent
        #expect(rejection(#"{"model":"m","input":"q","previous_response_id":null}"#) == nil)
    }

    @Test(arguments: [
        (#"{"input":"q"}"#, "model"),
        (#"{"model":"m"}"#, "input"),
        (#"{"model":"m","input":[]}"#, "input"),
        (#"{"model":"m","input":5}"#, "input"),
        (#"{"model":"m","input":"q","conversation":"conv_1"}"#, "conversation"),
        (#"{"model":"m","input":"q","background":true}"#, "background"),
        (#"{"model":"m","input":"q","temperature":"hot"}"#, "temperature"),
        (#"{"model":"m","input":"q","max_output_tokens":0}"#, "max_output_tokens"),
        (#"{"model":"m","input":[{"role":"robot","content":"x"}]}"#, "input[0].role"),
        (#"{"model":"m","input":[{"role":"user"}]}"#, "input[0].content"),
        (#"{"model":"m","input":["q"]}"#, "input[0]"),
        (#"{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}"#, "input[0].type"),
        (#"{"model":"m","input":[{"type":"web_search_call","id":"ws_1"}]}"#, "input[0].type"),
        (#"{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}"#, "input[0].call_id"),
        (#"{"model":"m","input":[{"type":"function_call_output","call_id":"c"}]}"#, "input[0].output"),
        (#"{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]}"#, "input[0].content[0].type"),
        (#"{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]}"#, "input[0].content[0].image_url"),
        (#"{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1"}]}]}"#, "input[0].content[0].image_url"),
        (#"{"model":"m","input":"q","tools":[{"type":"web_search"}]}"#, "tools[0].type"),
        (#"{"model":"m","input":"q","tools":[{"type":"function","name":"f"},{"type":"file_search","vector_store_ids":[]}]}"#, "tools[1].type"),
        (#"{"model":"m","input":"q","tools":[{"type":"function","function":{"name":"f"}}]}"#, "tools[0].name"),
        (#"{"model":"m","input":"q","tools":[{"type":"function","name":"f"}],"tool_choice":"any"}"#, "tool_choice"),
        (#"{"model":"m","input":"q","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"g"}}"#, "tool_choice.name"),
        (#"{"model":"m","input":"q","tool_choice":{"type":"web_search_preview"}}"#, "tool_choice.type"),
        (#"{"model":"m","input":"q","text":{"format":{"type":"xml"}}}"#, "text.format.type"),
        (#"{"model":"m","input":"q","text":{"format":{"type":"json_schema","schema":{}}}}"#, "text.format.name"),
    ])
    func rejected(body: String, param: String) throws {
        let error = try #require(rejection(body), "accepted: \(body)")
        #expect(error.status == .badRequest)
        #expect(error.param == param, "\(error.message)")
        #expect(error.type == "invalid_request_error")
        #expect(!error.message.isEmpty)
    }

    @Test func builtInToolsAreNamed() throws {
        let error = try #require(rejection(#"{"model":"m","input":"q","tools":[{"type":"web_search_preview"}]}"#))
        #expect(error.message.contains("built-in tool 'web_search_preview'"))
        #expect(error.message.contains("web_search = \"disabled\""), "how to turn it off in Codex")
        let custom = try #require(rejection(#"{"model":"m","input":"q","tools":[{"type":"custom","name":"apply_patch"}]}"#))
        #expect(custom.message.contains("the tool type 'custom'"))
    }

    @Test func notJSON() throws {
        let error = try #require(rejection("{nope"))
        #expect(error.code == "invalid_json")
        let array = try #require(rejection("[1]"))
        #expect(array.status == .badRequest)
    }
}
