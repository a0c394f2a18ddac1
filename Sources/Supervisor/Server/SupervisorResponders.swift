import Foundation
import NIOHTTP1
import Shared

private func json<T: Encodable>(_ value: T) throws -> String {
    String(decoding: try JSONEncoder.control().encode(value), as: UTF8.self)
}

private func error(_ status: HTTPResponseStatus, _ message: String) -> (HTTPResponseStatus, String) {
    (status, ErrorBody.json(message: message, type: "invalid_request_error", code: String(status.code)))
}

/// `supervisor.listen`: the unified `GET /health` (200 for ok and degraded, 503 for down).
struct HealthResponder: HTTPResponder {
    let fleet: FleetSupervisor

    func respond(to request: ServerRequest, writer: ResponseWriter) async throws {
        switch (request.method, request.path) {
        case (.GET, "/health"), (.HEAD, "/health"):
            let health = await fleet.health()
            try await writer.respond(status: health.status == "down" ? .serviceUnavailable : .ok, json: json(health))
        case (_, "/health"):
            let (status, body) = error(.methodNotAllowed, "use GET /health")
            try await writer.respond(status: status, json: body, headers: ["allow": "GET"])
        default:
            let (status, body) = error(.notFound, "unknown route \(request.path); try GET /health")
            try await writer.respond(status: status, json: body)
        }
    }
}

/// `supervisor.control_socket`: the ctl API, HTTP + JSON over a Unix socket (mode 0600, peers of
/// another uid refused).
///
///     GET  /status                       FleetStatus
///     GET  /health                       FleetHealth
///     POST /reload                       ReloadReport (400 when the file is invalid)
///     POST /tenants/NAME/start|stop|restart   ControlReply (NAME `*` = every tenant)
///     GET  /tenants/NAME/logs?lines=N    LogTail
struct ControlResponder: HTTPResponder {
    let fleet: FleetSupervisor

    func respond(to request: ServerRequest, writer: ResponseWriter) async throws {
        let parts = request.path.split(separator: "/").map(String.init)
        switch (request.method, parts.count, parts.first) {
        case (.GET, 1, "status"):
            let status = FleetStatus(
                supervisorPid: getpid(),
                uptimeS: (Date().timeIntervalSince(fleet.startedAt) * 10).rounded() / 10,
                config: await fleet.config.path,
                tenants: await fleet.tenantHealth()
            )
            try await writer.respond(status: .ok, json: json(status))
        case (.GET, 1, "health"):
            let health = await fleet.health()
            try await writer.respond(status: health.status == "down" ? .serviceUnavailable : .ok, json: json(health))
        case (.POST, 1, "reload"):
            let report = await fleet.reload()
            try await writer.respond(status: report.ok ? .ok : .badRequest, json: json(report))
        case (.POST, 3, "tenants") where ["start", "stop", "restart"].contains(parts[2]):
            let names = parts[1] == "*" ? await fleet.tenantNames : [parts[1]]
            var replies: [ControlReply] = []
            for name in names {
                switch parts[2] {
                case "start": replies.append(await fleet.startTenant(name))
                case "stop": replies.append(await fleet.stopTenant(name))
                default: replies.append(await fleet.restartTenant(name))
                }
            }
            let reply = ControlReply(ok: replies.allSatisfy(\.ok), message: replies.map(\.message).joined(separator: "\n"))
            let status: HTTPResponseStatus = reply.ok ? .ok : (names.count == 1 ? .notFound : .badRequest)
            try await writer.respond(status: status, json: json(reply))
        case (.GET, 3, "tenants") where parts[2] == "logs":
            let lines = request.query["lines"].flatMap(Int.init) ?? 50
            guard let tail = await fleet.logs(parts[1], lines: lines) else {
                let (status, body) = error(.notFound, "no tenant named '\(parts[1])'")
                try await writer.respond(status: status, json: body)
                return
            }
            try await writer.respond(status: .ok, json: json(tail))
        default:
            let (status, body) = error(.notFound, "unknown control request \(request.method.rawValue) \(request.path)")
            try await writer.respond(status: status, json: body)
        }
    }
}
