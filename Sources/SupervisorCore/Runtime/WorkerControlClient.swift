import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Shared

/// HTTP over a Unix socket, to workers' control sockets and (from `ctl`) to the supervisor's.
struct UnixHTTPClient: Sendable {
    let http: HTTPClient

    static func url(socket: String, path: String) -> String {
        let encoded = socket.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socket
        return "http+unix://\(encoded)\(path)"
    }

    struct Response: Sendable {
        var status: Int
        var body: ByteBuffer
    }

    func send(_ method: HTTPMethod, socket: String, path: String, body: String? = nil, timeout: Duration) async throws -> Response {
        var request = HTTPClientRequest(url: Self.url(socket: socket, path: path))
        request.method = method
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await http.execute(request, timeout: TimeAmount(timeout))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Response(status: Int(response.status.code), body: bytes)
    }

    /// The worker's health document (the same type the worker encodes).
    func workerHealth(socket: String, timeout: Duration) async throws -> WorkerHealth {
        let response = try await send(.GET, socket: socket, path: "/health", timeout: timeout)
        return try JSONDecoder.control().decode(WorkerHealth.self, from: Data(response.body.readableBytesView))
    }

    /// The worker's metrics, Prometheus text format.
    func workerMetrics(socket: String, timeout: Duration) async throws -> String {
        let response = try await send(.GET, socket: socket, path: "/metrics", timeout: timeout)
        guard response.status == 200 else { throw Refused() }
        return String(buffer: response.body)
    }

    func drain(socket: String, timeout: Duration) async throws {
        let response = try await send(.POST, socket: socket, path: "/drain", timeout: timeout)
        guard response.status < 300 else { throw Refused() }
    }

    struct Refused: Error {}

    /// `POST /pause` or `/resume`: whether the worker takes connections from the shared listener.
    func setAccepting(_ accepting: Bool, socket: String, timeout: Duration) async throws {
        let response = try await send(.POST, socket: socket, path: accepting ? "/resume" : "/pause", timeout: timeout)
        guard response.status < 300 else { throw Refused() }
    }
}

