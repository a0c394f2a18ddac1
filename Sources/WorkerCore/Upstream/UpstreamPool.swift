import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Scheme, host, port and path prefix of the upstream's base URL.
struct UpstreamOrigin: Sendable, Hashable {
    var tls: Bool
    var host: String
    var port: Int
    /// A path the base URL carries (`https://host/prefix`), put before every request path.
    var pathPrefix: String

    /// `http://host[:port][/prefix]` or `https://name[:port][/prefix]`; nil for anything else,
    /// and for TLS to an IP address (no SNI name to verify the certificate by), which stay on
    /// AsyncHTTPClient.
    init?(url: String) {
        let tls: Bool
        var rest: Substring
        if url.hasPrefix("https://") { tls = true; rest = url.dropFirst(8) } else if url.hasPrefix("http://") {
            tls = false; rest = url.dropFirst(7)
        } else { return nil }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var prefix = String(rest[slash...])
        while prefix.hasSuffix("/") { prefix.removeLast() }
        rest = rest[..<slash]
        guard !rest.isEmpty, !rest.contains("@"), !rest.contains("?"), !rest.contains("#") else { return nil }
        var host: Substring
        var port = tls ? 443 : 80
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let p = Int(rest[rest.index(after: colon)...]) else { return nil }
            port = p
        } else {
            host = rest
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        if tls, host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) { return nil }
        self.tls = tls
        self.host = String(host)
        self.port = port
        self.pathPrefix = prefix
    }

    /// The `Host` header: the port only when it is not the scheme's default.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (tls ? 443 : 80) ? name : "\(name):\(port)"
    }
}

/// What a chat exchange can fail with before or while the answer is read.
enum UpstreamExchangeError: Error, CustomStringConvertible, Equatable {
    case connectTimeout
    case deadlineExceeded
    /// The connection closed before the response was complete.
    case closed
    /// A pooled connection found closed before anything was written to it.
    case stale
    /// The upstream sent something that is not an HTTP/1.1 response.
    case protocolError(String)
    case connectFailed(String)

    var isTimeout: Bool { self == .connectTimeout || self == .deadlineExceeded }

    var description: String {
        switch self {
        case .connectTimeout: return "connectTimeout"
        case .deadlineExceeded: return "deadlineExceeded"
        case .closed, .stale: return "remoteConnectionClosed"
        case .protocolError(let what): return "invalid response (\(what))"
        case .connectFailed(let why): return "connect failed (\(why))"
        }
    }
}

/// The chat path's HTTP/1.1 client: keep-alive connections kept per event loop and reused, a
/// request written in one flush (head, body and end: one `writev`), the answer read on the
/// connection's own event loop with back-pressure (a read is asked for only when the reader
/// wants more). TLS through NIOSSL with certificate and host-name verification on.
///
/// It exists because AsyncHTTPClient's per-request machinery (request bag, transaction, body
/// stream, separate flushes for head and body) cost about a tenth of a chat's CPU in the
/// worker's profile. The cold calls (quota probes, profiles, licenses, OAuth, images) and
/// every call through an `outbound_proxy` stay on AsyncHTTPClient.
final class UpstreamPool: Sendable {
    let origin: UpstreamOrigin
    private let group: MultiThreadedEventLoopGroup
    /// For an `https` origin; its context is made at the first connection (loading the trust
    /// store takes about 10 ms, which start-up need not wait for) and kept.
    private let tlsConfiguration: TLSConfiguration?
    private let tlsContext = Mutex<NIOSSLContext?>(nil)
    private let connectTimeout: TimeAmount
    /// Idle connections per event loop (keyed by the loop's identity).
    private let idle = Mutex<[ObjectIdentifier: [PooledConnection]]>([:])
    private let closed = Atomic<Bool>(false)
    static let maxIdlePerLoop = 256
    static let idleTimeout = TimeAmount.seconds(60)
    /// How long the rest of an answer read only to its `data: end` may take to arrive before
    /// its connection is closed instead of reused.
    static let drainTimeout = TimeAmount.seconds(2)

    /// `trustRoots` other than the system's are for tests.
    init(
        origin: UpstreamOrigin, connectTimeout: TimeAmount, trustRoots: NIOSSLTrustRoots = .default,
        group: MultiThreadedEventLoopGroup = .singleton
    ) {
        self.origin = origin
        self.group = group
        self.connectTimeout = connectTimeout
        if origin.tls {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.applicationProtocols = ["http/1.1"]
            configuration.trustRoots = trustRoots
            self.tlsConfiguration = configuration
        } else {
            self.tlsConfiguration = nil
        }
    }

