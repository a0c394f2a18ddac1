import Foundation
import Shared
import Testing
@testable import WorkerCore

/// The hand-written completion and chunk JSON says what `JSONEncoder` says of the same values.
@Suite struct CompletionJSONTests {
    static let awkward = "a \"quote\", a \\ backslash, a\nnew line, \t tab, \u{0} nul, \u{1f} unit sep, \u{7f} del, \u{8}\u{c} bs ff, / slash, é, ☃, 😀"

    func encoderJSON<T: Encodable>(_ value: T) throws -> JSONValue {
        try #require(JSONValue(parsing: String(decoding: try JSONEncoder.shared.encode(value), as: UTF8.self)))
    }

    func parsed(_ text: String) throws -> JSONValue {
        try #require(JSONValue(parsing: text), "not JSON: \(text)")
    }

    static func answer(_ events: [UpstreamEvent]) -> AnswerBuilder {
        var builder = AnswerBuilder(makeID: { "call_fixed" })
        for event in events { _ = builder.apply(event) }
        return builder
    }

    static let answers: [AnswerBuilder] = [
        answer([.content("Hello"), .finish(reason: "stop"), .end]),
        answer([.content(awkward), .end]),
        answer([]),
        answer([.toolCall(.init(id: "t1", name: "get_weather", arguments: #"{"city":"#)),
                .toolCall(.init(arguments: #""Paris"}"#)), .finish(reason: "tool_call"), .end]),
        answer([.content("with a tool too"), .toolCall(.init(id: "t2", name: awkward, arguments: awkward)), .end]),
        answer([.content("x"), .quota(QuotaReport(spent: "1.5", current: "10", maximum: "100", until: "2026-12-31T00:00:00Z")), .end]),
        answer([.content("x"), .quota(QuotaReport(spent: "2", available: "98", topUpAvailable: "5")), .end]),
        answer([.content("x"), .quota(QuotaReport(current: awkward)), .end]),
    ]

    @Test(arguments: 0..<answers.count)
    func completionMatchesJSONEncoder(index: Int) throws {
        let completion = Self.answers[index].completion(id: "chatcmpl-1", created: 1_764_000_000, model: "gpt-4o", promptTokens: 12)
        #expect(try parsed(completion.jsonText) == encoderJSON(completion))
    }

    @Test func completionWithoutUsageMatchesJSONEncoder() throws {
        var completion = Self.answers[0].completion(id: Self.awkward, created: 0, model: Self.awkward)
        completion.usage = nil
        #expect(try parsed(completion.jsonText) == encoderJSON(completion))
    }

    static let deltas: [OpenAIWire.Chunk.Delta] = [
        .init(role: "assistant", content: ""),
        .init(),
        AnswerDelta.text(awkward).chunkDelta,
        AnswerDelta.toolCallStart(index: 0, id: "call_1", name: "get_weather").chunkDelta,
        AnswerDelta.toolCallArguments(index: 3, awkward).chunkDelta,
    ]

    @Test(arguments: 0..<deltas.count, [false, true])
    func chunkMatchesJSONEncoder(index: Int, includeUsageField: Bool) throws {
        for finish in [nil, "stop"] as [String?] {
            let chunk = OpenAIWire.Chunk(
                id: "chatcmpl-2", created: 7, model: "claude-4-sonnet",
                choices: [.init(delta: Self.deltas[index], finishReason: finish)], includeUsageField: includeUsageField
            )
            #expect(try parsed(chunk.jsonText) == encoderJSON(chunk))
        }
    }

    @Test(arguments: 0..<answers.count)
    func usageChunkMatchesJSONEncoder(index: Int) throws {
        let chunk = OpenAIWire.Chunk(
            id: "chatcmpl-3", created: 7, model: "m", choices: [],
            usage: OpenAIWire.Usage(promptTokens: 3, answer: Self.answers[index]), includeUsageField: true
        )
        #expect(try parsed(chunk.jsonText) == encoderJSON(chunk))
    }

    /// Byte for byte where the two must agree: the escapes a client's JSON parser sees.
    @Test func stringEscapesAreJSONEncoders() throws {
        for text in [Self.awkward, "", "plain", "\u{1}\u{2}\u{3}\u{1b}", "\"\\\"\\"] {
            var mine = ""
            JSONText.appendString(text, to: &mine)
            let theirs = String(decoding: try JSONEncoder.shared.encode(text), as: UTF8.self)
            #expect(mine == theirs)
        }
    }
}
