import NIOCore
import NIOHTTP1

/// The per-connection timeouts and head-size limit as a pure state machine: the channel handler
/// (`ConnectionGuardHandler`) feeds it what it sees — bytes, decoded request parts, response ends,
/// the clock — and does what it answers. All decisions live here, so they are unit-tested
/// without sockets.
///
/// Phases of the inbound side: waiting for a head (idle or part of a head read), reading a body.
/// While a response is being written (`pendingResponses > 0`) no client timeout runs: the
/// client is waiting for us, not the other way round.
public struct ConnectionGuard: Sendable {
    public enum Verdict: Sendable, Equatable {
        case proceed
        /// Close without answering (idle keep-alive connection, nothing read).
        case close
        /// Answer this status with `Connection: close`, then close.
        case reject(HTTPResponseStatus)
    }

    enum Inbound: Sendable, Equatable {
        /// `headStart`: when the head's first byte came (a new connection: when it was accepted).
        case awaitingHead(headStart: NIODeadline?, bytes: Int)
        case readingBody(lastActivity: NIODeadline)
    }

    public let limits: ConnectionLimits
    private(set) var inbound: Inbound
    private(set) var idleSince: NIODeadline
    private(set) var pendingResponses = 0
    /// Request heads and ends decoded so far: lets the byte counter tell whether a read
    /// finished a head or a request (its bytes then are not all part of a head still arriving).
    public private(set) var partsSeen = 0
    /// The head of the request being read or answered, for shaping an error.
    public private(set) var currentHead: HTTPRequestHead?

    public init(limits: ConnectionLimits, acceptedAt now: NIODeadline) {
        self.limits = limits
        self.inbound = .awaitingHead(headStart: now, bytes: 0)
        self.idleSince = now
    }

    /// `count` bytes were read and passed through the HTTP decoder; `partsBefore` is
    /// `partsSeen` from before they were. Only the bytes of a read that completed neither a
    /// head nor a request count toward the head's size.
    public mutating func bytesRead(_ count: Int, partsBefore: Int, now: NIODeadline) -> Verdict {
        guard case .awaitingHead(let start, let bytes) = inbound, count > 0 else { return .proceed }
        // A read that finished a head or a body may also have begun the next head; its share
        // is unknown, so it is not counted (a head spanning reads is caught by its later reads).
        guard partsSeen == partsBefore else { return .proceed }
        inbound = .awaitingHead(headStart: start ?? now, bytes: bytes + count)
        if bytes + count > limits.maxHeaderSize { return reject(.requestHeaderFieldsTooLarge) }
        return .proceed
    }

    public mutating func head(_ head: HTTPRequestHead, now: NIODeadline) -> Verdict {
        partsSeen += 1
        currentHead = head
        inbound = .readingBody(lastActivity: now)
        // A head that arrived in one read is measured here; one still arriving, by `bytesRead`.
        if Self.wireSize(of: head) > limits.maxHeaderSize { return reject(.requestHeaderFieldsTooLarge) }
        // A gateway is not a forward proxy; NIO's parser would treat what follows as a tunnel.
        if head.method == .CONNECT { return reject(.methodNotAllowed) }
        return .proceed
    }

    /// About how many bytes `head` took on the wire (request line, `name: value\r\n` lines).
    static func wireSize(of head: HTTPRequestHead) -> Int {
        var size = head.method.rawValue.utf8.count + head.uri.utf8.count + 12
        for (name, value) in head.headers { size += name.utf8.count + value.utf8.count + 4 }
        return size + 2
    }

    public mutating func bodyPart(now: NIODeadline) {
        if case .readingBody = inbound { inbound = .readingBody(lastActivity: now) }
    }

    public mutating func requestEnded(now: NIODeadline) {
        partsSeen += 1
        pendingResponses += 1
        inbound = .awaitingHead(headStart: nil, bytes: 0)
        idleSince = now
    }

    public mutating func responseEnded(now: NIODeadline) {
        pendingResponses = max(0, pendingResponses - 1)
        if pendingResponses == 0 { idleSince = now }
    }

    /// When the next timeout falls due, and what to do then; nil while none runs.
    public var deadline: (at: NIODeadline, verdict: Verdict)? {
        guard pendingResponses == 0 else { return nil }
        switch inbound {
        case .awaitingHead(let start?, let bytes):
            if bytes == 0 {
                // A new connection that never sent a byte: close quietly (browsers preconnect
                // and treat a 408 on such a socket as a failed request).
                return (start + TimeAmount(limits.headerTimeout), .close)
            }
            return (start + TimeAmount(limits.headerTimeout), .reject(.requestTimeout))
        case .awaitingHead(nil, _):
            return (idleSince + TimeAmount(limits.idleTimeout), .close)
        case .readingBody(let last):
            return (last + TimeAmount(limits.bodyTimeout), .reject(.requestTimeout))
        }
    }

