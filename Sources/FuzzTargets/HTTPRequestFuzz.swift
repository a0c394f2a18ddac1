import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Shared

/// Bytes from a client into the HTTP/1 pipeline exactly as `HTTPServer` configures it (NIO's
/// decoder, no pipelining assistance, its protocol error handler), then assembled into
/// `ServerRequest`s the way the server's reader does: a body bounded by the limit (413 before
/// reading a declared oversized body), `Expect: 100-continue`, keep-alive. The same bytes are
/// also fed in small pieces: what a client sends must not mean something else when it arrives
/// in other segments.
enum HTTPRequestFuzz {
    /// Small, so the fuzzer reaches the over-the-limit paths.
    static let maxBodySize = 512

    enum Item: Equatable {
        case request(method: HTTPMethod, uri: String, headers: HTTPHeaders, body: [UInt8], version: HTTPVersion, keepAlive: Bool, path: String, query: [String: String])
        case tooLarge(HTTPRequestHead)
        case continueSent
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
        var items: [Item] = []
        var assembler = Assembler(limit: maxBodySize)
        for bytes in writes {
            do {
                try channel.writeInbound(ByteBuffer(bytes: bytes))
            } catch {
                // A parse error: the error handler answers 400 and closes; nothing more is read.
                drain(channel, into: &assembler, &items)
                break
            }
            drain(channel, into: &assembler, &items)
            if !channel.isActive { break }
        }
        _ = try? channel.finish(acceptAlreadyClosed: true)
        return items
    }

    private static func drain(_ channel: EmbeddedChannel, into assembler: inout Assembler, _ items: inout [Item]) {
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            items += assembler.take(part)
        }
        while (try? channel.readOutbound(as: IOData.self)) != nil {}
        while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
    }

    /// The server's reader (`HTTPServer.read`), step for step.
    struct Assembler {
        var limit: Int
        var head: HTTPRequestHead?
        var body = ByteBuffer()
        var tooLarge = false

        mutating func take(_ part: HTTPServerRequestPart) -> [Item] {
            switch part {
            case .head(let h):
                head = h
                body = ByteBuffer()
                tooLarge = false
                if let length = h.headers.first(name: "content-length").flatMap(Int.init), length > limit {
                    tooLarge = true
                    return [.tooLarge(h)]
                } else if h.headers.first(name: "expect")?.lowercased() == "100-continue" {
                    return [.continueSent]
                }
                return []
            case .body(var chunk):
                guard !tooLarge, let h = head else { return [] }
                if body.readableBytes + chunk.readableBytes > limit {
                    tooLarge = true
                    body = ByteBuffer()
                    return [.tooLarge(h)]
                }
                body.writeBuffer(&chunk)
                return []
            case .end:
                defer {
                    head = nil
                    body = ByteBuffer()
                }
                guard let h = head, !tooLarge else { return [] }
                let request = ServerRequest(method: h.method, uri: h.uri, headers: h.headers, body: body, version: h.version)
                return [.request(
                    method: request.method, uri: request.uri, headers: request.headers, body: Array(request.body.readableBytesView),
                    version: request.version, keepAlive: h.isKeepAlive, path: request.path, query: request.query
                )]
            }
        }
    }
}
