import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where a server listens.
public enum BindTarget: Sendable, CustomStringConvertible {
    /// Bind a TCP socket (port 0 asks the OS for a free port).
    case tcp(host: String, port: Int)
    /// Bind a Unix domain socket at `path` (an old socket file is replaced); the file gets mode 0600.
    case unixSocket(path: String)
    /// Serve an already bound and listening socket, e.g. fd 3 handed over by a supervisor.
    case inherited(fd: CInt)

    public var description: String {
        switch self {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unixSocket(let path): return "unix:\(path)"
        case .inherited(let fd): return "fd \(fd)"
        }
    }
}

public struct HTTPServerConfiguration: Sendable {
    public var target: BindTarget
    /// Requests with a larger body are answered 413 without reaching the responder.
    public var maxBodySize: Int
    /// How long a graceful shutdown waits for requests in flight before closing their connections.
    public var shutdownTimeout: Duration
    /// Listen backlog for sockets this server binds itself.
    public var backlog: Int32
    /// Decides whether to serve a new connection at all (e.g. a peer-credential check); a
    /// refused connection is closed at once.
    public var connectionFilter: (@Sendable (any Channel) async -> Bool)?
    /// Timeouts, the head-size limit and the connection cap.
    public var limits: ConnectionLimits
    /// Caps the requests answered at once (nil: no cap): past it, a request is answered 503
    /// with `Retry-After` as soon as its head arrives, before its body is read.
    public var admission: RequestAdmission?

    public init(
        target: BindTarget,
        maxBodySize: Int = 10 << 20,
        shutdownTimeout: Duration = .seconds(30),
        backlog: Int32 = 1024,
        limits: ConnectionLimits = .publicListener,
        admission: RequestAdmission? = nil,
        connectionFilter: (@Sendable (any Channel) async -> Bool)? = nil
    ) {
        self.target = target
        self.maxBodySize = maxBodySize
        self.shutdownTimeout = shutdownTimeout
        self.backlog = backlog
        self.limits = limits
        self.admission = admission
        self.connectionFilter = connectionFilter
    }
}

/// An HTTP/1.1 server on SwiftNIO's async channels.
///
/// Each connection runs a reader and a processor: the reader collects requests (bounded by
/// `maxBodySize`), the processor hands them to the responder one at a time. When the client goes
/// away, the reader ends and the responder's task is cancelled, so upstream work stops too.
/// A graceful shutdown stops accepting, closes idle connections, lets requests in flight finish
/// (up to `shutdownTimeout`), then returns from `run()`.
public final class HTTPServer: Service, Sendable {
    public let configuration: HTTPServerConfiguration
    private let responder: any HTTPResponder
    private let logger: Logger
    private let group: any EventLoopGroup
    private let state = Mutex(State())
    private let boundAddress = Mutex<SocketAddress?>(nil)
    private let counters = ConnectionCounters()

    struct Connection {
        var channel: any Channel
        var busy: Bool
        /// Requests answered so far: a fresh connection's request may still be on its way.
        var served = 0
    }

    struct State {
        var serverChannel: (any Channel)?
        var draining = false
        var connections: [UInt64: Connection] = [:]
        var nextID: UInt64 = 0
        var inFlight = 0
        var forceClose: Scheduled<Void>?
    }

    public init(
        configuration: HTTPServerConfiguration,
        responder: any HTTPResponder,
        logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
        self.group = eventLoopGroup
    }

    /// The address the server is bound to, once `run()` has bound it.
    public var localAddress: SocketAddress? { boundAddress.withLock { $0 } }
    /// Requests currently being answered.
    public var requestsInFlight: Int { state.withLock { $0.inFlight } }
    public var isDraining: Bool { state.withLock { $0.draining } }
    /// Connections open now (accepted and not yet closed).
    public var openConnections: Int { counters.open.load(ordering: .relaxed) }
    /// Connections closed at once because `limits.maxConnections` were open.
    public var shedConnections: Int { counters.shed.load(ordering: .relaxed) }

    public func run() async throws {
        try await run(onBound: { _ in })
    }

