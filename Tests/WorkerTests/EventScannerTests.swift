import Shared
import Testing
@testable import WorkerCore

/// `EventScanner` is an optimisation of `UpstreamEvent.decodeGeneral`: wherever it answers, it
/// must answer exactly what the general decoder does, and it must answer for the common events.
@Suite struct EventScannerTests {
    static let common = [
        #"{"type":"Content","content":"Hello"}"#,
        #"{"type":"Content","content":""}"#,
        #"{"type":"Content"}"#,
        #"{"event_type":"data","type":"Content","content":"a \"quoted\" word\nand a line"}"#,
        #"{"type":"Content","content":"caf\u00e9 \ud83d\ude00 \/ \\ \b\f\r\t"}"#,
        #"{"type":"Content","content":"naïve ☃ 😀"}"#,
        #" { "type" : "Content" , "content" : "spaced" } "#,
        #"{"type":"Content","content":null}"#,
        #"{"type":"ToolCall","id":"tc_1","name":"get_weather","content":""}"#,
        #"{"type":"ToolCall","content":"ty\":\"Paris\"}","parallelToolIndex":0}"#,
        #"{"type":"ToolCall","id":"tc_2","name":"f","content":"{","parallelToolIndex":12}"#,
        #"{"type":"ToolCall","parallelToolIndex":null,"content":"x"}"#,
        #"{"type":"FunctionCall","name":"lookup","content":"{\"q\":"}"#,
        #"{"type":"FunctionCall","name":null,"content":"1}"}"#,
        #"{"type":"FinishMetadata","reason":"stop"}"#,
        #"{"type":"FinishMetadata","reason":"tool_call","event_type":"data"}"#,
        #"{"type":"FinishMetadata"}"#,
        #"{"type":"UnknownMetadata","whatever":{"nested":[1,2.5e3,-0.1,true,false,null,"s"]}}"#,
        #"{"type":"ExecutionMetadata","spent":{"amount":"1"},"list":[]}"#,
        #"{"content":"no type"}"#,
        #"{}"#,
        #"{"type":"QuotaMetadata","spent":{"amount":"1.5"},"updated":{"current":{"amount":"3"}}}"#,
        #"{"type":"QuotaMetadata","event_type":"data","updated":{"current":{"amount":"12"},"maximum":{"amount":"1000000"},"available":"999988","until":1767225600000},"spent":{"amount":"1"}}"#,
        #"{"type":"QuotaMetadata","updated":{"current":{"amount":"12"},"until":"2026-12-31T00:00:00Z"},"spent":"2"}"#,
        #"{"type":"QuotaMetadata","updated":{"maximum":{"amount":"5"},"noise":[1]},"until":1767225600}"#,
        #"{"type":"QuotaMetadata","updated":null,"spent":null,"until":"not a time"}"#,
        #"{"type":"QuotaMetadata","updated":{},"spent":{"amount":"0","currency":"credits"}}"#,
        #"{"type":"QuotaMetadata"}"#,
        #"{"type":"Content","content":"x","extra":{"a":{"b":{"c":[[[]]]}}}}"#,
    ]

