import NIOCore
import NIOHTTP1

/// Turns the HTTP/1 decoder's parts into whole requests, the body bounded by `maxBodySize`.
/// `HTTPServer`'s reader runs it on every connection and the `http` fuzz target runs it on
/// fuzzed bytes. Pure: what to do with an accepted head (admit it, answer `100 Continue`) and
/// with the steps it returns is the caller's.
public struct RequestAssembler: Sendable {
    public enum Step: Sendable, Equatable {
        /// Nothing to do yet.
        case none
        /// A head whose declared body (if any) fits. The caller may refuse it (`refuse()`:
        /// its body is then skipped), or answer `100 Continue` when the client expects one.
        case head(HTTPRequestHead, expectsContinue: Bool)
        /// The request's body is over the limit, declared (before reading it) or as it arrived:
        /// answer 413; the rest of this request is skipped.
        case tooLarge(HTTPRequestHead)
        /// A whole request, its body as received.
        case request(HTTPRequestHead, body: ByteBuffer)
    }

    public let maxBodySize: Int
    private var head: HTTPRequestHead?
    private var declaredLength: Int?
    private var body = ByteBuffer()
    /// The current request's body is not collected (too large, or refused).
    private var skipping = false

    public init(maxBodySize: Int) {
        self.maxBodySize = maxBodySize
    }

    public mutating func take(_ part: HTTPServerRequestPart) -> Step {
        switch part {
        case .head(let h):
            head = h
            body = ByteBuffer()
            skipping = false
            declaredLength = h.headers.first(name: "content-length").flatMap(Int.init)
            if let declaredLength, declaredLength > maxBodySize {
                skipping = true
                return .tooLarge(h)
            }
            return .head(h, expectsContinue: h.headers.first(name: "expect")?.lowercased() == "100-continue")
        case .body(var chunk):
            guard !skipping, let h = head else { return .none }
            if body.readableBytes + chunk.readableBytes > maxBodySize {
                skipping = true
                body = ByteBuffer()
                return .tooLarge(h)
            }
            if body.readableBytes == 0 {
                if let declaredLength, declaredLength > chunk.readableBytes {
                    // One allocation of the announced size instead of doubling as chunks arrive.
                    body.reserveCapacity(declaredLength)
                    body.writeBuffer(&chunk)
                } else {
                    // A body that came in one piece (or with no announced length) is kept as it came.
                    body = chunk
                }
            } else {
                body.writeBuffer(&chunk)
            }
            return .none
        case .end:
            defer {
                head = nil
                declaredLength = nil
                body = ByteBuffer()
            }
            guard let h = head, !skipping else { return .none }
            return .request(h, body: body)
        }
    }

    /// Skips the body of the request whose head was just taken: it was refused.
    public mutating func refuse() {
        skipping = true
        body = ByteBuffer()
    }
}
