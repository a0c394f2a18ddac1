import NIOCore
import NIOHTTP1

/// Answers requests. The responder's task is cancelled when the client goes away.
public protocol HTTPResponder: Sendable {
    func respond(to request: ServerRequest, writer: ResponseWriter) async throws
}

/// A responder made of a closure.
public struct ClosureResponder: HTTPResponder {
    private let body: @Sendable (ServerRequest, ResponseWriter) async throws -> Void

    public init(_ body: @escaping @Sendable (ServerRequest, ResponseWriter) async throws -> Void) {
        self.body = body
    }

    public func respond(to request: ServerRequest, writer: ResponseWriter) async throws {
        try await body(request, writer)
    }
}
