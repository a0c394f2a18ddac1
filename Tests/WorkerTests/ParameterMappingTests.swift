import Foundation
import Shared
import Testing
@testable import WorkerCore

/// OpenAI request fields → `llm.parameters.*`, only for the profile families that take them.
@Suite struct ParameterMappingTests {
    static let everything = #"""
    {"model":"m","messages":[{"role":"user","content":"x"}],
     "temperature":0.2,"top_p":0.9,"top_k":40,"max_tokens":100,"max_completion_tokens":200,
     "stop":["END","STOP"],"seed":7,"response_format":{"type":"json_object"},
     "reasoning_effort":"high","verbosity":"low","parallel_tool_calls":false,
     "tools":[{"type":"function","function":{"name":"f"}}]}
    """#

    /// (fqdn suffix → (type, value)) of every non-tool parameter sent for `profile`.
    func sent(_ request: String = Self.everything, profile: String, overrides: [String: [String]] = [:]) throws -> [String: (String, JSONValue)] {
        let decoded = try TestSupport.request(request)
        let translation = try ChatTranslator(apiVersion: .v8, parameterOverrides: overrides).translate(decoded, profile: profile)
        let wire = try TestSupport.wire(translation.request)
        let data = wire["parameters"]?["data"]?.arrayValue ?? []
        var out: [String: (String, JSONValue)] = [:]
        for i in stride(from: 0, to: data.count, by: 2) {
            let fqdn = data[i]["fqdn"]?.stringValue ?? ""
            #expect(data[i]["type"] == data[i + 1]["type"], "key and value types agree for \(fqdn)")
            guard fqdn.hasPrefix("llm.parameters."), !fqdn.hasSuffix(".tools"), !fqdn.hasSuffix(".functions"), !fqdn.contains("tool-choice") else { continue }
            out[String(fqdn.dropFirst("llm.parameters.".count))] = (data[i + 1]["type"]?.stringValue ?? "", data[i + 1]["value"] ?? .null)
        }
        return out
    }

    @Test(arguments: [
        ("openai-gpt-4o", ["temperature", "top-p", "seed", "length", "response-format", "parallel-tool-calls"]),
        ("openai-gpt4.1-mini", ["temperature", "top-p", "seed", "length", "response-format", "parallel-tool-calls"]),
        ("openai-o3", ["length", "seed", "response-format", "reasoning-effort"]),
        ("openai-o4-mini", ["length", "seed", "response-format", "reasoning-effort"]),
        ("openai-gpt-5-1", ["length", "response-format", "parallel-tool-calls", "reasoning-effort", "verbosity"]),
        ("anthropic-claude-4-5-sonnet", ["temperature", "top-p", "stop-token", "length", "parallel-tool-calls"]),
        ("google-gemini-3-0-pro", ["temperature", "top-p", "top-k", "length", "response-format"]),
        ("xai-grok-4", []),
        ("some-new-profile", []),
    ])
    func eachFamilyGetsOnlyWhatItTakes(profile: String, expected: [String]) throws {
        #expect(Set(try sent(profile: profile).keys) == Set(expected))
    }

    @Test func valuesAreTypedAsTheUpstreamExpects() throws {
        let claude = try sent(profile: "anthropic-claude-4-5-sonnet")
        #expect(claude["temperature"]?.0 == "double")
        #expect(claude["temperature"]?.1.asNumber == 0.2)
        #expect(claude["top-p"]?.0 == "double")
        #expect(claude["length"]?.0 == "int")
        #expect(claude["length"]?.1.asNumber == 200, "max_completion_tokens wins over max_tokens")
        #expect(claude["stop-token"]?.0 == "text")
        #expect(claude["stop-token"]?.1 == .string("END"), "the first stop sequence")
        #expect(claude["parallel-tool-calls"]?.0 == "bool")
        #expect(claude["parallel-tool-calls"]?.1 == .bool(false))
        let gpt = try sent(profile: "openai-gpt-4o")
        #expect(gpt["seed"]?.0 == "int")
        #expect(gpt["response-format"]?.0 == "json")
        #expect(gpt["response-format"]?.1.stringValue.flatMap(JSONValue.init(parsing:)) == .object(["type": .string("json_object")]))
        let o = try sent(profile: "openai-o3")
        #expect(o["reasoning-effort"]?.1 == .string("high"))
        let gemini = try sent(profile: "google-chat-gemini-pro-2.5")
        #expect(gemini["top-k"]?.0 == "int")
        #expect(gemini["top-k"]?.1.asNumber == 40)
    }

    @Test func maxTokensAloneIsTheLength() throws {
        let request = #"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":64}"#
        #expect(try sent(request, profile: "anthropic-claude-4-5-sonnet")["length"]?.1.asNumber == 64)
    }

    @Test func aTextResponseFormatAndParallelToolCallsWithoutToolsAreNotSent() throws {
        let request = #"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"text"},"parallel_tool_calls":true}"#
        #expect(try sent(request, profile: "openai-gpt-4o").isEmpty)
    }

    @Test func noParametersMeansNoParametersObject() throws {
        let decoded = try TestSupport.request(#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":1}"#)
        let translation = try ChatTranslator(apiVersion: .v8).translate(decoded, profile: "openai-o3")
        #expect(translation.request.parameters == nil)
    }

    @Test func aTenantOverrideReplacesTheFamilyTable() throws {
        let sent = try sent(profile: "xai-grok-4", overrides: ["xai-grok-4": ["temperature", "length", "no-such-thing"]])
        #expect(Set(sent.keys) == ["temperature", "length"])
        let none = try self.sent(profile: "openai-gpt-4o", overrides: ["openai-gpt-4o": []])
        #expect(none.isEmpty)
    }

    // MARK: Codex

    @Test func codexProfilesGoToTheResponsesEndpointWithoutParameters() throws {
        let decoded = try TestSupport.request(#"{"model":"gpt-5.1-codex","messages":[{"role":"user","content":"x"}],"temperature":0.5,"max_tokens":10}"#)
        let translation = try ChatTranslator(apiVersion: .v8).translate(decoded, profile: "openai-gpt-5-1-codex")
        #expect(translation.codex)
        #expect(translation.request.parameters == nil)
    }

    @Test func codexProfilesRefuseTools() throws {
        let decoded = try TestSupport.request(#"{"model":"gpt-5-codex","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}]}"#)
        let error = try #require(throws: TranslationError.self) {
            _ = try ChatTranslator(apiVersion: .v8).translate(decoded, profile: "openai-gpt-5-codex")
        }
        #expect(error.param == "tools")
        #expect(error.message.contains("Codex"))
    }

    // MARK: Messages

    @Test(arguments: [APIVersion.v8, .v7])
    func emptyAssistantMessagesAreNeverSent(version: APIVersion) throws {
        let decoded = try TestSupport.request(#"""
        {"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":""},
          {"role":"assistant","content":null},{"role":"user","content":"b"}]}
        """#)
        let wire = try TestSupport.wire(ChatTranslator(apiVersion: version).translate(decoded, profile: "p").request)
        let types = wire["chat"]?["messages"]?.asArray.compactMap { $0["type"]?.stringValue }
        #expect(types == ["user_message", "user_message"])
    }

    @Test func longToolCallIdsAreShortenedStablyAndRestored() throws {
        let long = "toolu_" + String(repeating: "abcdef0123", count: 6)
        let decoded = try TestSupport.request(#"""
        {"model":"m","messages":[{"role":"user","content":"a"},
          {"role":"assistant","content":null,"tool_calls":[{"id":"\#(long)","type":"function","function":{"name":"f","arguments":"{}"}},
                                                            {"id":"short_id","type":"function","function":{"name":"g","arguments":""}}]},
          {"role":"tool","tool_call_id":"\#(long)","content":"42"},
          {"role":"tool","tool_call_id":"short_id","content":"43"}]}
        """#)
        let translation = try ChatTranslator(apiVersion: .v8).translate(decoded, profile: "p")
        let messages = try TestSupport.wire(translation.request)["chat"]?["messages"]?.asArray ?? []
        let ids = messages.compactMap { $0["id"]?.stringValue }
        #expect(ids.count == 4)
        #expect(ids.allSatisfy { $0.count <= 40 })
        #expect(ids[0] == ids[2], "the call and its result keep one id")
        #expect(ids[1] == "short_id" && ids[3] == "short_id")
        #expect(ids[0] == ToolIDMap.shorten(long), "stable across requests")
        #expect(translation.restoredToolIDs == [ids[0]: long])
        #expect(messages[2]["content"] == .string("{}"), "empty arguments are sent as an empty object")
        // An answer that names the shortened id gives the client its own id back.
        var builder = AnswerBuilder(restoredIDs: translation.restoredToolIDs)
        _ = builder.apply(.toolCall(.init(id: ids[0], name: "f", arguments: "{}")))
        #expect(builder.toolCalls.first?.id == long)
    }
}

@Suite struct StatusOutcomeTests {
    @Test func oneMappingForChatAndProbe() {
        #expect(TokenOutcome.forStatus(401, retryAfter: nil) == .unauthorized)
        #expect(TokenOutcome.forStatus(403, retryAfter: nil) == .forbidden)
        #expect(TokenOutcome.forStatus(429, retryAfter: 3) == .rateLimited(retryAfter: 3))
        #expect(TokenOutcome.forStatus(477, retryAfter: nil) == .quotaExhausted(until: nil))
        #expect(TokenOutcome.forStatus(500, retryAfter: nil) == .upstreamFailure("HTTP 500"))
        #expect(TokenOutcome.forStatus(408, retryAfter: nil) == .upstreamFailure("HTTP 408"))
        for code in [400, 404, 413, 422, 451] {
            guard case .requestRejected = TokenOutcome.forStatus(code, retryAfter: nil) else {
                Issue.record("\(code) must not count against the JWT")
                continue
            }
        }
    }

    @Test func aRejectedRequestLeavesTheJWTAsItWas() {
        let now = Date()
        let cooling = TokenStatus(health: .coolingDown(until: now.addingTimeInterval(9), reason: "x"), consecutiveFailures: 2)
        #expect(cooling.applying(.requestRejected("HTTP 400"), now: now) == cooling)
        #expect(TokenStatus().applying(.requestRejected("451"), now: now) == TokenStatus())
    }
}
