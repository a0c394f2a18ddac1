import Foundation
import NIOCore
import Testing
@testable import WorkerCore

@Suite struct SSEParserTests {
    /// Feeds `chunks` one after another, then finishes; returns every event in order.
    func parse<C: Collection>(_ chunks: C) -> [String] where C.Element == [UInt8] {
        var parser = SSEParser()
        var events: [String] = []
        for chunk in chunks { events += parser.feed(chunk) }
        events += parser.finish()
        return events
    }

    func parse(_ text: String) -> [String] { parse([Array(text.utf8)]) }

    /// Splits `bytes` at random places (reproducibly).
    func randomChunks(_ bytes: [UInt8], seed: UInt64) -> [[UInt8]] {
        var rng = SeededGenerator(seed: seed)
        var chunks: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            let size = Int.random(in: 1...max(1, min(17, bytes.count - i)), using: &rng)
            chunks.append(Array(bytes[i..<(i + size)]))
            i += size
        }
        return chunks
    }

    static let stream = """
    : keep-alive comment\r
    data: {"type":"Content","content":"Hel"}\r
    \r
    data: {"type":"Content","content":"lo ✓ 世界"}

    event: message
    id: 7
    data: line one
    data: line two
    data:line three

    retry: 1000

    data: {"type":"FinishMetadata","reason":"stop"}

    data: end

    """

    static let expected = [
        #"{"type":"Content","content":"Hel"}"#,
        #"{"type":"Content","content":"lo ✓ 世界"}"#,
        "line one\nline two\nline three",
        #"{"type":"FinishMetadata","reason":"stop"}"#,
        "end",
    ]

    @Test func wholeStreamAtOnce() {
        #expect(parse(Self.stream) == Self.expected)
    }

    @Test func byteByByteGivesTheSameEvents() {
        let bytes = Array(Self.stream.utf8)
        #expect(parse(bytes.map { [$0] }) == Self.expected)
    }

    @Test(arguments: 0..<40)
    func randomChunkingsGiveTheSameEvents(seed: Int) {
        let chunks = randomChunks(Array(Self.stream.utf8), seed: UInt64(seed))
        #expect(parse(chunks) == Self.expected)
    }

    @Test func eventsAreDeliveredAsSoonAsTheirBlankLineArrives() {
        var parser = SSEParser()
        #expect(parser.feed(Array("data: a\n".utf8)).isEmpty)
        #expect(parser.feed(Array("\n".utf8)) == ["a"])
        #expect(parser.feed(Array("data: b\r\n\r".utf8)).isEmpty)
        #expect(parser.feed(Array("\n".utf8)) == ["b"])
        #expect(parser.finish().isEmpty)
    }

    @Test func byteBufferInput() {
        var parser = SSEParser()
        let buffer = ByteBuffer(string: "data: x\n\ndata: y\n\n")
        #expect(parser.feed(buffer) == ["x", "y"])
    }

    @Test func crlfLineEndings() {
        #expect(parse("data: a\r\n\r\ndata: b\r\ndata: c\r\n\r\n") == ["a", "b\nc"])
    }

    @Test func multiLineDataIsJoinedWithNewline() {
        #expect(parse("data: {\ndata:   \"a\": 1\ndata: }\n\n") == ["{\n  \"a\": 1\n}"])
    }

    @Test func onlyOneLeadingSpaceIsStripped() {
        #expect(parse("data:  two spaces\n\ndata:none\n\n") == [" two spaces", "none"])
    }

    @Test func commentsAndOtherFieldsAreIgnored() {
        #expect(parse(": ping\n\n:another\nevent: x\nid: 1\nretry: 5\n\n") == [])
        #expect(parse(": ping\ndata: a\n: between\ndata: b\n\n") == ["a\nb"])
    }

    @Test func emptyDataFieldStillMakesAnEvent() {
        #expect(parse("data\n\ndata:\n\n") == ["", ""])
    }

    @Test func blankLinesWithoutDataDeliverNothing() {
        #expect(parse("\n\n\r\n\n") == [])
    }

    @Test func lastEventWithoutBlankLineIsDeliveredByFinish() {
        var parser = SSEParser()
        #expect(parser.feed(Array("data: first\n\ndata: end".utf8)) == ["first"])
        #expect(parser.finish() == ["end"])
        #expect(parser.finish() == [])
    }

    @Test func lastEventWithLineEndButNoBlankLineIsDeliveredByFinish() {
        var parser = SSEParser()
        #expect(parser.feed(Array("data: a\ndata: b\r\n".utf8)) == [])
        #expect(parser.finish() == ["a\nb"])
    }

    @Test func finishOnEmptyParserDeliversNothing() {
        var parser = SSEParser()
        #expect(parser.finish() == [])
    }
}
