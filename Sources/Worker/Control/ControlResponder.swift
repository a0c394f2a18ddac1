import Foundation
import NIOHTTP1
import Shared

/// The worker's control socket (HTTP over a Unix socket, mode 0600), used by the supervisor:
/// `GET /health`, `GET /stats`, `POST /drain`, `POST /pause` and `POST /resume` (accepting).
struct ControlResponder: HTTPResponder {
    let runtime: WorkerRuntime
    /// Requests currently answered by the public server.
    let inFlight: @Sendable () -> Int
    let isDraining: @Sendable () -> Bool
    let drain: @Sendable () -> Void
    let pause: @Sendable () async -> Void
    let resume: @Sendable () async -> Void
    let listen: @Sendable () -> String

    func respond(to request: ServerRequest, writer: ResponseWriter) async throws {
        switch (request.method, request.path) {
        case (.GET, "/health"):
            var health = runtime.health()
            health.pid = getpid()
            health.uptimeS = (Date().timeIntervalSince(runtime.startedAt) * 10).rounded() / 10
            health.version = BuildInfo.version
            health.requestsInFlight = inFlight()
            health.listen = listen()
            health.draining = isDraining()
            try await writer.respond(status: .ok, json: String(decoding: try JSONEncoder.reports().encode(health), as: UTF8.self))
        case (.GET, "/stats"):
            try await writer.respond(status: .ok, json: String(decoding: try JSONEncoder.reports().encode(runtime.stats()), as: UTF8.self))
        case (.POST, "/drain"):
            try await writer.respond(status: .accepted, json: #"{"status":"draining"}"#)
            drain()
        case (.POST, "/pause"):
            // A replacement is about to start on the same listener: stop taking connections so
            // only one process accepts at a time (they wait in the kernel's backlog meanwhile).
            await pause()
            try await writer.respond(status: .ok, json: #"{"status":"paused"}"#)
        case (.POST, "/resume"):
            await resume()
            try await writer.respond(status: .ok, json: #"{"status":"accepting"}"#)
        case (_, "/health"), (_, "/stats"):
            try await writer.respond(APIError.methodNotAllowed(request.method, request.path, allowed: [.GET]))
        case (_, "/drain"), (_, "/pause"), (_, "/resume"):
            try await writer.respond(APIError.methodNotAllowed(request.method, request.path, allowed: [.POST]))
        default:
            try await writer.respond(APIError.notFound(request.path))
        }
    }
}
