import Logging
import NIOHTTP1
import Shared

/// Routes requests to the upstream endpoints and the admin API; anything else is 404.
struct SimulatorResponder: HTTPResponder {
    static let quotaPath = "/user/v5/quota/get"
    static let licensePath = "/auth/jetbrains-jwt/provide-access/license/v2"
    static let profilesPath = "/user/v5/llm/profiles/v3"
    static let oauthPath = "/api/rest/oauth2/token"

    let chat: ChatHandler
    let quota: QuotaHandler
    let license: LicenseHandler
    let profiles: ProfilesHandler
    let oauth: OAuthHandler
    let admin: AdminHandler
    let logger: Logger

    init(state: SimulatorState, logger: Logger) {
        chat = ChatHandler(state: state, logger: logger)
        quota = QuotaHandler(state: state, logger: logger)
        license = LicenseHandler(state: state, logger: logger)
        profiles = ProfilesHandler(state: state, logger: logger)
        oauth = OAuthHandler(state: state, logger: logger)
        admin = AdminHandler(state: state, logger: logger)
        self.logger = logger
    }

    func respond(to request: ServerRequest, writer: ResponseWriter) async throws {
        let path = request.path
        logger.debug("request", metadata: ["method": "\(request.method)", "path": "\(path)"])
        if path.hasPrefix("/_sim/") {
            return try await admin.handle(request, writer: writer)
        }
        if path == Self.profilesPath {
            guard request.method == .GET else {
                return try await writer.sendError(.methodNotAllowed, code: "method_not_allowed", message: "use GET")
            }
            return try await profiles.handle(request, writer: writer)
        }
        let route = ChatRoute(path: path)
        guard route != nil || path == Self.quotaPath || path == Self.licensePath || path == Self.oauthPath else {
            return try await writer.sendError(.notFound, code: "not_found", message: "no route \(path)")
        }
        guard request.method == .POST else {
            return try await writer.sendError(.methodNotAllowed, code: "method_not_allowed", message: "use POST")
        }
        if let route {
            try await chat.handle(request, route: route, writer: writer)
        } else if path == Self.quotaPath {
            try await quota.handle(request, writer: writer)
        } else if path == Self.oauthPath {
            try await oauth.handle(request, writer: writer)
        } else {
            try await license.handle(request, writer: writer)
        }
    }
}