    /// Binds, calls `onBound` with the bound address, and serves until a graceful shutdown
    /// (`beginShutdown()` or the service group's) has drained every connection.
    public func run(onBound: @Sendable (SocketAddress?) -> Void) async throws {
        let serverChannel = try await bind()
        let address = serverChannel.channel.localAddress
        boundAddress.withLock { $0 = address }
        let shutdownEarly = state.withLock { s -> Bool in
            s.serverChannel = serverChannel.channel
            return s.draining
        }
        if shutdownEarly { serverChannel.channel.close(promise: nil) }
        onBound(address)

        try await withGracefulShutdownHandler {
            try await serverChannel.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in inbound {
                            group.addTask { await self.serve(connection) }
                        }
                    } catch {
                        self.logger.debug("accept loop ended", metadata: ["error": "\(error)"])
                    }
                    // No more accepts: whatever is still open drains in the task group.
                    self.beginShutdown()
                }
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        state.withLock { $0.forceClose?.cancel() }
    }

    /// Stops taking connections from the listening socket, which stays open: connections wait
    /// in its backlog (for another process serving the same socket, or for `resumeAccepting`).
    public func pauseAccepting() async {
        guard let server = state.withLock({ $0.serverChannel }) else { return }
        try? await server.setOption(ChannelOptions.autoRead, value: false).get()
    }

    public func resumeAccepting() async {
        guard let server = state.withLock({ $0.draining ? nil : $0.serverChannel }) else { return }
        try? await server.setOption(ChannelOptions.autoRead, value: true).get()
        server.read()
    }

    /// Stops accepting new connections, closes idle ones, and lets busy ones finish their
    /// current response (forcibly closed after `shutdownTimeout`).
    public func beginShutdown() {
        let (server, idle, first) = state.withLock { s -> ((any Channel)?, [any Channel], Bool) in
            let first = !s.draining
            s.draining = true
            // Idle keep-alive connections close now; a fresh one (taken from the backlog, its
            // request not read yet) gets its answer first, with `Connection: close`.
            let idle = s.connections.values.filter { !$0.busy && $0.served > 0 }.map(\.channel)
            return (s.serverChannel, idle, first)
        }
        guard first else { return }
        // Stop accepting first, close the listening socket a moment later: a connection NIO
        // is still setting up when its server channel closes would be dropped half-made (and
        // NIO traps on that), so let the ones already accepted reach the accept loop. With an
        // inherited socket, connections the kernel queues meanwhile wait in its backlog for a
        // replacement worker.
        if let server {
            server.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in
                server.eventLoop.scheduleTask(in: .milliseconds(100)) { server.close(promise: nil) }
            }
        }
        for channel in idle { channel.close(promise: nil) }
        let timeout = TimeAmount(configuration.shutdownTimeout)
        let scheduled = group.next().scheduleTask(in: timeout) { [self] in
            let all = state.withLock { $0.connections.values.map(\.channel) }
            if !all.isEmpty {
                logger.warning("shutdown timeout reached, closing \(all.count) connection(s)")
            }
            for channel in all { channel.close(promise: nil) }
        }
        state.withLock { $0.forceClose = scheduled }
    }


    // MARK: - Binding

    private typealias ConnectionChannel = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    private func bind() async throws -> NIOAsyncChannel<ConnectionChannel, Never> {
        // Accepting stops short of the descriptor limit (see `DescriptorHeadroom`).
        let logger = self.logger
        let limits = configuration.limits
        let counters = self.counters
        let headroom: @Sendable (any Channel) -> EventLoopFuture<Void> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(DescriptorHeadroom.Handler(logger: logger))
                try channel.pipeline.syncOperations.addHandler(
                    ConnectionCapHandler(limit: limits.maxConnections, counters: counters, logger: logger))
            }
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelInitializer(headroom)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        let responder = self.responder
        let initializer: @Sendable (any Channel) -> EventLoopFuture<ConnectionChannel> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                    withPipeliningAssistance: false,
                    withErrorHandling: true
                )
                let guardHandler = ConnectionGuardHandler(limits: limits) { head in
                    head.map { responder.errorShape(for: $0) } ?? responder.errorShape
                }
                try channel.pipeline.syncOperations.addHandler(HeadByteCounter(reportingTo: guardHandler), position: .first)
                try channel.pipeline.syncOperations.addHandler(guardHandler)
                return try ConnectionChannel(wrappingChannelSynchronously: channel)
            }
        }
        switch configuration.target {
        case .tcp(let host, let port):
            return try await bootstrap.bind(host: host, port: port, childChannelInitializer: initializer)
        case .unixSocket(let path):
            let unixBootstrap = ServerBootstrap(group: group).serverChannelInitializer(headroom)
                .serverChannelOption(.backlog, value: configuration.backlog)
            let channel = try await unixBootstrap.bind(
                unixDomainSocketPath: path,
                cleanupExistingSocketFile: true,
                childChannelInitializer: initializer
            )
            chmod(path, 0o600)
            return channel
        case .inherited(let fd):
            return try await bootstrap.bind(fd, childChannelInitializer: initializer)
        }
    }

    // MARK: - Connections

    private enum Item: Sendable {
        case request(ServerRequest, keepAlive: Bool)
        case tooLarge(HTTPRequestHead)
        /// Past `maxConcurrentRequests`.
        case overloaded(HTTPRequestHead)
    }

    private func serve(_ connection: ConnectionChannel) async {
        let channel = connection.channel
        if let filter = configuration.connectionFilter, await !filter(channel) {
            try? await connection.executeThenClose { _, _ in }
            return
        }
        // A connection accepted while draining is still served (its first response says
        // `Connection: close`): it was already taken from the backlog.
        let id: UInt64 = state.withLock { s in
            s.nextID += 1
            s.connections[s.nextID] = Connection(channel: channel, busy: false)
            return s.nextID
        }
        defer { _ = state.withLock { $0.connections.removeValue(forKey: id) } }

        do {
            try await connection.executeThenClose { inbound, outbound in
                let (stream, continuation) = AsyncStream<Item>.makeStream()
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await self.read(inbound, outbound: outbound, remote: channel.remoteAddress, connectionID: id, into: continuation)
                        continuation.finish()
                    }
                    group.addTask {
                        await self.process(stream, outbound: outbound, connectionID: id)
                    }
                    // Whichever ends first ends the connection: the reader at EOF (client gone,
                    // cancel the responder), the processor when the connection must close.
                    await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            logger.trace("connection ended", metadata: ["error": "\(error)"])
        }
    }

    private func read(
        _ inbound: NIOAsyncChannelInboundStream<HTTPServerRequestPart>,
        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        remote: SocketAddress?,
        connectionID id: UInt64,
        into continuation: AsyncStream<Item>.Continuation
    ) async {
        var assembler = RequestAssembler(maxBodySize: configuration.maxBodySize)
        // Items handed to the processor; while it has not answered them all, a response may be
        // being written, and nothing (no `100 Continue`) may be written in between.
        var yielded = 0
        var ticket: RequestAdmission.Ticket?
        do {
            for try await part in inbound {
                switch assembler.take(part) {
                case .none:
                    break
                case .tooLarge(let h):
                    ticket = nil
                    yielded += 1
                    continuation.yield(.tooLarge(h))
                case .head(let h, let expectsContinue):
                    ticket = nil
                    switch configuration.admission?.admit(h) {
                    case .refused?:
                        // Answered before the body is read: an overloaded worker takes no more memory.
                        assembler.refuse()
                        yielded += 1
                        continuation.yield(.overloaded(h))
                        continue
                    case .admitted(let t)?:
                        ticket = t
                    case .exempt?, nil:
                        break
                    }
                    if expectsContinue,
                       state.withLock({ $0.connections[id].map { !$0.busy && $0.served == yielded } ?? false })
                    {
                        // (A pipelined request behind one being answered just gets no 100: the
                        // client sends its body after its own short wait.)
                        try await outbound.write(.head(HTTPResponseHead(version: h.version, status: .continue)))
                    }
                case .request(let h, let body):
                    var request = ServerRequest(
                        method: h.method, uri: h.uri, headers: h.headers, body: body,
                        version: h.version, remoteAddress: remote
                    )
                    request.admission = ticket
                    ticket = nil
                    yielded += 1
                    continuation.yield(.request(request, keepAlive: h.isKeepAlive))
                }
            }
        } catch {
            logger.trace("read ended", metadata: ["error": "\(error)"])
        }
    }

    private func process(
        _ items: AsyncStream<Item>,
        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        connectionID id: UInt64
    ) async {
        for await item in items {
            let draining = state.withLock { s -> Bool in
                s.connections[id]?.busy = true
                s.inFlight += 1
                return s.draining
            }
            let keepGoing: Bool
            switch item {
            case .tooLarge(let head):
                let writer = ResponseWriter(outbound: outbound, requestVersion: head.version, keepAlive: false)
                try? await writer.respond(
                    HTTPError(
                        status: .payloadTooLarge,
                        message: "Request body exceeds the limit of \(configuration.maxBodySize) bytes",
                        code: "request_too_large"
                    ),
                    shape: responder.errorShape(for: head)
                )
                keepGoing = false
            case .overloaded(let head):
                let writer = ResponseWriter(outbound: outbound, requestVersion: head.version, keepAlive: false)
                try? await writer.respond(
                    HTTPError(
                        status: .serviceUnavailable,
                        message: "The server is answering its limit of \(configuration.admission?.limit ?? 0) requests at once; retry shortly",
                        code: "server_overloaded", headers: ["retry-after": "1"]
                    ),
                    shape: responder.errorShape(for: head)
                )
                keepGoing = false
            case .request(let request, let keepAlive):
                let writer = ResponseWriter(outbound: outbound, requestVersion: request.version, keepAlive: keepAlive && !draining)
                keepGoing = await answer(request, writer: writer)
            }
            let stillDraining = state.withLock { s -> Bool in
                s.connections[id]?.busy = false
                s.connections[id]?.served += 1
                s.inFlight -= 1
                return s.draining
            }
            if !keepGoing || stillDraining || Task.isCancelled { return }
        }
    }

    /// Runs the responder; returns whether the connection may serve another request.
    private func answer(_ request: ServerRequest, writer: ResponseWriter) async -> Bool {
        do {
            try await responder.respond(to: request, writer: writer)
            if !writer.headWritten {
                try await writer.respond(status: .noContent)
            } else if !writer.ended {
                try await writer.end()
            }
            return !writer.closeAfter
        } catch {
            if Task.isCancelled {
                logger.debug("request cancelled: client went away", metadata: ["path": "\(request.path)"])
                return false
            }
            if !writer.headWritten {
                logger.error("request failed", metadata: ["path": "\(request.path)", "error": "\(error)"])
                try? await writer.respond(
                    HTTPError(status: .internalServerError, message: "Internal server error", code: "internal_error"),
                    shape: responder.errorShape
                )
                return !writer.closeAfter
            }
            logger.debug("response aborted", metadata: ["path": "\(request.path)", "error": "\(error)"])
            return false
        }
    }
}

