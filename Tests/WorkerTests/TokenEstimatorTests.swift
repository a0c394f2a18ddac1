import Foundation
import Shared
import Testing
@testable import WorkerCore

/// The token estimator against the committed corpus (`Tests/Fixtures/tokens/`) and the reference
/// counts that `scripts/calibrate-tokens.py --write` measured with a real BPE tokenizer
/// (`reference.json`), so that this test needs no Python.
@Suite struct TokenEstimatorTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokens")

    struct Reference: Decodable {
        struct Band: Decodable { var low: Double; var high: Double }
        struct File: Decodable { var path: String; var category: String; var scalars: Int; var reference: Int; var cl100k: Int; var estimate: Int }
        struct Probe: Decodable { var text: String; var estimate: Int }
        var band: Band
        var files: [File]
        var probes: [Probe]
    }

    static func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: corpus.appendingPathComponent("reference.json")))
    }

    static func text(_ path: String) throws -> String {
        try String(contentsOf: corpus.appendingPathComponent(path), encoding: .utf8)
    }

    static let recalibrate = "the estimator changed since reference.json was written: run scripts/calibrate-tokens.py --write"

    // MARK: basics

    @Test func emptyIsZeroAndAnythingElseAtLeastOne() {
        #expect(TokenEstimator.count("") == 0)
        for text in [" ", "\n", "a", "7", ".", "\u{0301}", "\u{200D}", "你", "🙂"] {
            #expect(TokenEstimator.count(text) >= 1, "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    @Test func everyScalarAddsACostSoLongerNeverCountsLess() throws {
        for file in try Self.reference().files {
            let text = try Self.text(file.path)
            var scanner = TokenEstimator.Scanner()
            var previous = 0
            for scalar in text.unicodeScalars {
                scanner.feed(scalar.value)
                #expect(scanner.milli >= previous, "\(file.path)")
                previous = scanner.milli
            }
            // And through the public function, on prefixes.
            let scalars = Array(text.unicodeScalars)
            var last = 0
            for end in stride(from: 0, through: scalars.count, by: 97) {
                var prefix = String.UnicodeScalarView()
                prefix.append(contentsOf: scalars[..<end])
                let n = TokenEstimator.count(String(prefix))
                #expect(n >= last, "\(file.path) at \(end)")
                last = n
            }
        }
    }

    @Test func repeatingATextScalesItsCount() {
        let sentence = "The keeper trimmed the lamp at dusk, 112 steps up. "
        let one = TokenEstimator.count(sentence)
        let ten = TokenEstimator.count(String(repeating: sentence, count: 10))
        #expect(ten >= 9 * one && ten <= 11 * one, "\(one) × 10 → \(ten)")
    }

    @Test func cjkCountsMorePerCharacterThanEnglish() throws {
        let files = try Self.reference().files
        func rate(_ f: Reference.File) -> Double { Double(f.estimate) / Double(f.scalars) }
        let english = files.filter { $0.category == "prose" }
        let cjk = files.filter { $0.category == "cjk" }
        #expect(!english.isEmpty && !cjk.isEmpty)
        #expect(cjk.map(rate).min()! > 3 * english.map(rate).max()!)
        // And on short texts of the same length.
        #expect(TokenEstimator.count("今天天气很好") > TokenEstimator.count("abcdef"))
        #expect(TokenEstimator.count("오늘 날씨가 좋다") > TokenEstimator.count("weather is"))
        #expect(TokenEstimator.count("きょうはいいてんき") > TokenEstimator.count("fine today"))
    }

    @Test func aWordIsAboutATokenAndASpaceBeforeItIsFree() {
        #expect(TokenEstimator.count("hello") == 1)
        #expect(TokenEstimator.count("hello world") == 2)
        #expect(TokenEstimator.count("one two three four five six") == 6)
        // Numbers, punctuation and line breaks are pieces of their own.
        #expect(TokenEstimator.count("a, b.") == 4)
        #expect(TokenEstimator.count("a\nb") == 3)
    }

    // MARK: against the reference tokenizer

    @Test func everyFixtureIsWithinTheBandOfItsReferenceCount() throws {
        let ref = try Self.reference()
        #expect(ref.files.count >= 20)
        #expect(Set(ref.files.map(\.category)).isSuperset(of: ["prose", "code", "cjk", "mixed"]))
        for file in ref.files {
            let estimate = TokenEstimator.count(try Self.text(file.path))
            let error = Double(estimate) / Double(file.reference) - 1
            #expect(error >= ref.band.low && error <= ref.band.high,
                    "\(file.path): estimate \(estimate), reference \(file.reference) (\(Int((error * 100).rounded()))%)")
        }
    }

    @Test func swiftMatchesTheCalibrationScriptsMirror() throws {
        let ref = try Self.reference()
        for file in ref.files {
            let text = try Self.text(file.path)
            #expect(text.unicodeScalars.count == file.scalars, "\(file.path): fixture changed")
            #expect(TokenEstimator.count(text) == file.estimate, "\(file.path): \(Self.recalibrate)")
        }
        #expect(ref.probes.count > 50)
        for probe in ref.probes {
            #expect(TokenEstimator.count(probe.text) == probe.estimate,
                    "\(probe.text.unicodeScalars.map { String($0.value, radix: 16) }): \(Self.recalibrate)")
        }
    }

    // MARK: requests and answers

    func request(_ json: String) throws -> ChatCompletionRequest {
        try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(json.utf8))
    }

    @Test func inputTokensCountEveryPartOfTheRequest() throws {
        let plain = try request(#"{"model":"m","messages":[{"role":"user","content":"What is the weather in Paris today?"}]}"#)
        let text = TokenEstimator.count("What is the weather in Paris today?")
        let base = TokenEstimator.inputTokens(of: plain)
        #expect(base == text + TokenEstimator.count("user") + TokenEstimator.Overhead.message + TokenEstimator.Overhead.reply)

        let withSystem = try request(#"{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is the weather in Paris today?"}]}"#)
        #expect(TokenEstimator.inputTokens(of: withSystem) > base)

        let withTool = try request(#"""
            {"model":"m","messages":[{"role":"user","content":"What is the weather in Paris today?"}],
             "tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather.",
               "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}
            """#)
        #expect(TokenEstimator.inputTokens(of: withTool) >= base + TokenEstimator.Overhead.tool + TokenEstimator.count("get_weather"))

        let withImage = try request(#"""
            {"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"What is the weather in Paris today?"},
              {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="}}]}]}
            """#)
        // The image costs its fixed estimate, not the tokens of its base64 text.
        #expect(TokenEstimator.inputTokens(of: withImage) == base + TokenEstimator.Overhead.image)

        let roundTrip = try request(#"""
            {"model":"m","messages":[{"role":"user","content":"What is the weather in Paris today?"},
              {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"{\"temp_c\":18,\"sky\":\"clear\"}"}]}
            """#)
        #expect(TokenEstimator.inputTokens(of: roundTrip) > base + TokenEstimator.count(#"{"city":"Paris"}"#) + TokenEstimator.count(#"{"temp_c":18,"sky":"clear"}"#))
    }

    @Test func outputTokensCountTextAndToolCalls() {
        var answer = AnswerBuilder(makeID: { "call_x" })
        #expect(TokenEstimator.outputTokens(of: answer) == 0)
        _ = answer.apply(.content("It is sunny in Paris, 18 °C."))
        let text = TokenEstimator.outputTokens(of: answer)
        #expect(text == TokenEstimator.count("It is sunny in Paris, 18 °C."))
        _ = answer.apply(.toolCall(.init(id: "tc_a", name: "get_weather", arguments: #"{"city":"Lyon"}"#)))
        #expect(TokenEstimator.outputTokens(of: answer)
            == text + TokenEstimator.Overhead.toolCall + TokenEstimator.count("get_weather") + TokenEstimator.count(#"{"city":"Lyon"}"#))
    }
}
