import Foundation
import NIOHTTP1
import Shared

extension ErrorShape {
    /// The supervisor's errors are `ControlReply`s (`{"ok": false, "message": …}`), what `ctl` reads.
    static let control = ErrorShape { error in
        (try? encodeJSON(ControlReply(ok: false, message: error.message))) ?? #"{"ok":false}"#
    }
}

private func encodeJSON<T: Encodable>(_ value: T) throws -> String {
    String(decoding: try JSONEncoder.control().encode(value), as: UTF8.self)
}

extension ResponseWriter {
    fileprivate func respond(health: FleetHealth) async throws {
        try await respond(status: health.status == .down ? .serviceUnavailable : .ok, json: encodeJSON(health))
    }
}

/// `supervisor.listen`: the unified `GET /health` (200 for ok and degraded, 503 for down).
func healthRoutes(_ fleet: FleetRuntime) -> Router {
    var router = Router(errorShape: .control)
    router.on([.GET, .HEAD], "/health") { _, writer in
        try await writer.respond(health: await fleet.health())
    }
    return router
}

/// `supervisor.control_socket`: the ctl API, HTTP + JSON over a Unix socket (mode 0600, peers of
/// another uid refused).
///
///     GET  /status                            FleetStatus
///     GET  /health                            FleetHealth
///     POST /reload                            ReloadReport (400 when the file is invalid)
///     POST /tenants/NAME/start|stop|restart   ControlReply (NAME `*` = every tenant)
///     GET  /tenants/NAME/logs?lines=N         LogTail
func controlRoutes(_ fleet: FleetRuntime) -> Router {
    var router = Router(errorShape: .control)
    router.on(.GET, "/status") { _, writer in
        try await writer.respond(status: .ok, json: encodeJSON(await fleet.status()))
    }
    router.on(.GET, "/health") { _, writer in
        try await writer.respond(health: await fleet.health())
    }
    router.on(.POST, "/reload") { _, writer in
        let report = await fleet.reload()
        try await writer.respond(status: report.ok ? .ok : .badRequest, json: encodeJSON(report))
    }
    router.on(.POST, "/tenants/:name/:command") { request, writer in
        guard let command = request["command"].flatMap(TenantCommand.init(rawValue:)) else {
            let known = TenantCommand.allCases.map(\.rawValue).joined(separator: ", ")
            let error = HTTPError(status: .notFound, message: "unknown tenant command; use one of \(known)", code: "not_found")
            return try await writer.respond(error, shape: .control)
        }
        let name = request["name"] ?? ""
        let names = name == "*" ? await fleet.tenantNames : [name]
        var replies: [ControlReply] = []
        for name in names { replies.append(await fleet.run(command, tenant: name)) }
        let reply = ControlReply(ok: replies.allSatisfy(\.ok), message: replies.map(\.message).joined(separator: "\n"))
        let status: HTTPResponseStatus = reply.ok ? .ok : (names.count == 1 ? .notFound : .badRequest)
        try await writer.respond(status: status, json: encodeJSON(reply))
    }
    router.on(.GET, "/tenants/:name/logs") { request, writer in
        let name = request["name"] ?? ""
        guard let tail = await fleet.logs(name, lines: request.request.query["lines"].flatMap(Int.init) ?? 50) else {
            let error = HTTPError(status: .notFound, message: "no tenant named '\(escapingControlCharacters(name))'", code: "not_found")
            return try await writer.respond(error, shape: .control)
        }
        try await writer.respond(status: .ok, json: encodeJSON(tail))
    }
    return router
}
