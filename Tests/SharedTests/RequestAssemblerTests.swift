import NIOCore
import NIOHTTP1
import Testing

@testable import Shared

/// The server's request assembly (`RequestAssembler`, shared with the `http` fuzz target):
/// whole requests out of the decoder's parts, the body bounded by the limit.
@Suite struct RequestAssemblerTests {
    static func head(_ method: HTTPMethod = .POST, _ headers: [(String, String)] = []) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: "/v1/x", headers: HTTPHeaders(headers))
    }

    @Test func assemblesABodyFromItsPieces() {
        var assembler = RequestAssembler(maxBodySize: 10)
        let h = Self.head(.POST, [("content-length", "6")])
        #expect(assembler.take(.head(h)) == .head(h, expectsContinue: false))
        #expect(assembler.take(.body(ByteBuffer(string: "abc"))) == .none)
        #expect(assembler.take(.body(ByteBuffer(string: "def"))) == .none)
        #expect(assembler.take(.end(nil)) == .request(h, body: ByteBuffer(string: "abcdef")))
        // The next request on the connection starts empty.
        let get = Self.head(.GET)
        #expect(assembler.take(.head(get)) == .head(get, expectsContinue: false))
        #expect(assembler.take(.end(nil)) == .request(get, body: ByteBuffer()))
    }

    @Test func aDeclaredOversizedBodyIsRefusedBeforeItIsRead() {
        var assembler = RequestAssembler(maxBodySize: 10)
        let h = Self.head(.POST, [("content-length", "11"), ("expect", "100-continue")])
        #expect(assembler.take(.head(h)) == .tooLarge(h))
        #expect(assembler.take(.body(ByteBuffer(string: "abc"))) == .none)
        #expect(assembler.take(.end(nil)) == .none)
    }

    @Test func aBodyThatGrowsPastTheLimitIsTooLargeOnce() {
        var assembler = RequestAssembler(maxBodySize: 4)
        let h = Self.head(.POST, [("transfer-encoding", "chunked")])
        #expect(assembler.take(.head(h)) == .head(h, expectsContinue: false))
        #expect(assembler.take(.body(ByteBuffer(string: "abcd"))) == .none)
        #expect(assembler.take(.body(ByteBuffer(string: "e"))) == .tooLarge(h))
        #expect(assembler.take(.body(ByteBuffer(string: "f"))) == .none)
        #expect(assembler.take(.end(nil)) == .none)
    }

    @Test func aRefusedHeadsBodyIsSkipped() {
        var assembler = RequestAssembler(maxBodySize: 10)
        let h = Self.head(.POST, [("content-length", "3")])
        #expect(assembler.take(.head(h)) == .head(h, expectsContinue: false))
        assembler.refuse()
        #expect(assembler.take(.body(ByteBuffer(string: "abc"))) == .none)
        #expect(assembler.take(.end(nil)) == .none)
    }

    @Test func expectContinueIsReportedWhateverItsCase() {
        var assembler = RequestAssembler(maxBodySize: 10)
        let h = Self.head(.POST, [("content-length", "2"), ("Expect", "100-Continue")])
        #expect(assembler.take(.head(h)) == .head(h, expectsContinue: true))
    }
}
