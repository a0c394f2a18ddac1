import AsyncHTTPClient
import Foundation
import NIOCore
import Shared

/// What a worker's control socket reports on `GET /health` (the part the supervisor uses).
struct WorkerHealth: Decodable, Sendable, Equatable {
    var status: String
    var healthyTokens: Int
    var totalTokens: Int
    var strategy: String
    var tokens: [Token]
    var pid: Int32?
    var requestsInFlight: Int?
    var draining: Bool?

    struct Token: Decodable, Sendable, Equatable {
        var name: String
        var fingerprint: String
        var state: String
        var until: Date?
        var consecutiveFailures: Int?
        var lastError: String?
        enum CodingKeys: String, CodingKey {
            case name, fingerprint, state, until
            case consecutiveFailures = "consecutive_failures"
            case lastError = "last_error"
        }
        var brief: TokenBrief { TokenBrief(name: name, fingerprint: fingerprint, state: state) }
    }

    enum CodingKeys: String, CodingKey {
        case status, strategy, tokens, pid, draining
        case healthyTokens = "healthy_tokens"
        case totalTokens = "total_tokens"
        case requestsInFlight = "requests_in_flight"
    }
}

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

    func workerHealth(socket: String, timeout: Duration) async throws -> WorkerHealth {
        let response = try await send(.GET, socket: socket, path: "/health", timeout: timeout)
        return try JSONDecoder.control().decode(WorkerHealth.self, from: Data(response.body.readableBytesView))
    }

    func drain(socket: String, timeout: Duration) async throws {
        let response = try await send(.POST, socket: socket, path: "/drain", timeout: timeout)
        guard response.status < 300 else { throw DrainRefused() }
    }

    struct DrainRefused: Error {}

    /// `POST /pause` or `/resume`: whether the worker takes connections from the shared listener.
    func setAccepting(_ accepting: Bool, socket: String, timeout: Duration) async throws {
        let response = try await send(.POST, socket: socket, path: accepting ? "/resume" : "/pause", timeout: timeout)
        guard response.status < 300 else { throw DrainRefused() }
    }
}

import NIOHTTP1
