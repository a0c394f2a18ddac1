import Logging
import NIOCore
import NIOHTTP1
import Shared
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor answering one tenant's listener itself while no worker serves it: an
/// `HTTPServer` on a duplicate of the listening socket that answers every request with 503,
/// `Retry-After` and `Connection: close`, in the caller's API shape. `accept` and `pause` are
/// applied in the order they were asked (one task runs them), so a hand-over to a worker
/// happens only after the supervisor stopped accepting.
final class BacklogAnswerer: Sendable {
    let listener: ListenerID
    private let server: HTTPServer
    private let responder: BacklogResponder
    private let commands: AsyncStream<Command>.Continuation
    private let commandStream: AsyncStream<Command>

    enum Command: Sendable {
        case accept
        /// Stop accepting, then run `then` (the hand-over to a worker).
        case pause(then: @Sendable () async -> Void)
    }

    struct DupFailed: Error, CustomStringConvertible {
        var description: String
    }

    /// `fd` is the supervisor's listening socket; the server gets its own duplicate
    /// (close-on-exec, so workers do not inherit it), which it closes when it stops.
    private let fd: CInt
    private let backlog: Int32

    init(
        listener: ListenerID, fd: CInt, backlog: Int32, notice: BacklogNotice, maxBodySize: Int, limits: ConnectionLimits,
        logger: Logger
    ) throws {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard copy >= 0 else { throw DupFailed(description: "dup of the listener: \(String(cString: strerror(errno)))") }
        self.listener = listener
        self.fd = copy
        self.backlog = backlog
        responder = BacklogResponder(notice: notice)
        server = HTTPServer(
            configuration: .init(
                target: .inherited(fd: copy), maxBodySize: maxBodySize, shutdownTimeout: .seconds(2), backlog: backlog,
                limits: limits
            ),
            responder: responder,
            logger: logger
        )
        (commandStream, commands) = AsyncStream<Command>.makeStream()
    }

    /// Serves until `close()`: the server accepts as soon as it is bound, then the commands
    /// are applied in order.
    func run() async {
        let (bound, boundSignal) = AsyncStream<Void>.makeStream()
        await withDiscardingTaskGroup { group in
            group.addTask {
                do {
                    try await self.server.run { _ in
                        // NIO re-listens an inherited socket with a backlog of 128: give it back
                        // the listener's own (the connections waiting for a worker queue there).
                        _ = listen(self.fd, self.backlog)
                        boundSignal.finish()
                    }
                } catch {
                    boundSignal.finish()
                }
                self.commands.finish()
            }
            group.addTask {
                for await _ in bound {}
                for await command in self.commandStream {
                    switch command {
                    case .accept:
                        await self.server.resumeAccepting()
                    case .pause(let then):
                        await self.server.pauseAccepting()
                        await then()
                    }
                }
            }
        }
    }

    func update(_ new: BacklogNotice) {
        responder.notice.withLock { $0 = new }
    }

    func accept() {
        commands.yield(.accept)
    }

    func pause(then: @escaping @Sendable () async -> Void) {
        commands.yield(.pause(then: then))
    }

    /// Stops accepting, finishes the answers in flight, closes its copy of the socket.
    func close() {
        server.beginShutdown()
    }
}

/// 503 with `Retry-After` for every request; Anthropic's error object on `/v1/messages*`,
/// OpenAI's elsewhere.
final class BacklogResponder: HTTPResponder {
    let notice: Mutex<BacklogNotice>
    private let clock = ContinuousClock()

    init(notice: BacklogNotice) {
        self.notice = Mutex(notice)
    }

    var errorShape: ErrorShape { .openAI }

    func errorShape(for head: HTTPRequestHead) -> ErrorShape { Self.shape(forPath: head.uri) }

    private static func shape(forPath path: String) -> ErrorShape {
        APIErrorBody.isAnthropicPath(path) ? .anthropic : .openAI
    }

    func respond(to request: ServerRequest, writer: ResponseWriter) async throws {
        let now = clock.now
        let current = notice.withLock { $0 }
        let seconds = current.retryAfterSeconds(now: now)
        let error = HTTPError(
            status: .serviceUnavailable, message: current.message(now: now), code: "worker_unavailable",
            headers: ["retry-after": String(seconds)]
        )
        writer.closeConnectionAfterResponse()
        try await writer.respond(error, shape: Self.shape(forPath: request.path))
    }
}
