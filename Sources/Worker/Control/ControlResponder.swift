import Foundation
import NIOHTTP1
import Shared

/// The worker's control socket (HTTP over a Unix socket, mode 0600), used by the supervisor:
/// `GET /health`, `GET /stats`, `POST /drain`.
struct ControlResponder: HTTPResponder {
    let runtime: WorkerRuntime
    /// Requests currently answered by the public server.
    let inFlight: @Sendable () -> Int
    let isDraining: @Sendable () -> Bool
    let drain: @Sendable () -> Void
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
        case (_, "/health"), (_, "/stats"), (_, "/drain"):
            try await writer.respond(APIError.methodNotAllowed(request.method, request.path, allowed: request.path == "/drain" ? [.POST] : [.GET]))
        default:
            try await writer.respond(APIError.notFound(request.path))
        }
    }
}
