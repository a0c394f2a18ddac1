import Foundation
import NIOCore
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

/// `supervisor.listen`: the unified `GET /health` (200 for ok and degraded, 503 for down), the
/// fleet's `GET /metrics` (behind `metrics_key` when set) and the status page `GET /`.
func healthRoutes(_ fleet: FleetRuntime, metricsKey: String? = nil) -> Router {
    var router = Router(errorShape: .control)
    router.on([.GET, .HEAD], "/health") { _, writer in
        try await writer.respond(health: await fleet.health())
    }
    router.on(.GET, "/metrics") { routed, writer in
        if let metricsKey, !MetricsKey.matches(routed.request.headers, key: metricsKey) {
            let error = HTTPError(
                status: .unauthorized, message: "GET /metrics needs the supervisor's metrics_key (Authorization: Bearer KEY)",
                code: "unauthorized", headers: ["www-authenticate": "Bearer"]
            )
            return try await writer.respond(error, shape: .control)
        }
        try await writer.respond(metrics: await fleet.metricsText())
    }
    router.on([.GET, .HEAD], "/") { _, writer in
        try await writer.respond(
            status: .ok,
            headers: ["content-type": "text/html; charset=utf-8", "cache-control": "no-store"],
            body: ByteBuffer(string: StatusPage.html)
        )
    }
    return router
}

extension ResponseWriter {
    fileprivate func respond(metrics text: String) async throws {
        try await respond(
            status: .ok, headers: ["content-type": "text/plain; version=0.0.4; charset=utf-8"], body: ByteBuffer(string: text)
        )
    }
}

/// The `metrics_key` check: `Authorization: Bearer KEY` compared in constant time.
enum MetricsKey {
    static func matches(_ headers: HTTPHeaders, key: String) -> Bool {
        guard let auth = headers.first(name: "authorization") else { return false }
        let trimmed = auth.trimmingCharacters(in: .whitespaces)
        let presented = trimmed.lowercased().hasPrefix("bearer ") ? String(trimmed.dropFirst(7)).trimmingCharacters(in: .whitespaces) : trimmed
        let a = Array(presented.utf8), b = Array(key.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}

/// `supervisor.control_socket`: the ctl API, HTTP + JSON over a Unix socket (mode 0600, peers of
/// another uid refused).
///
///     GET  /status                            FleetStatus
///     GET  /health                            FleetHealth
///     POST /reload                            ReloadReport (400 when the file is invalid)
///     POST /tenants/NAME/start|stop|restart   ControlReply (NAME `*` = every tenant)
///     GET  /tenants/NAME/logs?lines=N         LogTail
///     GET  /events?n=N&tenant=NAME            [HistoryEntry], oldest first
///     GET  /events?follow=1&n=N&tenant=NAME   the same, then each new one: one JSON object a line, streamed
///     GET  /metrics                           the fleet's metrics (as on `supervisor.listen`)
///     GET  /usage?tenant=NAME&by=key&since=S  UsageReport: every serving worker's ledger, grouped
func controlRoutes(_ fleet: FleetRuntime) -> Router {
    var router = Router(errorShape: .control)
    router.on(.GET, "/metrics") { _, writer in
        try await writer.respond(metrics: await fleet.metricsText())
    }
    router.on(.GET, "/events") { request, writer in
        let query = request.request.query
        let limit = query["n"].flatMap(Int.init).map { max(0, $0) } ?? 50
        let tenant = query["tenant"].flatMap { $0.isEmpty ? nil : $0 }
        let follow = ["1", "true", "yes"].contains(query["follow"] ?? "")
        guard follow else {
            return try await writer.respond(status: .ok, json: encodeJSON(await fleet.events(limit, tenant: tenant)))
        }
        let stream = await fleet.follow(limit, tenant: tenant)
        try await writer.writeHead(status: .ok, headers: ["content-type": "application/x-ndjson", "cache-control": "no-store"])
        for await entry in stream {
            try await writer.write(encodeJSON(entry) + "\n")
        }
        try await writer.end()
    }
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
    router.on(.GET, "/usage") { request, writer in
        let query = request.request.query
        let tenant = query["tenant"].flatMap { $0.isEmpty ? nil : $0 }
        guard let sockets = await fleet.usageSockets(tenant) else {
            let error = HTTPError(status: .notFound, message: "no tenant named '\(escapingControlCharacters(tenant ?? ""))'", code: "not_found")
            return try await writer.respond(error, shape: .control)
        }
        var forward: [String] = []
        for name in ["by", "since"] {
            if let value = query[name] { forward.append(name + "=" + (value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")) }
        }
        try await writer.respond(status: .ok, json: encodeJSON(await fleet.usage(sockets, query: forward.joined(separator: "&"))))
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
