import Logging
import NIOHTTP1
import Shared

/// Routes requests to the upstream endpoints and the admin API; anything else is 404.
struct SimulatorResponder: HTTPResponder {
    static let quotaPath = "/user/v5/quota/get"
    static let licensePath = "/auth/jetbrains-jwt/provide-access/license/v2"
    static let profilesPath = "/user/v5/llm/profiles/v3"
    static let oauthPath = "/api/rest/oauth2/token"

    let admin: AdminHandler
    let logger: Logger
    private let router: Router

    /// The simulator's own error body, `{"error": code, "message": …}`, for 404/405 as well.
    var errorShape: ErrorShape { Self.simulatorErrors }

    static let simulatorErrors = ErrorShape { error in
        SimJSON.object(["error": .string(error.code), "message": .string(error.message)]).text
    }

    init(state: SimulatorState, logger: Logger) {
        let chat = ChatHandler(state: state, logger: logger)
        let quota = QuotaHandler(state: state, logger: logger)
        let license = LicenseHandler(state: state, logger: logger)
        let profiles = ProfilesHandler(state: state, logger: logger)
        let oauth = OAuthHandler(state: state, logger: logger)
        var router = Router(errorShape: Self.simulatorErrors)
        for route in [ChatRoute.chatV8, .chatV7, .responses] {
            router.on(.POST, route.rawValue) { routed, writer in try await chat.handle(routed.request, route: route, writer: writer) }
        }
        router.on(.POST, Self.quotaPath) { routed, writer in try await quota.handle(routed.request, writer: writer) }
        router.on(.POST, Self.licensePath) { routed, writer in try await license.handle(routed.request, writer: writer) }
        router.on(.POST, Self.oauthPath) { routed, writer in try await oauth.handle(routed.request, writer: writer) }
        router.on(.GET, Self.profilesPath) { routed, writer in try await profiles.handle(routed.request, writer: writer) }
        self.router = router
        admin = AdminHandler(state: state, logger: logger)
        self.logger = logger
    }

    func respond(to request: ServerRequest, writer: ResponseWriter) async throws {
        logger.debug("request", metadata: ["method": "\(request.method)", "path": "\(request.path)"])
        if request.path.hasPrefix("/_sim/") {
            return try await admin.handle(request, writer: writer)
        }
        try await router.respond(to: request, writer: writer)
    }
}
