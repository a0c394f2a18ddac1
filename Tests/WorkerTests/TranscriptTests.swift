import Foundation
import NIOCore
import Shared
import Testing
@testable import WorkerCore

/// Captured-style upstream transcripts (`Tests/Fixtures/sse/`), one per protocol variant on the
/// protocol page, replayed through the SSE parser, the event decoder and the answer builder —
/// the same path a real answer takes, without sockets.
@Suite struct TranscriptTests {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/sse")

    static func fixture(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    /// What a transcript amounts to, as the client would see it.
    struct Answer: Equatable, CustomStringConvertible {
        var text = ""
        var calls: [AnswerBuilder.ToolCall] = []
        var finishReason = ""
        var quotaUntil: String?
        var quotaSpent: String?
        var error: String?
        var ended = false
        /// Streamed tool-call pieces as (OpenAI index, arguments) — what a streaming client sees.
        var streamedArguments: [Int: String] = [:]

        var description: String {
            "text=\(text.debugDescription) calls=\(calls) finish=\(finishReason) until=\(quotaUntil ?? "-") error=\(error ?? "-") ended=\(ended)"
        }
    }

    /// Replays `bytes`, delivered in pieces of the given sizes (cycled), as `ChatProxy` does.
    static func replay(_ bytes: [UInt8], pieces: [Int] = [4096]) throws -> Answer {
        var parser = SSEParser()
        var builder = AnswerBuilder(makeID: { "call_generated" })
        var answer = Answer()
        var offset = 0
        var piece = 0
        func apply(_ payloads: [String]) throws -> Bool {
            for payload in payloads {
                let event = try UpstreamEvent.decode(payload)
                if case .error(let message) = event {
                    answer.error = message
                    return true
                }
                for delta in builder.apply(event) {
                    if case .toolCallArguments(let index, let text) = delta { answer.streamedArguments[index, default: ""] += text }
                }
                if builder.ended { return true }
            }
            return false
        }
        var done = false
        while offset < bytes.count, !done {
            let size = max(1, pieces[piece % pieces.count])
            piece += 1
            let end = min(bytes.count, offset + size)
            done = try apply(parser.feed(bytes[offset..<end]))
            offset = end
        }
        if !done { _ = try apply(parser.finish()) }
        answer.text = builder.text
        answer.calls = builder.orderedToolCalls
        answer.finishReason = builder.finishReason
        answer.quotaUntil = builder.quota?.until
        answer.quotaSpent = builder.quota?.spent
        answer.ended = builder.ended
        return answer
    }

    static let newYear = "2026-01-01T00:00:00Z"

    @Test(arguments: [
        "v8-text-numeric-until.sse", "v8-text-iso-until-number-amounts.sse", "v8-crlf-string-epoch-until.sse",
        "v8-noise.sse", "v8-undecodable-quota.sse",
    ])
    func textAnswersReadTheSameInEveryVariant(name: String) throws {
        let answer = try Self.replay(Self.fixture(name))
        #expect(answer.text == "Hello, world")
        #expect(answer.finishReason == "stop")
        #expect(answer.error == nil)
        #expect(answer.ended)
        #expect(answer.calls.isEmpty)
    }

    @Test(arguments: ["v8-text-numeric-until.sse", "v8-text-iso-until-number-amounts.sse", "v8-noise.sse", "v8-crlf-string-epoch-until.sse"])
    func quotaUntilIsReadAsNumberOrString(name: String) throws {
        #expect(try Self.replay(Self.fixture(name)).quotaUntil == Self.newYear)
    }

    @Test func amountsAsNumbersOrStringsReadTheSame() throws {
        #expect(try Self.replay(Self.fixture("v8-text-numeric-until.sse")).quotaSpent == "12.5")
        #expect(try Self.replay(Self.fixture("v8-text-iso-until-number-amounts.sse")).quotaSpent == "12.5")
    }

    @Test func anUndecodableQuotaEventIsSkipped() throws {
        let answer = try Self.replay(Self.fixture("v8-undecodable-quota.sse"))
        #expect(answer.quotaUntil == nil)
        #expect(answer.text == "Hello, world")
    }

    @Test(arguments: ["v8-parallel-tools-interleaved.sse", "v8-parallel-tools-out-of-order.sse"])
    func interleavedParallelToolCallsAreGroupedByIndex(name: String) throws {
        let answer = try Self.replay(Self.fixture(name))
        #expect(answer.calls == [
            .init(id: "tc_a", name: "get_weather", arguments: #"{"city":"Paris"}"#),
            .init(id: "tc_b", name: "get_time", arguments: #"{"zone":"CET"}"#),
        ])
        #expect(answer.finishReason == "tool_calls")
        // Streamed: every piece went to its own call's index, whatever the arrival order.
        let streamed = Set(answer.streamedArguments.values)
        #expect(streamed == [#"{"city":"Paris"}"#, #"{"zone":"CET"}"#])
    }

    @Test func aSingleCallWithoutAnIndexIsOneCall() throws {
        let answer = try Self.replay(Self.fixture("v8-single-tool-no-index.sse"))
        #expect(answer.calls == [.init(id: "tc_1", name: "get_weather", arguments: #"{"city":"Paris"}"#)])
        #expect(answer.finishReason == "tool_calls")
    }

    @Test func v7FunctionCallsGetAnId() throws {
        let answer = try Self.replay(Self.fixture("v7-function-call.sse"))
        #expect(answer.calls == [.init(id: "call_generated", name: "lookup", arguments: #"{"q":"swift"}"#)])
        #expect(answer.finishReason == "tool_calls")
    }

    @Test func errorEventsCarryTheUpstreamText() throws {
        let after = try Self.replay(Self.fixture("v8-error-event-after-content.sse"))
        #expect(after.error == "Internal error: model overloaded")
        #expect(after.text == "Hel")
        let typed = try Self.replay(Self.fixture("v8-error-event-with-type.sse"))
        #expect(typed.error == "Rate limit reached for profile")
    }

    @Test(arguments: [[1], [2, 3], [7], [64]])
    func anySplitOfTheBytesReadsTheSame(pieces: [Int]) throws {
        for name in ["v8-noise.sse", "v8-parallel-tools-interleaved.sse", "v8-crlf-string-epoch-until.sse"] {
            let whole = try Self.replay(Self.fixture(name))
            #expect(try Self.replay(Self.fixture(name), pieces: pieces) == whole, "\(name) split \(pieces)")
        }
    }
}

/// The fuzz-style property: random extra fields, number/string swaps and unknown events
/// injected into valid streams never change the answer text or tool calls.
@Suite struct TolerantReadingPropertyTests {
    typealias SplitMix64 = SeededGenerator