    /// The TLS context, made once; nil for plain `http`.
    private func tls() throws(UpstreamExchangeError) -> NIOSSLContext? {
        guard let tlsConfiguration else { return nil }
        do {
            return try tlsContext.withLock { context in
                if let context { return context }
                let made = try NIOSSLContext(configuration: tlsConfiguration)
                context = made
                return made
            }
        } catch {
            throw .connectFailed("TLS: \(error)")
        }
    }

    /// Closes the idle connections; exchanges in flight finish on theirs.
    func shutdown() {
        closed.store(true, ordering: .relaxed)
        let all = idle.withLock { idle -> [PooledConnection] in
            defer { idle.removeAll() }
            return idle.values.flatMap { $0 }
        }
        for connection in all { connection.channel.close(promise: nil) }
    }

    /// Idle connections now (for tests).
    var idleCount: Int { idle.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Sends a POST and returns once the response head is in; the body is read from the
    /// exchange. A reused connection found closed before the request was written to it is
    /// replaced by a fresh one, once (the server's keep-alive timeout, not a failed attempt);
    /// any later failure is the caller's, since a POST may not be sent twice.
    func post(path: String, headers: HTTPHeaders, body: ByteBuffer, deadline: NIODeadline) async throws -> UpstreamExchange {
        let current = MultiThreadedEventLoopGroup.currentEventLoop
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: origin.pathPrefix + path)
        head.headers.reserveCapacity(headers.count + 3)
        head.headers.add(name: "Host", value: origin.hostHeader)
        head.headers.add(contentsOf: headers)
        head.headers.add(name: "Content-Length", value: String(body.readableBytes))
        if let reused = checkout(preferring: current) {
            do {
                return try await exchange(on: reused, head: head, body: body, deadline: deadline)
            } catch let error as UpstreamExchangeError where error == .stale {
                // Closed before the request was written (the server's keep-alive timeout won
                // the race): nothing reached the upstream, so a new connection may carry it.
            }
        }
        let connection = try await connect(on: current ?? group.next(), deadline: deadline)
        return try await exchange(on: connection, head: head, body: body, deadline: deadline)
    }

    private func exchange(on connection: PooledConnection, head: HTTPRequestHead, body: ByteBuffer, deadline: NIODeadline) async throws -> UpstreamExchange {
        let exchange = UpstreamExchange(connection: connection, pool: self, deadline: deadline)
        try await exchange.start(head: head, body: body)
        return exchange
    }

    /// An idle connection of the caller's event loop (no thread hop); off the loops (the
    /// concurrency pool, `JBAI_NIO_EXECUTOR=off`), one of any loop.
    private func checkout(preferring loop: (any EventLoop)?) -> PooledConnection? {
        while let connection = idle.withLock({ idle -> PooledConnection? in
            if let loop { return idle[ObjectIdentifier(loop)]?.popLast() }
            guard let key = idle.first(where: { !$0.value.isEmpty })?.key else { return nil }
            return idle[key]?.popLast()
        }) {
            if connection.claim() { return connection }
        }
        return nil
    }

    /// Parks a connection whose exchange ended, if it may carry another (on its event loop);
    /// closes it otherwise.
    fileprivate func release(_ connection: PooledConnection) {
        let key = ObjectIdentifier(connection.channel.eventLoop)
        let parked = connection.reusable && !closed.load(ordering: .relaxed) && idle.withLock { idle -> Bool in
            guard idle[key, default: []].count < Self.maxIdlePerLoop else { return false }
            idle[key, default: []].append(connection)
            return true
        }
        guard parked else { return connection.channel.close(promise: nil) }
        connection.parked(timeout: Self.idleTimeout) { [weak self] in self?.forget(connection) }
    }

    /// Drops a connection from the idle lists (it closed, or idled out).
    fileprivate func forget(_ connection: PooledConnection) {
        let key = ObjectIdentifier(connection.channel.eventLoop)
        idle.withLock { idle in idle[key]?.removeAll { $0 === connection } }
    }

    private func connect(on loop: any EventLoop, deadline: NIODeadline) async throws -> PooledConnection {
        let timeout = min(connectTimeout, deadline - .now())
        guard timeout > .zero else { throw UpstreamExchangeError.deadlineExceeded }
        let tls = try tls()
        let host = origin.host
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.autoRead, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // The name is both the SNI and what the certificate is verified against.
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: host))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(leftOverBytesStrategy: .fireError)
                    try channel.pipeline.syncOperations.addHandler(ExchangeHandler())
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: origin.host, port: origin.port).get()
        } catch let error as ChannelError {
            if case .connectTimeout = error { throw UpstreamExchangeError.connectTimeout }
            throw UpstreamExchangeError.connectFailed("\(error)")
        } catch {
            throw UpstreamExchangeError.connectFailed("\(error)")
        }
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: ExchangeHandler.self), eventLoop: channel.eventLoop)
        }.get()
        let connection = PooledConnection(channel: channel, handler: handler)
        _ = connection.claim()
        channel.closeFuture.whenComplete { [weak self] _ in self?.forget(connection) }
        return connection
    }
}

