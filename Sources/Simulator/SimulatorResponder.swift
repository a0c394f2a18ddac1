import Logging
import NIOHTTP1
import Shared

/// Routes requests to the upstream endpoints and the admin API; anything else is 404.
struct SimulatorResponder: HTTPResponder {
    static let quotaPath = "/user/v5/quota/get"
    static let licensePath = "/auth/jetbrains-jwt/provide-access/license/v2"

    let chat: ChatHandler
    let quota: QuotaHandler
    let license: LicenseHandler
    let admin: AdminHandler
    let logger: Logger

    init(state: SimulatorState, logger: Logger) {
        chat = ChatHandler(state: state, logger: logger)
        quota = QuotaHandler(state: state, logger: logger)
        license = LicenseHandler(state: state, logger: logger)
        admin = AdminHandler(state: state, logger: logger)
        self.logger = logger
    }

    func respond(to request: ServerRequest, writer: ResponseWriter) async throws {
        let path = request.path
        logger.debug("request", metadata: ["method": "\(request.method)", "path": "\(path)"])
        if path.hasPrefix("/_sim/") {
            return try await admin.handle(request, writer: writer)
        }
        let version = APIVersion(chatPath: path)
        guard version != nil || path == Self.quotaPath || path == Self.licensePath else {
            return try await writer.sendError(.notFound, code: "not_found", message: "no route \(path)")
        }
        guard request.method == .POST else {
            return try await writer.sendError(.methodNotAllowed, code: "method_not_allowed", message: "use POST")
        }
        if let version {
            try await chat.handle(request, version: version, writer: writer)
        } else if path == Self.quotaPath {
            try await quota.handle(request, writer: writer)
        } else {
            try await license.handle(request, writer: writer)
        }
    }
}