/// Open and shed connection counts of one server, shared with its channel initializer.
final class ConnectionCounters: Sendable {
    let open = Atomic<Int>(0)
    let shed = Atomic<Int>(0)
    /// When the last "shedding" warning was logged (uptime nanoseconds), to log at most one a second.
    private let lastWarning = Atomic<UInt64>(0)

    func noteShed(limit: Int, logger: Logger) {
        let total = shed.wrappingAdd(1, ordering: .relaxed).newValue
        let now = NIODeadline.now().uptimeNanoseconds
        let last = lastWarning.load(ordering: .relaxed)
        guard now &- last >= 1_000_000_000 || last == 0,
              lastWarning.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
        else { return }
        logger.warning("connection limit reached: new connections are closed at once", metadata: [
            "max_connections": "\(limit)", "shed_total": "\(total)",
        ])
    }
}

/// Enforces `maxConnections` on a server channel, in the order the kernel handed the
/// connections over: past the cap a connection is accepted and closed at once rather than left
/// in the backlog, so the client learns immediately (and can go elsewhere) and the backlog keeps
/// moving for the well-formed clients queued behind a flood.
///
/// It sits before NIO's accept handler, on the listener's event loop. (Counting in the child
/// channel initializer instead ran on each connection's own event loop, in no set order: of
/// connections accepted in one burst, a later one could take the last place and an earlier one
/// be shed.)
final class ConnectionCapHandler: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let limit: Int
    private let counters: ConnectionCounters
    private let logger: Logger

    init(limit: Int, counters: ConnectionCounters, logger: Logger) {
        self.limit = limit
        self.counters = counters
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        let counters = self.counters
        guard counters.open.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
            counters.open.wrappingSubtract(1, ordering: .relaxed)
            counters.noteShed(limit: limit, logger: logger)
            child.close(promise: nil)
            return
        }
        child.closeFuture.whenComplete { _ in counters.open.wrappingSubtract(1, ordering: .relaxed) }
        context.fireChannelRead(data)
    }
}