/// One keep-alive connection: busy with one exchange, or idle in the pool.
final class PooledConnection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<ExchangeHandler>
    /// Busy (claimed by an exchange) or idle; the idle timer is cancelled by a claim.
    private let state = Mutex<(busy: Bool, idleTimer: Scheduled<Void>?)>((false, nil))

    init(channel: any Channel, handler: NIOLoopBound<ExchangeHandler>) {
        self.channel = channel
        self.handler = handler
    }

    /// Open, and its last response did not ask to close it (on its loop).
    var reusable: Bool { channel.isActive && !handler.value.closeAfter }

    /// Takes an idle, open connection for an exchange; false when it is gone or taken.
    func claim() -> Bool {
        guard channel.isActive else { return false }
        return state.withLock { s in
            guard !s.busy else { return false }
            s.busy = true
            s.idleTimer?.cancel()
            s.idleTimer = nil
            return true
        }
    }

    /// Now idle: closes itself after `timeout` unless claimed first. Called on its loop.
    fileprivate func parked(timeout: TimeAmount, onClose: @escaping @Sendable () -> Void) {
        let timer = channel.eventLoop.scheduleTask(in: timeout) { [channel] in
            onClose()
            channel.close(promise: nil)
        }
        state.withLock { s in
            s.busy = false
            s.idleTimer = timer
        }
        // An idle connection still reads: the server's close (or stray bytes) is noticed now,
        // not by the next request.
        handler.value.watchWhileIdle()
    }
}

/// One request and its answer on a pooled connection. Body pieces come from `next()`; once
/// the response's end is read, the connection goes back to the pool. An exchange dropped
/// before that (the answer ended early, the client left, an error) closes its connection,
/// unless the end is already buffered.
final class UpstreamExchange: Sendable {
    let connection: PooledConnection
    private let pool: UpstreamPool
    private let deadline: NIODeadline
    private let progress = Mutex<Progress>(Progress())

    private struct Progress {
        var head: HTTPResponseHead?
        var finished = false
        var timer: Scheduled<Void>?
    }

    fileprivate init(connection: PooledConnection, pool: UpstreamPool, deadline: NIODeadline) {
        self.connection = connection
        self.pool = pool
        self.deadline = deadline
    }

    deinit {
        let (finished, timer) = progress.withLock { ($0.finished, $0.timer) }
        timer?.cancel()
        guard !finished else { return }
        let handler = connection.handler
        let connection = self.connection
        let pool = self.pool
        let loop = connection.channel.eventLoop
        loop.execute {
            // The caller read the answer as far as it needed (`data: end`), but the response
            // itself (a chunked body's last chunk) may still be on its way: read it to its end
            // in the background and keep the connection, or close it if that takes too long.
            guard connection.reusable else { return connection.channel.close(promise: nil) }
            let giveUp = loop.scheduleTask(in: UpstreamPool.drainTimeout) { connection.channel.close(promise: nil) }
            handler.value.drain {
                giveUp.cancel()
                pool.release(connection)
            }
        }
    }

    var status: HTTPResponseStatus { progress.withLock { $0.head?.status ?? .ok } }
    var headers: HTTPHeaders { progress.withLock { $0.head?.headers ?? [:] } }

    /// Writes the request in one flush and waits for the response head.
    fileprivate func start(head: HTTPRequestHead, body: ByteBuffer) async throws {
        let handler = connection.handler
        let channel = connection.channel
        let deadline = self.deadline
        let timer = channel.eventLoop.scheduleTask(deadline: deadline) {
            handler.value.fail(UpstreamExchangeError.deadlineExceeded)
        }
        progress.withLock { $0.timer = timer }
        let part = try await onLoop { handler in
            handler.send(head: head, body: body)
            return handler.next()
        }
        guard case .head(let responseHead) = part else {
            throw UpstreamExchangeError.protocolError("no response head")
        }
        progress.withLock { $0.head = responseHead }
    }

    /// The next piece of the body, nil at its end.
    func next() async throws -> ByteBuffer? {
        if progress.withLock({ $0.finished }) { return nil }
        let part = try await onLoop { $0.next() }
        switch part {
        case .body(let buffer):
            return buffer
        case .end:
            let timer = progress.withLock { p -> Scheduled<Void>? in
                p.finished = true
                defer { p.timer = nil }
                return p.timer
            }
            timer?.cancel()
            let connection = self.connection
            let pool = self.pool
            connection.channel.eventLoop.execute { pool.release(connection) }
            return nil
        case .head:
            throw UpstreamExchangeError.protocolError("a second response head")
        }
    }

