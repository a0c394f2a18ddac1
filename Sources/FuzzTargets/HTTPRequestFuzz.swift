import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Shared

/// Bytes from a client into the HTTP/1 pipeline exactly as `HTTPServer` configures it (NIO's
/// decoder, no pipelining assistance, its protocol error handler), then assembled into requests
/// by the server's own `RequestAssembler`: a body bounded by the limit (413 before reading a
/// declared oversized body), `Expect: 100-continue`, a refused head's body skipped, keep-alive.
/// The same bytes are also fed in small pieces: what a client sends must not mean something
/// else when it arrives in other segments.
enum HTTPRequestFuzz {
    /// Small, so the fuzzer reaches the over-the-limit paths.
    static let maxBodySize = 512
    static let peer = try! SocketAddress(ipAddress: "127.0.0.1", port: 40_000)

    enum Item: Equatable {
        case request(HTTPRequestHead, body: [UInt8], keepAlive: Bool, path: String, query: [String: String])
        case tooLarge(HTTPRequestHead)
        case head(HTTPRequestHead, expectsContinue: Bool)
        /// A parse error: the error handler answered 400 and nothing more is read.
        case parseError
    }

    static func run(_ data: Data) {
        let whole = parse([data[...]])
        let step = data.count % 11 + 1
        let pieces = stride(from: data.startIndex, to: data.endIndex, by: step).map { data[$0..<min($0 + step, data.endIndex)] }
        let pieced = parse(pieces)
        precondition(whole == pieced, "the request parse depends on how the bytes were split: \(whole) vs \(pieced)")
    }

    static func parse(_ writes: [Data.SubSequence]) -> [Item] {
        let channel = EmbeddedChannel()
        do {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
        } catch {
            preconditionFailure("pipeline setup failed: \(error)")
        }
        // An EmbeddedChannel is inactive until connected, and the loop below stops reading at an
        // inactive channel (the error handler closes it after a parse error): without this, the
        // pieced parse stopped after its first piece.
        channel.connect(to: peer, promise: nil)
        precondition(channel.isActive, "the embedded channel did not become active")
        var items: [Item] = []
        var assembler = RequestAssembler(maxBodySize: maxBodySize)
        for bytes in writes {
            do {
                try channel.writeInbound(ByteBuffer(bytes: bytes))
            } catch {
                drain(channel, into: &assembler, &items)
                items.append(.parseError)
                break
            }
            drain(channel, into: &assembler, &items)
            if !channel.isActive { break }
        }
        _ = try? channel.finish(acceptAlreadyClosed: true)
        return items
    }

    private static func drain(_ channel: EmbeddedChannel, into assembler: inout RequestAssembler, _ items: inout [Item]) {
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            switch assembler.take(part) {
            case .none:
                break
            case .head(let head, let expectsContinue):
                // The server refuses heads past its request cap; here a PUT stands for one.
                if head.method == .PUT { assembler.refuse() }
                items.append(.head(head, expectsContinue: expectsContinue))
            case .tooLarge(let head):
                items.append(.tooLarge(head))
            case .request(let head, let body):
                precondition(body.readableBytes <= maxBodySize, "a body of \(body.readableBytes) bytes passed the limit")
                precondition(head.method != .PUT, "a refused request was assembled")
                let request = ServerRequest(method: head.method, uri: head.uri, headers: head.headers, body: body, version: head.version)
                items.append(.request(head, body: Array(request.body.readableBytesView), keepAlive: head.isKeepAlive, path: request.path, query: request.query))
            }
        }
        while (try? channel.readOutbound(as: IOData.self)) != nil {}
        while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
    }
}
