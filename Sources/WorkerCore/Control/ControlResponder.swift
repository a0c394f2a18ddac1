import Foundation
import NIOCore
import NIOHTTP1
import Shared

/// The worker's control socket (HTTP over a Unix socket, mode 0600), used by the supervisor:
/// `GET /health`, `GET /stats`, `GET /usage?by=key&since=SECONDS`, `POST /drain`, `POST /pause` and `POST /resume` (accepting).
struct ControlResponder: HTTPResponder {
    private let router: Router

    init(
        runtime: WorkerRuntime,
        /// Requests currently answered by the public server.
        inFlight: @escaping @Sendable () -> Int,
        isDraining: @escaping @Sendable () -> Bool,
        drain: @escaping @Sendable () -> Void,
        pause: @escaping @Sendable () async -> Void,
        resume: @escaping @Sendable () async -> Void,
        listen: @escaping @Sendable () -> String
    ) {
        var router = Router(errorShape: .openAI)
        router.on(.GET, "/health") { _, writer in
            var health = runtime.health()
            health.pid = getpid()
            health.uptimeS = (Date().timeIntervalSince(runtime.startedAt) * 10).rounded() / 10
            health.version = BuildInfo.version
            health.requestsInFlight = inFlight()
            health.listen = listen()
            health.draining = isDraining()
            (health.requestsTotal, health.errorsTotal) = runtime.metrics.totals
            try await writer.respond(status: .ok, json: Self.json(health))
        }
        router.on(.GET, "/metrics") { _, writer in
            try await writer.respond(status: .ok, headers: WorkerMetrics.contentType, body: ByteBuffer(string: runtime.metricsText()))
        }
        router.on(.GET, "/stats") { _, writer in
            try await writer.respond(status: .ok, json: Self.json(runtime.stats()))
        }
        router.on(.GET, "/usage") { routed, writer in
            try await UsageEndpoint.respond(routed.request, usage: runtime.usage, writer: writer)
        }
        router.on(.POST, "/drain") { _, writer in
            try await writer.respond(status: .accepted, json: #"{"status":"draining"}"#)
            drain()
        }
        router.on(.POST, "/pause") { _, writer in
            // A replacement is about to start on the same listener: stop taking connections so
            // only one process accepts at a time (they wait in the kernel's backlog meanwhile).
            await pause()
            try await writer.respond(status: .ok, json: #"{"status":"paused"}"#)
        }
        router.on(.POST, "/resume") { _, writer in
            await resume()
            try await writer.respond(status: .ok, json: #"{"status":"accepting"}"#)
        }
        self.router = router
    }

    var errorShape: ErrorShape { router.errorShape }

    private static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONEncoder.reports().encode(value), as: UTF8.self)
    }

    func respond(to request: ServerRequest, writer: ResponseWriter) async throws {
        try await router.respond(to: request, writer: writer)
    }
}