    /// Payloads the scanner leaves to the general decoder (it must, or must agree with it).
    static let unusual = [
        #"{"event_type":"error","error_message":"boom"}"#,
        #"{"event_type":"ERROR","message":"boom"}"#,
        #"{"type":"error","content":"bad"}"#,
        #"{"type":"Error","message":"bad"}"#,
        #"{"type":"Content","content":42}"#,
        #"{"type":"Content","content":4.5}"#,
        #"{"type":"Content","content":true}"#,
        #"{"type":"Content","content":{"a":1}}"#,
        #"{"type":"Content","content":["a"]}"#,
        #"{"type":7,"content":"x"}"#,
        #"{"type":"ToolCall","parallelToolIndex":"1","content":"x"}"#,
        #"{"type":"ToolCall","parallelToolIndex":1.0,"content":"x"}"#,
        #"{"type":"ToolCall","parallelToolIndex":12345678901234567890,"content":"x"}"#,
        #"{"type":"ToolCall","id":5,"content":"x"}"#,
        #"{"type":"Content","content":"a","content":"b"}"#,
        #"{"typ\u0065":"Content","content":"escaped key"}"#,
        #"{"type":"Content","content":"lone \ud83d surrogate"}"#,
        #"{"type":"Content","content":"lone \ude00 low"}"#,
        #"{"type":"FinishMetadata","reason":1}"#,
        #"{"type":"QuotaMetadata","spent":{"amount":1.5}}"#,
        #"{"type":"QuotaMetadata","spent":12}"#,
        #"{"type":"QuotaMetadata","spent":{"amount":null}}"#,
        #"{"type":"QuotaMetadata","spent":{}}"#,
        #"{"type":"QuotaMetadata","updated":{"current":{"amount":"1"},"current":{"amount":"2"}}}"#,
        #"{"type":"QuotaMetadata","updated":{"until":1.5e12}}"#,
        #"{"type":"QuotaMetadata","updated":{"until":true},"spent":"1"}"#,
        #"{"type":"QuotaMetadata","updated":"soon","spent":"1"}"#,
        #"{"type":"QuotaMetadata","updated":{"current":5}}"#,
        #"{"type":"QuotaMetadata","updated":{"current":{"amount":"1","amount":"2"}}}"#,
        #"{"type":"QuotaMetadata","updated":{"\u0063urrent":{"amount":"1"}}}"#,
        #"{"type":"QuotaMetadata","until":-5}"#,
        #"{"type":"QuotaMetadata","until":99999999999999}"#,
        #"[1,2]"#, #"42"#, #""text""#, #"null"#, "", " ",
        #"{"type":"Content","content":"x"} trailing"#,
        #"{"type":"Content","content":"x",}"#,
        #"{"type":"Content" "content":"x"}"#,
        #"{"type":"Content","content":"bad \x escape"}"#,
        "{\"type\":\"Content\",\"content\":\"raw\ttab\"}",
        #"{"type":"Content","content":"x","n":01}"#,
        #"{"type":"Content","content":"x","n":1.}"#,
        #"{"type":"Content","content":"x","n":-}"#,
        #"{"type":"Content","content":"x","n":1e}"#,
        #"{"type":"Content","content":"x","t":tru}"#,
        #"{"type":"Content","content":"unterminated}"#,
        #"{"type":"Content","content":"x","deep":"# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}",
        "not json", "data", "end",
    ]

    static func general(_ payload: String) -> UpstreamEvent? {
        try? UpstreamEvent.decodeGeneral(payload)
    }

    @Test(arguments: common)
    func answersTheCommonEventsAsTheGeneralDecoderDoes(payload: String) {
        let fast = EventScanner.event(payload)
        #expect(fast != nil, "the fast path should read \(payload)")
        #expect(fast == Self.general(payload))
    }

    @Test(arguments: unusual)
    func agreesOrStepsAsideOnUnusualPayloads(payload: String) {
        guard let fast = EventScanner.event(payload) else { return }
        #expect(fast == Self.general(payload), "\(payload)")
    }

    @Test func leavesErrorsQuotaAndOddShapesToTheGeneralDecoder() {
        for payload in Self.unusual.prefix(15) {
            #expect(EventScanner.event(payload) == nil, "\(payload)")
        }
    }

    /// Random edits of the payloads above (seeded, so a failure replays): wherever the
    /// scanner answers, the general decoder gives the same event.
    @Test func randomMutationsNeverMakeTheTwoDisagree() {
        var rng = SeededGenerator(seed: 0x5EED_CAFE)
        let alphabet = Array(#"{}[]":,\ u0123456789abcdefnrtlsEe.+-"#.utf8) + [0x00, 0x0A, 0xC3, 0xA9]
        let seeds = (Self.common + Self.unusual).map { Array($0.utf8) }
        var answered = 0
        for _ in 0..<50_000 {
            var bytes = seeds[Int(rng.next() % UInt64(seeds.count))]
            for _ in 0...(rng.next() % 3) {
                let position = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
                let byte = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                switch rng.next() % 3 {
                case 0 where !bytes.isEmpty: bytes[position] = byte
                case 1 where !bytes.isEmpty: bytes.remove(at: position)
                default: bytes.insert(byte, at: position)
                }
            }
            let payload = String(decoding: bytes, as: UTF8.self)
            guard let fast = EventScanner.event(payload) else { continue }
            answered += 1
            let general = Self.general(payload)
            #expect(fast == general, "\(payload)")
            if fast != general { return }
        }
        #expect(answered > 1_000)
    }
}