/// Caps the requests a server answers at once. Requests the predicate exempts (health checks,
/// metrics) are never refused and not counted.
public final class RequestAdmission: Sendable {
    public let limit: Int
    private let counts: @Sendable (HTTPRequestHead) -> Bool
    private let active = Atomic<Int>(0)
    private let refusals = Atomic<Int>(0)

    public init(limit: Int, counts: @escaping @Sendable (HTTPRequestHead) -> Bool = { _ in true }) {
        self.limit = limit
        self.counts = counts
    }

    /// Requests holding a place now.
    public var inFlight: Int { active.load(ordering: .relaxed) }
    /// Requests refused so far.
    public var refused: Int { refusals.load(ordering: .relaxed) }

    enum Decision: Sendable {
        case exempt
        case admitted(Ticket)
        case refused
    }

    func admit(_ head: HTTPRequestHead) -> Decision {
        guard counts(head) else { return .exempt }
        guard active.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
            active.wrappingSubtract(1, ordering: .relaxed)
            refusals.wrappingAdd(1, ordering: .relaxed)
            return .refused
        }
        return .admitted(Ticket(self))
    }

    /// A place under the cap, given back when the last copy of the request holding it goes.
    final class Ticket: Sendable {
        private let admission: RequestAdmission
        init(_ admission: RequestAdmission) { self.admission = admission }
        deinit { admission.active.wrappingSubtract(1, ordering: .relaxed) }
    }
}
