import Foundation
import NIOCore
import Shared
import Testing
@testable import WorkerCore

/// The hand-written upstream request body says what `JSONEncoder` says of the same request.
@Suite struct UpstreamRequestJSONTests {
    static let awkward = "a \"quote\", a \\ backslash, a\nnew line, \t tab, \u{0} nul, \u{1f}, \u{7f}, / slash, é, ☃, 😀"

    static let messages: [JetBrainsMessage] = [
        .system(awkward), .user("hi"), .user(""), .media(mediaType: "image/png", data: "iVBORw0KGgo="),
        .assistantText(awkward), .assistantTool(id: "t1", toolName: "get_weather", arguments: #"{"city":"Paris"}"#),
        .toolResult(id: "t1", toolName: "get_weather", result: awkward),
        .assistantV7(content: "", functionName: "lookup", arguments: nil),
        .assistantV7(content: awkward, functionName: "lookup", arguments: #"{"q":1}"#),
        .assistantV7(content: "plain", functionName: nil, arguments: nil),
        .functionResultV7(functionName: "lookup", content: awkward),
    ]

    static var parameterSets: [JetBrainsChatRequest.Parameters?] {
        var all = JetBrainsChatRequest.Parameters(data: [])
        all.append("llm.parameters.temperature", .double(0.7))
        all.append("llm.parameters.top-p", .double(1))
        all.append("llm.parameters.length", .int(4096))
        all.append("llm.parameters.stream", .bool(true))
        all.append("llm.parameters.stop", .text(awkward))
        all.append("llm.parameters.functions", .json(#"[{"name":"f","parameters":{"type":"object"}}]"#))
        return [nil, .init(data: []), all]
    }

    @Test(arguments: 0..<3)
    func bodyMatchesJSONEncoder(parameterSet: Int) throws {
        let request = JetBrainsChatRequest(
            prompt: "ij.chat.request.new-chat-on-start", profile: "openai-gpt-4o",
            chat: .init(messages: Self.messages), parameters: Self.parameterSets[parameterSet]
        )
        let theirs = String(decoding: try JSONEncoder.shared.encode(request), as: UTF8.self)
        let mine = String(buffer: request.jsonBuffer)
        #expect(JSONValue(parsing: mine) != nil)
        // Equal as JSON. (Not as bytes: JSONEncoder's member order changes from run to run;
        // ours is the declaration order, every time.)
        #expect(JSONValue(parsing: mine) == JSONValue(parsing: theirs))
        #expect(mine.hasPrefix(#"{"prompt":"ij.chat.request.new-chat-on-start","profile":"openai-gpt-4o","chat":{"messages":[{"type":"system_message","content":"#))
    }

    @Test func emptyChat() throws {
        let request = JetBrainsChatRequest(prompt: "", profile: "p", chat: .init(messages: []))
        #expect(String(buffer: request.jsonBuffer) == #"{"prompt":"","profile":"p","chat":{"messages":[]}}"#)
        #expect(JSONValue(parsing: String(buffer: request.jsonBuffer))
            == JSONValue(parsing: String(decoding: try JSONEncoder.shared.encode(request), as: UTF8.self)))
    }
}
