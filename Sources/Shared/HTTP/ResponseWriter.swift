import NIOCore
import NIOHTTP1
import Synchronization

/// Writes one response, either whole (`respond`) or streamed (`writeHead`, `write`…, `end`).
/// A response without `Content-Length` is sent chunked.
public final class ResponseWriter: Sendable {
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    private let state = Mutex(State())
    let requestVersion: HTTPVersion
    let keepAliveWanted: Bool

    struct State {
        var headWritten = false
        var ended = false
        var closeAfter = false
        var status: HTTPResponseStatus = .ok
    }

    init(outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, requestVersion: HTTPVersion, keepAlive: Bool) {
        self.outbound = outbound
        self.requestVersion = requestVersion
        self.keepAliveWanted = keepAlive
    }

    /// A second response head for one request.
    public struct HeadAlreadyWritten: Error {}

    public var headWritten: Bool { state.withLock { $0.headWritten } }
    public var ended: Bool { state.withLock { $0.ended } }
    /// The status of the head written (200 until one is).
    public var status: HTTPResponseStatus { state.withLock { $0.status } }
    var closeAfter: Bool { state.withLock { $0.closeAfter || !keepAliveWanted } }

    /// Asks the server to close the connection once this response is complete.
    public func closeConnectionAfterResponse() {
        state.withLock { $0.closeAfter = true }
    }

    public func writeHead(status: HTTPResponseStatus, headers: HTTPHeaders = [:]) async throws {
        try await outbound.write(.head(try prepareHead(status: status, headers: headers)))
    }

    /// Marks the head written and fills in the connection headers.
    private func prepareHead(status: HTTPResponseStatus, headers: HTTPHeaders) throws -> HTTPResponseHead {
        let close = try state.withLock { s -> Bool in
            // A programming error, but not worth the process: the request fails, the server lives.
            guard !s.headWritten else { throw HeadAlreadyWritten() }
            s.headWritten = true
            s.status = status
            return s.closeAfter || !keepAliveWanted
        }
        var headers = headers
        if close {
            headers.replaceOrAdd(name: "connection", value: "close")
        } else if requestVersion == .http1_0 {
            headers.replaceOrAdd(name: "connection", value: "keep-alive")
        }
        if !headers.contains(name: "content-length") && !headers.contains(name: "transfer-encoding")
            && requestVersion == .http1_0
        {
            // HTTP/1.0 has no chunked encoding: the body ends when the connection closes.
            state.withLock { $0.closeAfter = true }
            headers.replaceOrAdd(name: "connection", value: "close")
        }
        return HTTPResponseHead(version: requestVersion, status: status, headers: headers)
    }

    public func write(_ buffer: ByteBuffer) async throws {
        guard buffer.readableBytes > 0 else { return }
        try await outbound.write(.body(.byteBuffer(buffer)))
    }

    public func write(_ string: String) async throws {
        try await write(ByteBuffer(string: string))
    }

    public func end(trailers: HTTPHeaders? = nil) async throws {
        let already = state.withLock { s -> Bool in
            defer { s.ended = true }
            return s.ended
        }
        guard !already else { return }
        try await outbound.write(.end(trailers))
    }

    /// Writes a complete response with a `Content-Length`, head, body and end in one write.
    public func respond(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) async throws {
        var headers = headers
        headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        let head = try prepareHead(status: status, headers: headers)
        state.withLock { $0.ended = true }
        var parts: [HTTPServerResponsePart] = [.head(head)]
        if body.readableBytes > 0 { parts.append(.body(.byteBuffer(body))) }
        parts.append(.end(nil))
        try await outbound.write(contentsOf: parts)
    }

    /// Writes a complete JSON response.
    public func respond(status: HTTPResponseStatus, json: String, headers: HTTPHeaders = [:]) async throws {
        var headers = headers
        headers.replaceOrAdd(name: "content-type", value: "application/json")
        try await respond(status: status, headers: headers, body: ByteBuffer(string: json))
    }
}