    /// Fields whose number/string form public clients disagree on.
    static let swappable: Set<String> = ["amount", "until", "parallelToolIndex", "choiceIndex"]
    static let unknownTypes = ["UnknownMetadata", "ExecutionMetadata", "FunctionCallMetadata", "QuotaMetadataV2", "Reasoning", ""]

    static func randomValue(_ rng: inout SplitMix64, depth: Int = 0) -> JSONValue {
        switch Int.random(in: 0..<(depth > 1 ? 4 : 6), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .number(Double(Int.random(in: -1000...1_000_000, using: &rng)))
        case 3: return .string(["", "x", "Content", "end", "ToolCall", "{\"a\":1}"].randomElement(using: &rng)!)
        case 4: return .array((0..<Int.random(in: 0...3, using: &rng)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            return .object(Dictionary(uniqueKeysWithValues: (0..<Int.random(in: 0...3, using: &rng)).map { i in
                ("k\(i)", randomValue(&rng, depth: depth + 1))
            }))
        }
    }

    /// Adds unknown fields everywhere and swaps number/string forms of the swappable fields.
    static func mutate(_ value: JSONValue, key: String? = nil, _ rng: inout SplitMix64) -> JSONValue {
        switch value {
        case .object(var fields):
            for (k, v) in fields { fields[k] = mutate(v, key: k, &rng) }
            for i in 0..<Int.random(in: 0...2, using: &rng) {
                let name = "x_extra_\(i)_\(Int.random(in: 0...99, using: &rng))"
                fields[name] = randomValue(&rng)
            }
            return .object(fields)
        case .number(let n) where key.map(swappable.contains) == true && Bool.random(using: &rng):
            return .string(formatAmount(n))
        case .string(let s) where key.map(swappable.contains) == true && Bool.random(using: &rng):
            if let n = Double(s) { return .number(n) }
            return value
        default:
            return value
        }
    }

    static func mutateStream(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var parser = SSEParser()
        var payloads = parser.feed(bytes)
        payloads += parser.finish()
        var out = ""
        for payload in payloads {
            if Int.random(in: 0..<3, using: &rng) == 0 {
                var unknown: [String: JSONValue] = ["type": .string(unknownTypes.randomElement(using: &rng)!)]
                if Bool.random(using: &rng) { unknown["event_type"] = .string("data") }
                unknown["payload"] = randomValue(&rng)
                out += "data: \(JSONValue.object(unknown).jsonText)\n\n"
            }
            if payload == "end" {
                out += "data: end\n\n"
            } else if let json = JSONValue(parsing: payload) {
                out += "data: \(mutate(json, &rng).jsonText)\n\n"
            }
        }
        return Array(out.utf8)
    }

    @Test(arguments: [
        "v8-text-numeric-until.sse", "v8-noise.sse", "v8-parallel-tools-interleaved.sse",
        "v8-parallel-tools-out-of-order.sse", "v8-single-tool-no-index.sse", "v7-function-call.sse",
        "v8-crlf-string-epoch-until.sse",
    ])
    func mutationsNeverChangeTheAnswer(name: String) throws {
        let original = try TranscriptTests.fixture(name)
        let expected = try TranscriptTests.replay(original)
        var rng = SplitMix64(seed: 0x5EED_0000 &+ UInt64(name.utf8.count))
        for round in 0..<200 {
            let mutated = Self.mutateStream(original, &rng)
            let answer = try TranscriptTests.replay(mutated, pieces: [Int.random(in: 1...64, using: &rng)])
            #expect(answer.text == expected.text, "round \(round): \(String(decoding: mutated, as: UTF8.self))")
            #expect(answer.calls == expected.calls, "round \(round): \(String(decoding: mutated, as: UTF8.self))")
            #expect(answer.finishReason == expected.finishReason, "round \(round)")
            #expect(answer.quotaUntil == expected.quotaUntil, "round \(round)")
            #expect(answer.error == nil, "round \(round)")
        }
    }
}