    /// Reads the whole body, up to `limit` bytes.
    func collect(upTo limit: Int) async throws -> ByteBuffer {
        var all = ByteBuffer()
        while let piece = try await next() {
            guard all.readableBytes + piece.readableBytes <= limit else { throw UpstreamExchangeError.protocolError("body over \(limit) bytes") }
            var piece = piece
            all.writeBuffer(&piece)
        }
        return all
    }

    /// Runs `body` on the connection's loop (directly when already there) and awaits the
    /// part it returns; a cancelled task closes the connection, which ends the wait.
    private func onLoop(
        _ body: @escaping @Sendable (ExchangeHandler) -> EventLoopFuture<HTTPClientResponsePart>
    ) async throws -> HTTPClientResponsePart {
        let handler = connection.handler
        let channel = connection.channel
        return try await withTaskCancellationHandler {
            let future: EventLoopFuture<HTTPClientResponsePart>
            if channel.eventLoop.inEventLoop {
                future = body(handler.value)
            } else {
                future = channel.eventLoop.flatSubmit { body(handler.value) }
            }
            return try await future.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

/// The last handler of a pooled connection: hands response parts to the exchange one at a
/// time and reads from the socket only when the exchange waits for more.
final class ExchangeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private var context: ChannelHandlerContext?
    private var buffered = CircularBuffer<HTTPClientResponsePart>(initialCapacity: 4)
    private var waiter: EventLoopPromise<HTTPClientResponsePart>?
    private var failure: UpstreamExchangeError?
    private var idle = false
    /// Set while the rest of an abandoned response is read: called at its end.
    private var draining: (() -> Void)?
    /// The response said `Connection: close` (or was HTTP/1.0): not for reuse.
    private(set) var closeAfter = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func send(head: HTTPRequestHead, body: ByteBuffer) {
        idle = false
        closeAfter = false
        buffered.removeAll(keepingCapacity: true)
        // Already failed (the deadline passed before the request went out): `next()` says so.
        // A failed connection is never reused, so a failure here is always this exchange's.
        guard failure == nil else { return }
        guard let context, context.channel.isActive else { return fail(.stale) }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// The next part: buffered, or read for.
    func next() -> EventLoopFuture<HTTPClientResponsePart> {
        let loop = context?.eventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
        if let part = buffered.popFirst() { return loop.makeSucceededFuture(part) }
        if let failure { return loop.makeFailedFuture(failure) }
        guard let context else { return loop.makeFailedFuture(UpstreamExchangeError.closed) }
        let promise = context.eventLoop.makePromise(of: HTTPClientResponsePart.self)
        waiter = promise
        context.read()
        return promise.futureResult
    }

    /// Reads (and discards) the rest of the response, then calls `done`; a part after the
    /// end closes the connection instead.
    func drain(then done: @escaping () -> Void) {
        waiter = nil
        while let part = buffered.popFirst() {
            guard case .end = part else { continue }
            guard buffered.isEmpty else { return fail(.protocolError("bytes after the response")) }
            return done()
        }
        guard failure == nil, let context else { return }
        draining = done
        context.read()
    }

    /// Between exchanges: read, so that a close is seen at once.
    func watchWhileIdle() {
        idle = true
        context?.read()
    }

    func fail(_ error: UpstreamExchangeError) {
        if failure == nil { failure = error }
        if let waiter {
            self.waiter = nil
            waiter.fail(error)
        }
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if idle {
            // Nothing may arrive between exchanges.
            return fail(.protocolError("bytes on an idle connection"))
        }
        if case .head(let head) = part, !head.isKeepAlive { closeAfter = true }
        if let done = draining {
            if case .end = part {
                draining = nil
                done()
            }
            return
        }
        if let waiter {
            self.waiter = nil
            waiter.succeed(part)
        } else {
            buffered.append(part)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if draining != nil { context.read() }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        draining = nil
        if failure == nil { failure = .closed }
        if let waiter {
            self.waiter = nil
            waiter.fail(failure ?? .closed)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason: UpstreamExchangeError
        switch error {
        case is HTTPParserError: reason = .protocolError("\(error)")
        case let e as NIOSSLError: reason = .connectFailed("TLS: \(e)")
        case let e as BoringSSLError: reason = .connectFailed("TLS: \(e)")
        default: reason = .closed
        }
        fail(reason)
    }
}
