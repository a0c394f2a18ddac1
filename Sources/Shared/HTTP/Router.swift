import NIOHTTP1

/// Routes requests by method and path to handlers; answers 404 for an unknown path and 405
/// (with `Allow`) for a known path and another method, in its `errorShape`.
///
///     var router = Router(errorShape: someShape)
///     router.on(.GET, "/health") { request, writer in … }
///     router.on(.POST, "/tenants/:name/:action") { request, writer in request["name"] … }
///
/// A `:name` segment matches any one segment and is passed to the handler.
public struct Router: HTTPResponder {
    public typealias Handler = @Sendable (RoutedRequest, ResponseWriter) async throws -> Void

    public let errorShape: ErrorShape
    private var routes: [Route] = []

    private struct Route: Sendable {
        var methods: [HTTPMethod]
        var segments: [Substring]
        var handler: Handler

        func match(_ path: [Substring]) -> [String: String]? {
            guard path.count == segments.count else { return nil }
            var parameters: [String: String] = [:]
            for (pattern, actual) in zip(segments, path) {
                if pattern.first == ":" {
                    parameters[String(pattern.dropFirst())] = String(actual)
                } else if pattern != actual {
                    return nil
                }
            }
            return parameters
        }
    }

    public init(errorShape: ErrorShape) {
        self.errorShape = errorShape
    }

    public mutating func on(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping Handler) {
        on([method], pattern, handler)
    }

    public mutating func on(_ methods: [HTTPMethod], _ pattern: String, _ handler: @escaping Handler) {
        routes.append(Route(methods: methods, segments: Self.segments(pattern), handler: handler))
    }

    public func respond(to request: ServerRequest, writer: ResponseWriter) async throws {
        let path = Self.segments(request.path)
        var allowed: [HTTPMethod] = []
        for route in routes {
            guard let parameters = route.match(path) else { continue }
            if route.methods.contains(request.method) {
                return try await route.handler(RoutedRequest(request: request, parameters: parameters), writer)
            }
            allowed += route.methods.filter { !allowed.contains($0) }
        }
        if allowed.isEmpty {
            try await writer.respond(
                HTTPError(status: .notFound, message: "Unknown route: \(request.path)", code: "not_found"), shape: errorShape
            )
        } else {
            try await writer.respond(
                HTTPError(
                    status: .methodNotAllowed, message: "Method \(request.method.rawValue) is not allowed on \(request.path)",
                    code: "method_not_allowed", headers: ["allow": allowed.map(\.rawValue).joined(separator: ", ")]
                ),
                shape: errorShape
            )
        }
    }

    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/")
    }
}

/// A request with the values of its route's `:name` segments.
public struct RoutedRequest: Sendable {
    public var request: ServerRequest
    public var parameters: [String: String]

    public subscript(parameter: String) -> String? { parameters[parameter] }
}
