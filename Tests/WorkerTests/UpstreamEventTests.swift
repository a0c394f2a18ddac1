import Foundation
import Shared
import Testing
@testable import WorkerCore

@Suite struct UpstreamEventTests {
    func decode(_ payload: String) throws -> UpstreamEvent {
        try UpstreamEvent.decode(payload)
    }

    @Test func content() throws {
        #expect(try decode(#"{"type":"Content","content":"Hello"}"#) == .content("Hello"))
        #expect(try decode(#"{"type":"Content","content":""}"#) == .content(""))
        #expect(try decode(#"{"type":"Content"}"#) == .content(""))
    }

    @Test func v8ToolCallFirstPieceCarriesIdAndName() throws {
        #expect(try decode(#"{"type":"ToolCall","id":"tc_1","name":"get_weather","content":""}"#)
            == .toolCall(.init(id: "tc_1", name: "get_weather", arguments: "")))
        #expect(try decode(#"{"type":"ToolCall","id":"tc_1","name":"get_weather","content":"{\"ci"}"#)
            == .toolCall(.init(id: "tc_1", name: "get_weather", arguments: #"{"ci"#)))
    }

    @Test func v8ToolCallLaterPiecesCarryOnlyContent() throws {
        #expect(try decode(#"{"type":"ToolCall","content":"ty\":\"Paris\"}"}"#)
            == .toolCall(.init(id: nil, name: nil, arguments: #"ty":"Paris"}"#)))
    }

    @Test func v7FunctionCallNameNullAfterTheFirst() throws {
        #expect(try decode(#"{"type":"FunctionCall","name":"lookup","content":"{\"q\":"}"#)
            == .toolCall(.init(id: nil, name: "lookup", arguments: #"{"q":"#)))
        #expect(try decode(#"{"type":"FunctionCall","name":null,"content":"1}"}"#)
            == .toolCall(.init(id: nil, name: nil, arguments: "1}")))
    }

    @Test(arguments: ["stop", "tool_call", "length"])
    func finishMetadata(reason: String) throws {
        #expect(try decode(#"{"type":"FinishMetadata","reason":"\#(reason)"}"#) == .finish(reason: reason))
    }

    @Test func finishMetadataWithoutReasonMeansStop() throws {
        #expect(try decode(#"{"type":"FinishMetadata"}"#) == .finish(reason: "stop"))
    }

    @Test func quotaMetadataWithStringAmounts() throws {
        let event = try decode(#"""
        {"type":"QuotaMetadata","spent":{"amount":"12.5"},
         "updated":{"current":{"amount":"123.4"},"maximum":{"amount":"1000"},"until":"2025-08-01T00:00:00Z"}}
        """#)
        #expect(event == .quota(.init(spent: "12.5", current: "123.4", maximum: "1000", until: "2025-08-01T00:00:00Z")))
    }

    @Test func quotaMetadataWithNumberAmounts() throws {
        let event = try decode(#"""
        {"type":"QuotaMetadata","spent":{"amount":12.5},
         "updated":{"current":{"amount":123.4},"maximum":{"amount":1000},"until":"2025-08-01T00:00:00Z"}}
        """#)
        guard case .quota(let report) = event else {
            Issue.record("expected a quota event, got \(event)")
            return
        }
        #expect(report.spent.flatMap(Double.init) == 12.5)
        #expect(report.current.flatMap(Double.init) == 123.4)
        #expect(report.maximum.flatMap(Double.init) == 1000)
        #expect(report.until == "2025-08-01T00:00:00Z")
    }

    @Test func quotaMetadataWithMissingPartsAndTopLevelUntil() throws {
        let event = try decode(#"{"type":"QuotaMetadata","until":"2025-09-01T00:00:00Z"}"#)
        #expect(event == .quota(.init(spent: nil, current: nil, maximum: nil, until: "2025-09-01T00:00:00Z")))
    }

    @Test func endMarker() throws {
        #expect(try decode("end") == .end)
    }

    @Test(arguments: ["Ping", "UnknownThing", "content"])
    func unknownTypesAreIgnored(type: String) throws {
        #expect(try decode(#"{"type":"\#(type)","whatever":1}"#) == .ignored(type: type))
    }

    @Test(arguments: ["{not json", "", "END", "<html>"])
    func payloadsThatAreNotJSONThrow(payload: String) {
        #expect(throws: UpstreamEvent.MalformedEvent.self) { try UpstreamEvent.decode(payload) }
    }

    /// JSON the worker cannot use is skipped, never a failed answer.
    @Test(arguments: [#"{"content":"no type"}"#, #"["Content"]"#, #""Content""#, "42", "null"])
    func jsonWithoutAnEventTypeIsIgnored(payload: String) throws {
        guard case .ignored = try UpstreamEvent.decode(payload) else {
            Issue.record("expected .ignored for \(payload)")
            return
        }
    }

    @Test func aNumericTypeReadsAsText() throws {
        #expect(try UpstreamEvent.decode(#"{"type":5}"#) == .ignored(type: "5"))
    }

    @Test func malformedEventDescriptionIsTruncated() {
        let long = String(repeating: "x", count: 500)
        let error = UpstreamEvent.MalformedEvent(payload: long)
        #expect(error.description.count < 200)
        #expect(error.description.hasPrefix("malformed upstream event: "))
    }
}
