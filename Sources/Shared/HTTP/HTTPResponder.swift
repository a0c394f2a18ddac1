import NIOCore
import NIOHTTP1

/// Answers requests. The responder's task is cancelled when the client goes away.
public protocol HTTPResponder: Sendable {
    func respond(to request: ServerRequest, writer: ResponseWriter) async throws
    /// How errors answered on this responder's behalf are worded: by the server (413 body too
    /// large, 500 when `respond` throws) and by a `Router` (404, 405). Each API has its own.
    var errorShape: ErrorShape { get }
    /// The shape for errors the server answers for one request before it reaches the responder
    /// (413, 408, 503 when overloaded): an API may word errors differently per path.
    func errorShape(for head: HTTPRequestHead) -> ErrorShape
}

extension HTTPResponder {
    public func errorShape(for head: HTTPRequestHead) -> ErrorShape { errorShape }
}

/// An error answered to the client: status, a message for people, a short machine code.
public struct HTTPError: Error, Sendable {
    public var status: HTTPResponseStatus
    public var message: String
    public var code: String
    public var headers: HTTPHeaders

    public init(status: HTTPResponseStatus, message: String, code: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers
    }
}

/// Renders an `HTTPError` as a JSON body in one API's own shape.
public struct ErrorShape: Sendable {
    private let render: @Sendable (HTTPError) -> String

    public init(_ render: @escaping @Sendable (HTTPError) -> String) {
        self.render = render
    }

    public func json(_ error: HTTPError) -> String { render(error) }
}

extension ResponseWriter {
    /// Answers `error` in `shape`.
    public func respond(_ error: HTTPError, shape: ErrorShape) async throws {
        try await respond(status: error.status, json: shape.json(error), headers: error.headers)
    }
}
