import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import Shared

/// The one router every responder uses: method and path matching, `:name` segments, and the
/// 404 / 405 (with `Allow`) it answers in the responder's own error shape.
@Suite struct RouterTests {
    static let shape = ErrorShape { #"{"code":"\#($0.code)"}"# }

    /// Answers `method path` and returns the status, the `allow` header and the body written.
    func answer(_ router: Router, _ method: HTTPMethod, _ path: String) async throws -> (UInt, String?, String) {
        let (outbound, sink) = NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>.makeTestingWriter()
        let writer = ResponseWriter(outbound: outbound, requestVersion: .http1_1, keepAlive: true)
        try await router.respond(to: ServerRequest(method: method, uri: path), writer: writer)
        var status: UInt = 0
        var allow: String?
        var body = ""
        for await part in sink {
            switch part {
            case .head(let head):
                status = head.status.code
                allow = head.headers.first(name: "allow")
            case .body(.byteBuffer(let buffer)):
                body += String(buffer: buffer)
            case .body:
                break
            case .end:
                return (status, allow, body)
            }
        }
        return (status, allow, body)
    }

    final class Seen: Sendable {
        private let names = Mutex<[String]>([])
        func add(_ name: String) { names.withLock { $0.append(name) } }
        var all: [String] { names.withLock { $0 } }
    }

    func router(_ seen: Seen) -> Router {
        var router = Router(errorShape: Self.shape)
        router.on(.GET, "/health") { _, writer in
            seen.add("health")
            try await writer.respond(status: .ok, json: "{}")
        }
        router.on([.POST, .PUT], "/tenants/:name/:action") { routed, writer in
            seen.add("\(routed["name"] ?? "?") \(routed["action"] ?? "?")")
            try await writer.respond(status: .ok, json: "{}")
        }
        return router
    }

    @Test func routesByMethodAndPathWithParameters() async throws {
        let seen = Seen()
        let router = router(seen)
        #expect(try await answer(router, .GET, "/health").0 == 200)
        #expect(try await answer(router, .GET, "/health/").0 == 200, "a trailing slash is the same path")
        #expect(try await answer(router, .POST, "/tenants/team-a/restart").0 == 200)
        #expect(try await answer(router, .PUT, "/tenants/b/stop?x=1").0 == 200, "the query is not part of the path")
        #expect(seen.all == ["health", "health", "team-a restart", "b stop"])
    }

    @Test func unknownPathsAre404AndOtherMethods405WithAllow() async throws {
        let router = router(Seen())
        let missing = try await answer(router, .GET, "/nope")
        #expect(missing.0 == 404 && missing.2 == #"{"code":"not_found"}"#)
        let tooDeep = try await answer(router, .POST, "/tenants/a/restart/now")
        #expect(tooDeep.0 == 404)
        let wrongMethod = try await answer(router, .DELETE, "/tenants/a/stop")
        #expect(wrongMethod.0 == 405 && wrongMethod.1 == "POST, PUT" && wrongMethod.2 == #"{"code":"method_not_allowed"}"#)
    }
}
