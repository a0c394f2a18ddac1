import Foundation
import Shared
import Testing
@testable import WorkerCore

/// OpenAI chat request → JetBrains AI chat body. Every assertion is on the encoded JSON, so the
/// wire format (see /work/shared/jetbrains-ai-protocol.md) is pinned, not just the Swift values.
@Suite struct ChatTranslatorTests {
    func body(_ request: String, _ version: APIVersion = .v8, profile: String = "openai-gpt-4o") throws -> JSONValue {
        let decoded = try TestSupport.request(request)
        let translated = try ChatTranslator(apiVersion: version).translate(decoded, profile: profile).request
        return try TestSupport.wire(translated)
    }

    func messages(_ request: String, _ version: APIVersion = .v8) throws -> JSONValue {
        try #require(body(request, version)["chat"]?["messages"])
    }

    func translationError(_ request: String, _ version: APIVersion = .v8) throws -> TranslationError {
        let decoded = try TestSupport.request(request)
        return try #require(throws: TranslationError.self) {
            _ = try ChatTranslator(apiVersion: version).translate(decoded, profile: "p")
        }
    }

    func keys(_ value: JSONValue?) -> Set<String> {
        Set(value?.objectValue?.keys.map { $0 } ?? [])
    }

    // MARK: top level

    @Test func v8PromptProfileAndNoParametersWithoutTools() throws {
        let b = try body(#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}"#, .v8, profile: "openai-gpt-4o")
        #expect(b == json(#"""
        {"prompt":"ij.chat.request.new-chat-on-start","profile":"openai-gpt-4o",
         "chat":{"messages":[{"type":"user_message","content":"Hello"}]}}
        """#))
        #expect(keys(b) == ["prompt", "profile", "chat"])
    }

    @Test func v7PromptId() throws {
        let b = try body(#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}"#, .v7, profile: "openai-gpt-4o")
        #expect(b == json(#"""
        {"prompt":"ij.chat.request.new-chat","profile":"openai-gpt-4o",
         "chat":{"messages":[{"type":"user_message","content":"Hi"}]}}
        """#))
    }

    @Test func emptyToolsListGivesNoParameters() throws {
        let b = try body(#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[]}"#)
        #expect(keys(b) == ["prompt", "profile", "chat"])
    }

    // MARK: roles

    @Test(arguments: [APIVersion.v8, .v7])
    func systemAndDeveloperBecomeSystemMessages(version: APIVersion) throws {
        let m = try messages(#"""
        {"model":"m","messages":[
          {"role":"system","content":"Be brief."},
          {"role":"developer","content":"Use French."},
          {"role":"user","content":"Hello"}
        ]}
        """#, version)
        #expect(m == json(#"""
        [{"type":"system_message","content":"Be brief."},
         {"type":"system_message","content":"Use French."},
         {"type":"user_message","content":"Hello"}]
        """#))
    }

    @Test func systemContentAsPartsIsJoinedText() throws {
        let m = try messages(#"""
        {"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]}]}
        """#)
        #expect(m == json(#"[{"type":"system_message","content":"one\ntwo"}]"#))
    }

    @Test func assistantTextV8() throws {
        let m = try messages(#"""
        {"model":"m","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello there"}]}
        """#)
        #expect(m == json(#"""
        [{"type":"user_message","content":"Hi"},{"type":"assistant_message_text","content":"Hello there"}]
        """#))
    }

    @Test func assistantWithToolCallsAndToolResultsV8() throws {
        let m = try messages(#"""
        {"model":"m","messages":[
          {"role":"user","content":"Weather in Paris and time in Rome?"},
          {"role":"assistant","content":null,"tool_calls":[
            {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{\"city\":\"Rome\"}"}}
          ]},
          {"role":"tool","tool_call_id":"call_2","content":"12:00"},
          {"role":"tool","tool_call_id":"call_1","content":"sunny"}
        ]}
        """#)
        #expect(m == json(#"""
        [{"type":"user_message","content":"Weather in Paris and time in Rome?"},
         {"type":"assistant_message_tool","id":"call_1","toolName":"get_weather","content":"{\"city\":\"Paris\"}"},
         {"type":"assistant_message_tool","id":"call_2","toolName":"get_time","content":"{\"city\":\"Rome\"}"},
         {"type":"tool_message","id":"call_2","toolName":"get_time","result":"12:00"},
         {"type":"tool_message","id":"call_1","toolName":"get_weather","result":"sunny"}]
        """#))
    }

    @Test func assistantTextAndToolCallsV8KeepsBothInOrder() throws {
        let m = try messages(#"""
        {"model":"m","messages":[
          {"role":"assistant","content":"Let me look.","tool_calls":[
            {"id":"c9","type":"function","function":{"name":"lookup","arguments":"{}"}}]}
        ]}
        """#)
        #expect(m == json(#"""
        [{"type":"assistant_message_text","content":"Let me look."},
         {"type":"assistant_message_tool","id":"c9","toolName":"lookup","content":"{}"}]
        """#))
    }

    @Test func toolResultForUnknownCallFallsBackToMessageName() throws {
        let m = try messages(#"""
        {"model":"m","messages":[{"role":"tool","tool_call_id":"nowhere","name":"fallback_fn","content":"r"}]}
        """#)
        #expect(m == json(#"[{"type":"tool_message","id":"nowhere","toolName":"fallback_fn","result":"r"}]"#))
    }

    @Test func toolMessageWithoutToolCallIdIsRejected() throws {
        let error = try translationError(#"""
        {"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","content":"r"}]}
        """#)
        #expect(error.param == "messages[1].tool_call_id")
    }

    @Test func toolResultWithPartsContentIsJoinedText() throws {
        let m = try messages(#"""
        {"model":"m","messages":[
          {"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},
          {"role":"tool","tool_call_id":"a","content":[{"type":"text","text":"line 1"},{"type":"text","text":"line 2"}]}
        ]}
        """#)
        #expect(m.at(1) == json(#"{"type":"tool_message","id":"a","toolName":"f","result":"line 1\nline 2"}"#))
    }

    @Test func v7AssistantToolCallsAndFunctionResults() throws {
        let m = try messages(#"""
        {"model":"m","messages":[
          {"role":"user","content":"q"},
          {"role":"assistant","content":"Checking.","tool_calls":[
            {"id":"call_a","type":"function","function":{"name":"f1","arguments":"{\"x\":1}"}},
            {"id":"call_b","type":"function","function":{"name":"f2","arguments":"{}"}}]},
          {"role":"tool","tool_call_id":"call_b","content":"two"},
          {"role":"tool","tool_call_id":"call_a","content":"one"},
          {"role":"assistant","content":"Done."}
        ]}
        """#, .v7)
        #expect(m == json(#"""
        [{"type":"user_message","content":"q"},
         {"type":"assistant_message","content":"Checking.","functionCall":{"functionName":"f1","content":"{\"x\":1}"}},
         {"type":"assistant_message","content":"","functionCall":{"functionName":"f2","content":"{}"}},
         {"type":"function_message","functionName":"f2","content":"two"},
         {"type":"function_message","functionName":"f1","content":"one"},
         {"type":"assistant_message","content":"Done."}]
        """#))
    }

    @Test func legacyFunctionCallAndFunctionRole() throws {
        let request = #"""
        {"model":"m","messages":[
          {"role":"assistant","content":null,"function_call":{"name":"legacy","arguments":"{\"a\":true}"}},
          {"role":"function","name":"legacy","content":"ok"}
        ]}
        """#
        #expect(try messages(request, .v8) == json(#"""
        [{"type":"assistant_message_tool","id":"call_0","toolName":"legacy","content":"{\"a\":true}"},
         {"type":"tool_message","id":"","toolName":"legacy","result":"ok"}]
        """#))
        #expect(try messages(request, .v7) == json(#"""
        [{"type":"assistant_message","content":"","functionCall":{"functionName":"legacy","content":"{\"a\":true}"}},
         {"type":"function_message","functionName":"legacy","content":"ok"}]
        """#))
    }

    @Test(arguments: ["moderator", "", "System", "bot"])
    func unknownRoleIsRejected(role: String) throws {
        let error = try translationError(#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"\#(role)","content":"y"}]}"#)
        #expect(error.param == "messages[1].role")
        #expect(error.message.contains("'\(role)'"))
    }

    // MARK: content

    @Test func userTextPartsAreJoinedWithNewlines() throws {
        let m = try messages(#"""
        {"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"first"},{"type":"text","text":"second"}]}]}
        """#)
        #expect(m == json(#"[{"type":"user_message","content":"first\nsecond"}]"#))
    }

    @Test func userNullContentIsEmptyText() throws {
        let m = try messages(#"{"model":"m","messages":[{"role":"user","content":null}]}"#)
        #expect(m == json(#"[{"type":"user_message","content":""}]"#))
    }

    @Test(arguments: [APIVersion.v8, .v7])
    func dataURLImageBecomesMediaMessageInPlace(version: APIVersion) throws {
        let m = try messages(#"""
        {"model":"m","messages":[{"role":"user","content":[
          {"type":"text","text":"What is this?"},
          {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
          {"type":"text","text":"Be precise."}
        ]}]}
        """#, version)
        #expect(m == json(#"""
        [{"type":"user_message","content":"What is this?"},
         {"type":"media_message","mediaType":"image/png","data":"iVBORw0KGgo="},
         {"type":"user_message","content":"Be precise."}]
        """#))
    }

    @Test func imageOnlyUserMessage() throws {
        let m = try messages(#"""
        {"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}}]}]}
        """#)
        #expect(m == json(#"[{"type":"media_message","mediaType":"image/jpeg","data":"/9j/4AAQ"}]"#))
    }

    @Test(arguments: [
        "https://example.com/cat.png",
        "http://example.com/cat.png",
        "data:image/png,notbase64",
        "data:;base64,AAAA",
        "data:image/png;base64,",
    ])
    func nonDataOrBadDataURLIsRejected(url: String) throws {
        let error = try translationError(#"""
        {"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"\#(url)"}}]}]}
        """#)
        #expect(error.param == "messages[0].content[1].image_url")
    }

    @Test(arguments: ["input_audio", "file", "refusal"])
    func unsupportedPartTypeIsRejected(type: String) throws {
        let error = try translationError(#"""
        {"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"\#(type)"}]}]}
        """#)
        #expect(error.param == "messages[1].content[0].type")
        #expect(error.message.contains("'\(type)'"))
    }

    @Test func imageURLPartWithoutURLObjectIsRejected() throws {
        let error = try translationError(#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#)
        #expect(error.param == "messages[0].content[0].type")
    }

    @Test func parseDataURL() {
        let parsed = ChatTranslator.parseDataURL("data:image/webp;base64,UklGR")
        #expect(parsed?.mediaType == "image/webp")
        #expect(parsed?.data == "UklGR")
        #expect(ChatTranslator.parseDataURL("https://x/y.png") == nil)
    }

    // MARK: tools

    static func toolsRequest(choice: String? = nil) -> String {
        let choiceField = choice.map { #","tool_choice":\#($0)"# } ?? ""
        return #"""
        {"model":"m","messages":[{"role":"user","content":"x"}],
         "tools":[
           {"type":"function","function":{"name":"get_weather","description":"Weather for a city",
             "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
           {"type":"function","function":{"name":"no_params"}}
         ]\#(choiceField)}
        """#
    }

    /// Checks the shape of the first two `parameters.data` entries (the tools); returns the
    /// parsed `value` text. `extra` is how many entries follow (tool choice, parameters).
    func toolParameters(_ b: JSONValue, fqdn: String, extra: Int = 0) throws -> JSONValue {
        let data = try #require(b["parameters"]?["data"]?.arrayValue)
        #expect(keys(b["parameters"]) == ["data"])
        try #require(data.count == 2 + extra)
        #expect(data[0] == json(#"{"type":"json","fqdn":"\#(fqdn)"}"#))
        #expect(keys(data[1]) == ["type", "value"])
        #expect(data[1]["type"]?.stringValue == "json")
        let text = try #require(data[1]["value"]?.stringValue, "value must be JSON *text*")
        return try #require(JSONValue(parsing: text))
    }

    /// The `parameters.data` entries after the tools, as (fqdn, type, value) triples.
    func pairs(_ b: JSONValue) throws -> [(String, String, JSONValue)] {
        let data = try #require(b["parameters"]?["data"]?.arrayValue)
        try #require(data.count % 2 == 0)
        return stride(from: 0, to: data.count, by: 2).map { i in
            (data[i]["fqdn"]?.stringValue ?? "?", data[i + 1]["type"]?.stringValue ?? "?", data[i + 1]["value"] ?? .null)
        }
    }

    @Test func v8ToolsBecomeToolsParameter() throws {
        let value = try toolParameters(body(Self.toolsRequest(), .v8), fqdn: "llm.parameters.tools")
        #expect(value == json(#"""
        [{"name":"get_weather","description":"Weather for a city",
          "parameters":{"schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
         {"name":"no_params","parameters":{"schema":{"type":"object","properties":{}}}}]
        """#))
    }

    @Test func v7ToolsBecomeFunctionsParameter() throws {
        let value = try toolParameters(body(Self.toolsRequest(), .v7), fqdn: "llm.parameters.functions")
        #expect(value == json(#"""
        [{"name":"get_weather","description":"Weather for a city",
          "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
         {"name":"no_params","parameters":{"type":"object","properties":{}}}]
        """#))
    }

    @Test func legacyFunctionsFieldIsAccepted() throws {
        let b = try body(#"""
        {"model":"m","messages":[{"role":"user","content":"x"}],
         "functions":[{"name":"old_style","description":"d","parameters":{"type":"object","properties":{}}}]}
        """#, .v8)
        let value = try toolParameters(b, fqdn: "llm.parameters.tools")
        #expect(value == json(#"[{"name":"old_style","description":"d","parameters":{"schema":{"type":"object","properties":{}}}}]"#))
    }

    @Test func toolChoiceNoneIsSentUpstreamWithTheTools() throws {
        let b = try body(Self.toolsRequest(choice: #""none""#), .v8)
        _ = try toolParameters(b, fqdn: "llm.parameters.tools", extra: 2)
        let p = try pairs(b)
        #expect(p[1].0 == "llm.parameters.tool-choice-none")
        #expect(p[1].1 == "bool")
        #expect(p[1].2 == .bool(true))
    }

    @Test func v7SendsNoToolChoiceKeys() throws {
        let b = try body(Self.toolsRequest(choice: #""required""#), .v7)
        _ = try toolParameters(b, fqdn: "llm.parameters.functions")
    }

    @Test func namedToolChoiceKeepsOnlyThatTool() throws {
        let named = try body(Self.toolsRequest(choice: #"{"type":"function","function":{"name":"no_params"}}"#), .v8)
        let v8 = try toolParameters(named, fqdn: "llm.parameters.tools", extra: 2)
        #expect(v8.asArray.compactMap { $0["name"]?.stringValue } == ["no_params"])
        let p = try pairs(named)
        #expect(p[1].0 == "llm.parameters.tool-choice-named")
        #expect(p[1].1 == "text")
        #expect(p[1].2 == .string("no_params"))

        let v7 = try toolParameters(
            body(Self.toolsRequest(choice: #"{"type":"function","function":{"name":"get_weather"}}"#), .v7),
            fqdn: "llm.parameters.functions")
        #expect(v7.asArray.compactMap { $0["name"]?.stringValue } == ["get_weather"])
    }

    @Test(arguments: [(#""auto""#, "auto"), (#""required""#, "required")])
    func autoAndRequiredKeepAllTools(choice: String, key: String) throws {
        let b = try body(Self.toolsRequest(choice: choice), .v8)
        let value = try toolParameters(b, fqdn: "llm.parameters.tools", extra: 2)
        #expect(value.asArray.compactMap { $0["name"]?.stringValue } == ["get_weather", "no_params"])
        #expect(try pairs(b)[1].0 == "llm.parameters.tool-choice-\(key)")
    }

    @Test func toolChoiceDecoding() throws {
        func decode(_ s: String) throws -> ToolChoice { try JSONDecoder().decode(ToolChoice.self, from: Data(s.utf8)) }
        #expect(try decode(#""none""#) == ToolChoice.none)
        #expect(try decode(#""auto""#) == .auto)
        #expect(try decode(#""required""#) == .required)
        #expect(try decode(#"{"type":"function","function":{"name":"f"}}"#) == .function("f"))
    }
}