    /// The timer set for an earlier deadline fired: the verdict if a timeout is now due.
    public func timerFired(now: NIODeadline) -> Verdict {
        guard let (at, verdict) = deadline, at <= now else { return .proceed }
        return verdict
    }

    /// An answer can only be written when no other response is under way.
    private func reject(_ status: HTTPResponseStatus) -> Verdict {
        pendingResponses == 0 ? .reject(status) : .close
    }
}

/// Counts the bytes read before the HTTP decoder sees them, for the head-size limit.
final class HeadByteCounter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let guardHandler: ConnectionGuardHandler
    private var context: ChannelHandlerContext?

    init(reportingTo guardHandler: ConnectionGuardHandler) {
        self.guardHandler = guardHandler
        guardHandler.rawWriter = self
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Writes bytes below the HTTP encoder (which would strip the body of any answer to a
    /// CONNECT), then closes.
    func writeRawAndClose(_ bytes: ByteBuffer) {
        guard let context else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(bytes)).whenComplete { _ in bound.value.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !guardHandler.isShut else { return }
        let count = unwrapInboundIn(data).readableBytes
        let partsBefore = guardHandler.state.partsSeen
        context.fireChannelRead(data)
        guardHandler.bytesRead(count, partsBefore: partsBefore)
    }
}

/// Sits between the HTTP decoder and the async channel: applies `ConnectionGuard`'s verdicts —
/// timers on the channel's event loop, 408/431/405 answers in the responder's error shape,
/// closes — and drops whatever the client sends after one.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private(set) var state: ConnectionGuard
    private let shape: @Sendable (HTTPRequestHead?) -> ErrorShape
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    /// After a verdict other than `proceed`: nothing more is read or answered.
    private(set) var isShut = false
    /// Where rejections are written, below the HTTP encoder.
    weak var rawWriter: HeadByteCounter?

    init(limits: ConnectionLimits, shape: @escaping @Sendable (HTTPRequestHead?) -> ErrorShape) {
        self.state = ConnectionGuard(limits: limits, acceptedAt: .now())
        self.shape = shape
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { rearm() }
    }

    func channelActive(context: ChannelHandlerContext) {
        rearm()
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func bytesRead(_ count: Int, partsBefore: Int) {
        apply(state.bytesRead(count, partsBefore: partsBefore, now: .now()))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isShut else { return }
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            let verdict = state.head(head, now: .now())
            if verdict != .proceed { return apply(verdict) }
        case .body:
            state.bodyPart(now: .now())
        case .end:
            state.requestEnded(now: .now())
        }
        context.fireChannelRead(data)
        rearm()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            state.responseEnded(now: .now())
            rearm()
        }
        context.write(data, promise: promise)
    }

    private func apply(_ verdict: ConnectionGuard.Verdict) {
        guard let context, !isShut else { return }
        switch verdict {
        case .proceed:
            rearm()
        case .close:
            shut()
            context.close(promise: nil)
        case .reject(let status):
            shut()
            let error = HTTPError(status: status, message: Self.message(for: status, limits: state.limits), code: Self.code(for: status))
            let body = shape(state.currentHead).json(error)
            var extra = ""
            if status == .methodNotAllowed { extra = "allow: GET, POST\r\n" }
            let response = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\ncontent-type: application/json\r\n"
                + "content-length: \(body.utf8.count)\r\n\(extra)connection: close\r\n\r\n" + body
            if let rawWriter {
                rawWriter.writeRawAndClose(ByteBuffer(string: response))
            } else {
                context.close(promise: nil)
            }
        }
    }

    private func shut() {
        isShut = true
        timer?.cancel()
        timer = nil
    }

    /// Keeps one timer, set for the earliest deadline; a deadline that moved later, or went
    /// away while we answer, is checked when the earlier timer fires (so neither a body chunk
    /// nor a request on a kept-alive connection cancels or reschedules anything).
    private func rearm() {
        guard let context, !isShut else { return }
        guard let (at, _) = state.deadline else { return }
        if let current = timerDeadline, timer != nil, current <= at { return }
        timer?.cancel()
        timerDeadline = at
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: at) {
            let handler = loopBound.value
            handler.timer = nil
            handler.timerDeadline = nil
            let verdict = handler.state.timerFired(now: .now())
            if verdict == .proceed { handler.rearm() } else { handler.apply(verdict) }
        }
    }

    static func message(for status: HTTPResponseStatus, limits: ConnectionLimits) -> String {
        switch status {
        case .requestTimeout: return "The request was not received in time"
        case .requestHeaderFieldsTooLarge: return "The request head exceeds the limit of \(limits.maxHeaderSize) bytes"
        case .methodNotAllowed: return "CONNECT is not supported: this is an API gateway, not a forward proxy"
        default: return status.reasonPhrase
        }
    }

    static func code(for status: HTTPResponseStatus) -> String {
        switch status {
        case .requestTimeout: return "request_timeout"
        case .requestHeaderFieldsTooLarge: return "request_header_too_large"
        case .methodNotAllowed: return "method_not_allowed"
        default: return "bad_request"
        }
    }
}
